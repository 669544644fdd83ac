// The CPython module tbfix_cuda._core: plain C API around kernel.cu.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <vector>

#include "kernel.h"

static PyObject* cuda_built_archs(PyObject*, PyObject*) {
  return PyUnicode_FromString(TBFIX_CUDA_ARCHS);
}

static PyObject* cuda_device_count(PyObject*, PyObject*) {
  int count = 0;
  const int err = tbfix_cuda_device_count(&count);
  return Py_BuildValue("(is)", count, tbfix_cuda_error_name(err));
}

static bool floats_from(PyObject* seq, std::vector<float>* out) {
  PyObject* fast = PySequence_Fast(seq, "expected a sequence of numbers");
  if (fast == nullptr) {
    return false;
  }
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  out->resize(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    const double v = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
    if (v == -1.0 && PyErr_Occurred()) {
      Py_DECREF(fast);
      return false;
    }
    (*out)[static_cast<size_t>(i)] = static_cast<float>(v);
  }
  Py_DECREF(fast);
  return true;
}

static PyObject* cuda_axpy(PyObject*, PyObject* args) {
  PyObject* xs = nullptr;
  PyObject* ys = nullptr;
  float alpha = 1.0F;
  if (!PyArg_ParseTuple(args, "OOf:axpy", &xs, &ys, &alpha)) {
    return nullptr;
  }
  std::vector<float> x;
  std::vector<float> y;
  if (!floats_from(xs, &x) || !floats_from(ys, &y)) {
    return nullptr;
  }
  if (x.size() != y.size()) {
    PyErr_SetString(PyExc_ValueError, "x and y must have the same length");
    return nullptr;
  }
  std::vector<float> out(x.size());
  const int err = tbfix_cuda_axpy(x.data(), y.data(), out.data(), static_cast<int>(x.size()), alpha);
  if (err != 0) {
    PyErr_Format(PyExc_RuntimeError, "CUDA error %d (%s)", err, tbfix_cuda_error_name(err));
    return nullptr;
  }
  PyObject* result = PyList_New(static_cast<Py_ssize_t>(out.size()));
  if (result == nullptr) {
    return nullptr;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    PyList_SET_ITEM(result, static_cast<Py_ssize_t>(i), PyFloat_FromDouble(out[i]));
  }
  return result;
}

static PyMethodDef cuda_methods[] = {
    {"built_archs", cuda_built_archs, METH_NOARGS, "CMAKE_CUDA_ARCHITECTURES, comma-separated."},
    {"device_count", cuda_device_count, METH_NOARGS,
     "(count, error name): count is 0 when there is no device or no driver."},
    {"axpy", cuda_axpy, METH_VARARGS, "axpy(x, y, alpha) -> [alpha*x[i] + y[i]] on the GPU."},
    {nullptr, nullptr, 0, nullptr},
};

static struct PyModuleDef cuda_module = {
    PyModuleDef_HEAD_INIT, "_core", "tbfix_cuda compiled core.", -1, cuda_methods,
};

PyMODINIT_FUNC PyInit__core(void) {
  PyObject* m = PyModule_Create(&cuda_module);
  if (m != nullptr && PyModule_AddIntConstant(m, "CUDART_VERSION", tbfix_cuda_runtime_version()) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
