"""What the commands print on stdout: the ``inspect`` table, build timings, safe text.

Pure functions from results to lines; the handlers write them with :func:`echo`.
A manifest is data from a file someone else may have written, so every value of it
goes through :func:`visible` before it reaches a terminal.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._core.manifest import Manifest

__all__ = ["echo", "manifest_lines", "timings_line", "visible"]


def echo(text: str, *, err: bool = False) -> None:
    """One line on stdout (results) or stderr (``err``: what a person reads)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")


def visible(value: object) -> str:
    """A manifest value for a terminal: control and bidi characters shown as escapes."""
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in ("Cc", "Cf") else char
        for char in str(value)
    )


def timings_line(timings: Mapping[str, float]) -> str:
    """``resolve 1.20s  download 15.31s  total 17.02s``: phases that took no time are left out."""
    shown = [(key, value) for key, value in timings.items() if value >= 0.005 or key == "total"]
    return "  ".join(f"{key} {value:.2f}s" for key, value in shown)


def manifest_lines(manifest: Manifest) -> list[str]:
    """What ``sparkdeps inspect`` prints: the target, then one line per wheel, then what
    the wheelhouse relies on in the runtime."""
    target = {key: visible(value) for key, value in manifest.target.items()}
    lines = [
        f"format:    {manifest.format}",
        f"target:    {target.get('profile') or '-'} CPython {target.get('python_version')} "
        f"{target.get('arch')} glibc {target.get('glibc')}",
        f"input:     {visible(manifest.input_digest)}",
        f"sparkdeps: {visible(manifest.sparkdeps_version)}",
        f"wheels:    {len(manifest.wheels)}",
    ]
    for wheel in sorted(manifest.wheels, key=lambda w: w.filename):
        names = visible(",".join(wheel.top_level) or "-")
        shadows = f"  shadows runtime {visible(wheel.shadows)}" if wheel.shadows else ""
        lines.append(
            f"  {visible(wheel.name)} {visible(wheel.version)}  "
            f"[{visible('.'.join(wheel.tags))}]  {wheel.size} B  "
            f"imports: {names}  ({visible(wheel.source or '?')}){shadows}"
        )
    return lines + _runtime_lines(manifest.runtime)


def _runtime_lines(runtime: Mapping[str, Any] | None) -> list[str]:
    """The runtime a wheelhouse was made against, and what it relies on there."""
    if not runtime:
        return []
    relied = ", ".join(f"{r['name']} {r['version']}" for r in runtime.get("relied_on", ()))
    lines = [
        f"runtime:   {visible(runtime.get('name'))} "
        f"(set {visible(str(runtime.get('digest', ''))[:12])})",
        f"relies on: {visible(relied or '-')}",
    ]
    if runtime.get("overrides"):
        lines.append(f"overrides: {visible(', '.join(runtime['overrides']))}")
    return lines
