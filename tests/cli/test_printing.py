"""``_cli/printing``: the ``inspect`` table and the build timings, from values to lines."""

from __future__ import annotations

from packaging.utils import canonicalize_name

from sparkdeps._cli.printing import manifest_lines, timings_line, visible
from sparkdeps._core.manifest import Manifest, WheelInfo


def _wheel(name: str, **extra: object) -> WheelInfo:
    settings: dict[str, object] = {
        "filename": f"{name}-1.0-py3-none-any.whl",
        "name": canonicalize_name(name),
        "version": "1.0",
        "sha256": "0" * 64,
        "size": 10,
        "tags": ("py3-none-any",),
        "top_level": (name,),
        "source": "index",
    }
    return WheelInfo(**{**settings, **extra})  # type: ignore[arg-type]


TARGET = {"profile": "dbr-14.3", "python_version": "3.10", "arch": "x86_64", "glibc": "2.35"}


def test_manifest_lines_list_the_target_then_each_wheel_sorted() -> None:
    manifest = Manifest("wheels", TARGET, (_wheel("zeta"), _wheel("alpha")), "d" * 12)
    lines = manifest_lines(manifest)
    assert lines[0] == "format:    wheels"
    assert lines[1] == "target:    dbr-14.3 CPython 3.10 x86_64 glibc 2.35"
    assert lines[4] == "wheels:    2"
    assert [line.split()[0] for line in lines[5:]] == ["alpha", "zeta"]
    assert lines[5].endswith("imports: alpha  (index)")
    assert not any(line.startswith("runtime:") for line in lines)  # no package set


def test_manifest_lines_show_what_the_wheelhouse_relies_on() -> None:
    runtime = {
        "name": "dbr-14.3",
        "digest": "abcdef0123456789",
        "relied_on": [{"name": "numpy", "version": "1.23.5"}],
        "overrides": ["pandas"],
    }
    shadowing = _wheel("six", shadows="1.16.0", runtime="shadows")
    manifest = Manifest("wheels", TARGET, (shadowing,), "d", runtime=runtime)
    lines = manifest_lines(manifest)
    assert lines[-3:] == [
        "runtime:   dbr-14.3 (set abcdef012345)",
        "relies on: numpy 1.23.5",
        "overrides: pandas",
    ]
    assert lines[5].endswith("shadows runtime 1.16.0")


def test_manifest_values_reach_the_terminal_escaped() -> None:
    # a manifest is data someone else may have written: no terminal escapes, no bidi tricks
    sneaky = _wheel("sneaky", version="1.0\x1b[2J", top_level=("a\u202eb",))
    lines = manifest_lines(Manifest("wheels", TARGET, (sneaky,), "d\n"))
    text = "\n".join(lines)
    assert "\x1b" not in text and "\u202e" not in text
    assert "1.0\\u001b[2J" in text and "a\\u202eb" in text and "input:     d\\u000a" in text
    assert visible("plain text") == "plain text"


def test_timings_line_leaves_out_phases_that_took_no_time() -> None:
    line = timings_line({"resolve": 1.2, "build": 0.001, "download": 15.314, "total": 0.0})
    assert line == "resolve 1.20s  download 15.31s  total 0.00s"
