// The CPython module tbfix_cext._core, written against the plain C API.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "tbfix_cext.hpp"
#include "weight.hpp"

static PyObject* tbfix_add(PyObject*, PyObject* args) {
  long long a = 0;
  long long b = 0;
  if (!PyArg_ParseTuple(args, "LL:add", &a, &b)) {
    return nullptr;
  }
  return PyLong_FromLongLong(tbfix_cext::add(a, b));
}

// Runs every part's busy work so the compiled code is reachable and the same weight
// always gives the same number.
static PyObject* tbfix_fingerprint(PyObject*, PyObject*) {
  unsigned long long x = tbfix_weight::burn<6>(1);
  x = tbfix_part_a(x);
  x = tbfix_part_b(x);
  x = tbfix_part_c(x);
  x = tbfix_part_d(x);
  x = tbfix_part_e(x);
  return PyLong_FromUnsignedLongLong(x);
}

static PyMethodDef tbfix_methods[] = {
    {"add", tbfix_add, METH_VARARGS, "add(a, b) -> a + b, computed by the C++ header."},
    {"fingerprint", tbfix_fingerprint, METH_NOARGS, "Result of the compiled busy work."},
    {nullptr, nullptr, 0, nullptr},
};

static struct PyModuleDef tbfix_module = {
    PyModuleDef_HEAD_INIT, "_core", "tbfix_cext compiled core.", -1, tbfix_methods,
};

PyMODINIT_FUNC PyInit__core(void) {
  PyObject* m = PyModule_Create(&tbfix_module);
  if (m != nullptr && PyModule_AddIntConstant(m, "WEIGHT", TBFIX_WEIGHT) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
