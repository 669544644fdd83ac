// The CPython module tbfix_chain._core: uses tbfix_cext's inline header function.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "built_against.h"
#include "tbfix_cext.hpp"

static PyObject* chain_twice_add(PyObject*, PyObject* args) {
  long long a = 0;
  long long b = 0;
  if (!PyArg_ParseTuple(args, "LL:twice_add", &a, &b)) {
    return nullptr;
  }
  const long long once = tbfix_cext::add(a, b);
  return PyLong_FromLongLong(tbfix_cext::add(once, once));
}

static PyMethodDef chain_methods[] = {
    {"twice_add", chain_twice_add, METH_VARARGS, "twice_add(a, b) -> 2 * (a + b)."},
    {nullptr, nullptr, 0, nullptr},
};

static struct PyModuleDef chain_module = {
    PyModuleDef_HEAD_INIT, "_core", "tbfix_chain compiled core.", -1, chain_methods,
};

PyMODINIT_FUNC PyInit__core(void) {
  PyObject* m = PyModule_Create(&chain_module);
  if (m == nullptr) {
    return nullptr;
  }
  // The version the Python side reported, the header's own version, and where it was found.
  if (PyModule_AddStringConstant(m, "BUILT_AGAINST_VERSION", TBFIX_CHAIN_BUILT_VERSION) < 0 ||
      PyModule_AddStringConstant(m, "BUILT_AGAINST_HEADER", TBFIX_CEXT_VERSION) < 0 ||
      PyModule_AddStringConstant(m, "BUILT_AGAINST_INCLUDE", TBFIX_CHAIN_BUILT_INCLUDE) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
