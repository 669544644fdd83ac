// One operator, tbfix::scale_add(x, y, alpha) = x * alpha + y, with a CPU kernel.
#include <Python.h>
#include <torch/library.h>
#include <ATen/ATen.h>
#include <torch/version.h>

namespace {

at::Tensor scale_add_cpu(const at::Tensor& x, const at::Tensor& y, double alpha) {
  TORCH_CHECK(x.sizes() == y.sizes(), "scale_add: x and y must have the same shape");
  return x * alpha + y;
}

}  // namespace

TORCH_LIBRARY(tbfix, m) { m.def("scale_add(Tensor x, Tensor y, float alpha) -> Tensor"); }

TORCH_LIBRARY_IMPL(tbfix, CPU, m) { m.impl("scale_add", &scale_add_cpu); }

// A Python module so `import tbfix_torchext._C` loads the library and registers the op.
static struct PyModuleDef tbfix_module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};

PyMODINIT_FUNC PyInit__C(void) {
  PyObject* m = PyModule_Create(&tbfix_module);
  // The torch headers' version, fixed at compile time: the wheel only works with that torch.
  if (m != nullptr && PyModule_AddStringConstant(m, "BUILT_WITH_TORCH", TORCH_VERSION) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
