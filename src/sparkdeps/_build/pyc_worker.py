"""Compile a wheelhouse's modules into one zip of ``.pyc`` files; run by the target's Python.

Stdlib only, and no sparkdeps: :mod:`.bytecode` runs this file as a script with an
interpreter of the target's Python version, which may be another one than the
build's own (``python3.11 pyc_worker.py OUT WHEEL...``), with ``PYTHONHASHSEED=0``
so that the same wheels give the same bytes (the order of a frozenset constant
follows string hashes). It prints one JSON object on stdout: ``cache_tag``,
``magic`` (hex) and ``modules``.

Each ``.pyc`` is unchecked-hash (PEP 552): nodes extract it beside a source whose
timestamp is the extraction's, and the folder never changes once extracted (every
wheel is checked against its sha256 first), so the source need not be read again.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import sys
import zipfile

_UNCHECKED_HASH = (0b01).to_bytes(4, "little")
"""PEP 552 flags: hash-based, source not checked."""
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_SKIPPED_FOLDERS = frozenset({"tests", "test"})
"""A package's own test suite: about half of W1's bytecode, imported by no job; a
module without a shipped ``.pyc`` is compiled at its first import, as before."""


def _importable(member: str) -> bool:
    """A ``.py`` member that lands on the path (``.data/scripts`` and the like do not)."""
    parts = member.split("/")
    if not member.endswith(".py") or parts[0].endswith(".dist-info"):
        return False
    if parts[0].endswith(".data"):
        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
            return False
        parts = parts[2:]
    return not _SKIPPED_FOLDERS.intersection(parts[:-1])


def _pyc(source: bytes, member: str) -> bytes | None:
    try:
        code = compile(source, member, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):  # a template or a Python 2 file: never importable
        return None
    header = importlib.util.MAGIC_NUMBER + _UNCHECKED_HASH
    return header + importlib.util.source_hash(source) + marshal.dumps(code)


def main(out: str, wheels: list[str]) -> int:
    modules = 0
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(wheels, key=lambda p: p.replace("\\", "/").rsplit("/", 1)[-1]):
            filename = path.replace("\\", "/").rsplit("/", 1)[-1]
            with zipfile.ZipFile(path) as wheel:
                for member in sorted(wheel.namelist()):
                    if not _importable(member):
                        continue
                    data = _pyc(wheel.read(member), member)
                    if data is None:
                        continue
                    info = zipfile.ZipInfo(f"{filename}/{member}", _FIXED_DATE)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    info.create_system = 3
                    archive.writestr(info, data)
                    modules += 1
    report = {
        "cache_tag": sys.implementation.cache_tag,
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "modules": modules,
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
