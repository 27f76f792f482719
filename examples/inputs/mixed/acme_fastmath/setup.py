from setuptools import Extension, setup

# The metadata lives in pyproject.toml; setup.py only declares the C extension.
setup(ext_modules=[Extension("acme_fastmath._speedups", ["src/acme_fastmath/_speedups.c"])])
