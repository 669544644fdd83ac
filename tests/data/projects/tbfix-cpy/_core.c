#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* triangle(n) = 0 + 1 + ... + n, computed in C. */
static PyObject *triangle(PyObject *self, PyObject *args) {
    long long n, total = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "L", &n)) {
        return NULL;
    }
    for (long long i = 1; i <= n; ++i) {
        total += i;
    }
    return PyLong_FromLongLong(total);
}

/* The machine the module was compiled for, as the compiler saw it. */
static PyObject *machine(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
#if defined(__aarch64__)
    return PyUnicode_FromString("aarch64");
#elif defined(__arm__)
    return PyUnicode_FromString("arm");
#elif defined(__x86_64__)
    return PyUnicode_FromString("x86_64");
#else
    return PyUnicode_FromString("other");
#endif
}

static PyMethodDef methods[] = {
    {"triangle", triangle, METH_VARARGS, "0 + 1 + ... + n"},
    {"machine", machine, METH_NOARGS, "the machine compiled for"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_core", NULL, -1, methods};

PyMODINIT_FUNC PyInit__core(void) { return PyModule_Create(&module); }
