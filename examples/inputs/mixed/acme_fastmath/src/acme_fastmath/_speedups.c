/* A tiny C extension: proves compiled code reaches the executors. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *fib(PyObject *self, PyObject *args) {
    long n;
    if (!PyArg_ParseTuple(args, "l", &n)) return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 0");
        return NULL;
    }
    unsigned long long a = 0, b = 1;
    for (long i = 0; i < n; i++) {
        unsigned long long t = a + b;
        a = b;
        b = t;
    }
    return PyLong_FromUnsignedLongLong(a);
}

static PyObject *dot(PyObject *self, PyObject *args) {
    PyObject *xs, *ys;
    if (!PyArg_ParseTuple(args, "OO", &xs, &ys)) return NULL;
    PyObject *fx = PySequence_Fast(xs, "dot() needs sequences");
    if (fx == NULL) return NULL;
    PyObject *fy = PySequence_Fast(ys, "dot() needs sequences");
    if (fy == NULL) { Py_DECREF(fx); return NULL; }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fx);
    if (n != PySequence_Fast_GET_SIZE(fy)) {
        Py_DECREF(fx); Py_DECREF(fy);
        PyErr_SetString(PyExc_ValueError, "dot() needs sequences of the same length");
        return NULL;
    }
    double total = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double x = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fx, i));
        double y = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fy, i));
        if (PyErr_Occurred()) { Py_DECREF(fx); Py_DECREF(fy); return NULL; }
        total += x * y;
    }
    Py_DECREF(fx);
    Py_DECREF(fy);
    return PyFloat_FromDouble(total);
}

static PyMethodDef methods[] = {
    {"fib", fib, METH_VARARGS, "The n-th Fibonacci number."},
    {"dot", dot, METH_VARARGS, "The dot product of two sequences of numbers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
