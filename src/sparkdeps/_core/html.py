"""Small HTML tables for notebooks (Jupyter, Databricks): ``LoadResult`` and ``VerifyResult``.

Plain tables with inline styles only (no scripts, no external CSS), every value
escaped. Results call these from ``_repr_html_``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .progress import plural

if TYPE_CHECKING:
    from .results import LoadResult, VerifyResult

__all__ = ["load_html", "verify_html"]

_TABLE = 'style="border-collapse:collapse;font-size:90%;text-align:left"'
_CELL = 'style="padding:2px 8px;border-bottom:1px solid #ddd;text-align:left"'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th {_CELL}>{escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td {_CELL}>{cell}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table {_TABLE}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _name_version(filename: str) -> tuple[str, str]:
    try:
        name, version, _build, _tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return filename, "?"
    return str(name), str(version)


def _shadow_rows(shadows: Any) -> list[tuple[str, str]]:
    """Whatever the manifest says shadows the runtime: a mapping or a list of entries."""
    if isinstance(shadows, Mapping):
        return [(str(key), _text(value)) for key, value in sorted(shadows.items())]
    if isinstance(shadows, Iterable) and not isinstance(shadows, (str, bytes)):
        return [(_text(item), "") for item in shadows]
    return []


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {val}" for key, val in value.items())
    if isinstance(value, (list, tuple)):
        return " -> ".join(str(item) for item in value)
    return str(value)


def load_html(result: LoadResult, shadows: Any = None) -> str:
    """Wheels and versions, what shadows the runtime, where the driver and executors get them."""
    state = "reused from the node cache" if result.reused else "installed"
    summary = (
        f"<p><b>sparkdeps</b>: {plural(len(result.wheels), 'wheel')} {state}, "
        f"delivery <code>{escape(result.delivery)}</code> &middot; "
        f"<code>{escape(result.uri)}</code></p>"
    )
    wheels = _table(
        ["package", "version", "wheel"],
        (
            (escape(name), escape(version), f"<code>{escape(filename)}</code>")
            for filename in sorted(result.wheels)
            for name, version in [_name_version(filename)]
        ),
    )
    where = _table(
        ["who", "imports from"],
        [
            ("driver", f"<code>{escape(str(result.folder))}</code>"),
            ("executors", f"<code>{escape(result.payload or '(driver only)')}</code>"),
        ],
    )
    out = summary + wheels
    rows = _shadow_rows(shadows)
    if rows:
        out += "<p>Shadows the runtime's own packages:</p>" + _table(
            ["package", "runtime / wheelhouse"], ((escape(a), escape(b)) for a, b in rows)
        )
    return out + where


def verify_html(result: VerifyResult) -> str:
    """One row per module and executor: where it was imported from, or the error."""
    failed = sum(1 for item in result.imports if not item.ok)
    verdict = "all imported" if failed == 0 else f"{failed} failed"
    summary = (
        f"<p><b>sparkdeps verify</b>: {plural(len({i.module for i in result.imports}), 'module')}"
        f" on {plural(len(result.executors), 'executor')}: {verdict}</p>"
    )
    rows = (
        (
            escape(item.module),
            escape(item.executor),
            "ok" if item.ok else '<span style="color:#b00">failed</span>',
            f"<code>{escape(item.file or item.error or '')}</code>",
        )
        for item in result.imports
    )
    return summary + _table(["module", "executor", "", "imported from / error"], rows)
