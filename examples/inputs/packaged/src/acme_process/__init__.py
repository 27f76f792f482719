"""A packaged project (pyproject + setuptools) with a PyPI dependency."""

from acme_process.core import process_data

__all__ = ["process_data"]
__version__ = "1.2.0"
