"""Sphinx configuration for the sparkdeps site (why Sphinx: docs/index.md, "About this site").

Build it as CI does (warnings fail the build):

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import re
from typing import Any

import sparkdeps

project = "sparkdeps"
author = "sparkdeps developers"
copyright = "sparkdeps developers"
release = sparkdeps.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinxarg.ext",
    "sphinxcontrib.mermaid",
]

# The pages are Markdown (MyST), readable on GitHub as they are.
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# ```mermaid fences (docs/architecture.md) render as diagrams
myst_fence_as_directive = ["mermaid"]

# `x` in argparse help and docstrings is code; "--index-url" stays two hyphens
default_role = "literal"
smartquotes = False

# Every reference must resolve: a renamed function breaks the build, not the reader.
nitpicky = True
nitpick_ignore_regex = [
    # No intersphinx inventory is read (the build needs no network), so references to
    # the standard library and to packaging, pyspark and databricks-bundles stay plain text.
    ("py:class", r"(os|pathlib|collections\.abc|datetime|typing|packaging|pyspark|databricks)\..*"),
    # databricks-bundles' Job, as three_task_job's annotation names it
    ("py:class", r"Job"),
    # type aliases (Literal sets such as Format, Delivery) by their bare names: the text
    # beside them spells the values out
    ("py:class", r"[A-Z]\w*"),
    # private helper types that appear in public signatures; their fields are documented
    # where they are used
    ("py:class", r"sparkdeps\._.*"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# a long signature is written one parameter per line
python_maximum_signature_line_length = 88
autodoc_typehints_format = "short"
# a class's fields are listed with their types; its (dataclass) __init__ says it again
autodoc_class_signature = "separated"
autodoc_default_options = {"members": True, "undoc-members": True, "exclude-members": "__init__"}

# No network at build time: intersphinx reads no remote inventory.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

html_theme = "furo"
html_title = f"sparkdeps {release}"
html_static_path: list[str] = []


_PRIVATE = re.compile(r"sparkdeps\._[\w.]*\.(?P<name>\w+)")


def _public_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """A type annotated by its private home (``sparkdeps._core.target.Target``) links to
    its public name (``sparkdeps.Target``) when it has one."""
    match = _PRIVATE.fullmatch(node.get("reftarget", ""))
    if node.get("refdomain") != "py" or not match or match["name"] not in sparkdeps.__all__:
        return None
    domain = env.get_domain("py")
    target = f"sparkdeps.{match['name']}"
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
    )


def _no_generated_docstring(  # noqa: PLR0917 - the signature of Sphinx's event
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """A dataclass without a docstring gets ``Name(field: type, ...)`` from Python: the
    signature says that already."""
    if what == "class" and lines and re.match(rf"{re.escape(obj.__name__)}\(", lines[0]):
        lines[:] = []


def setup(app: Any) -> None:
    # before nitpicky mode sees the reference as missing
    app.connect("missing-reference", _public_name, priority=400)
    app.connect("autodoc-process-docstring", _no_generated_docstring)
