"""House rules that no linter checks: short functions, a light command-line start."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.wheels import make_wheel

SRC = Path(__file__).resolve().parent.parent / "src" / "sparkdeps"

PARSE_ONLY = """
import json, sys
from sparkdeps._cli import build_parser
build_parser().parse_args(sys.argv[1:])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("sparkdeps"))))
"""


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["build", "requirements.txt"], id="build"),
        pytest.param(["process-deps", "--source", "r.txt"], id="process-deps"),
        pytest.param(["twin", "dbr-14.3", "twin"], id="twin"),
    ],
)
def test_parsing_a_command_imports_no_command_implementation(argv: list[str]) -> None:
    """Every parser is built for every command: building them must cost no subcommand's
    imports (the job entry points, the twin, either half)."""
    out = subprocess.run(
        [sys.executable, "-c", PARSE_ONLY, *argv], check=True, capture_output=True, text=True
    ).stdout
    modules = json.loads(out)
    assert "sparkdeps._cli" in modules
    heavy = ("sparkdeps._build", "sparkdeps._runtime", "sparkdeps._jobs.", "sparkdeps.testing")
    assert [m for m in modules if m.startswith(heavy) and m != "sparkdeps._jobs.names"] == []


WARM_BUILD = """
import json, sys
import sparkdeps
result = sparkdeps.build(sys.argv[1], dest=sys.argv[2], cache_dir=sys.argv[3], no_index=True)
print(json.dumps([result.cached, sorted(m for m in sys.modules if m.startswith("sparkdeps"))]))
"""


def test_a_warm_rebuild_imports_no_resolver_downloader_or_wheel_builder(tmp_path: Path) -> None:
    """A build cache hit publishes the cached wheelhouse: the machinery that makes one
    (``_build.plan``, ``_build.make`` and what they import) stays unimported."""
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "sdhouse", "1.0", {"sdhouse/__init__.py": "X = 1\n"})
    args = [str(wheels), str(tmp_path / "dest"), str(tmp_path / "cache")]
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", WARM_BUILD, *args],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        for _ in range(2)  # cold, then warm
    ]
    (cold, cold_modules), (warm, warm_modules) = runs
    assert (cold, warm) == (False, True)
    assert "sparkdeps._build.make" in cold_modules  # the check can fail
    making = (
        "sparkdeps._build.plan",
        "sparkdeps._build.make",
        "sparkdeps._build.resolve",
        "sparkdeps._build.download",
    )
    assert [m for m in warm_modules if m.startswith(making)] == []


MAX_LINES = 60
"""A function, signature and docstring included, reads in one breath (docs/architecture.md)."""

LONG_ON_PURPOSE: dict[str, str] = {}
"""``module:function`` -> why it stays longer than MAX_LINES."""


def _long_functions() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    found[f"{path.relative_to(SRC).as_posix()}:{node.name}"] = lines
    return found


def test_no_function_in_src_runs_over_sixty_lines_without_a_reason() -> None:
    long = _long_functions()
    unexplained = {name: lines for name, lines in long.items() if name not in LONG_ON_PURPOSE}
    assert unexplained == {}, "split these into named steps, or say why in LONG_ON_PURPOSE"
    # an entry for a function that got short (or went away) is stale: drop it
    assert sorted(set(LONG_ON_PURPOSE) - set(long)) == []


ARCHITECTURE = SRC.parent.parent / "docs" / "architecture.md"


def _modules_in_tree() -> dict[str, set[str]]:
    """Package (``sparkdeps``, ``_core``, ``_core/storage``...) -> its modules; an empty
    ``__init__.py`` is no module of its own."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        if path.name == "__init__.py" and not path.read_text(encoding="utf-8").strip():
            continue
        folder = path.parent.relative_to(SRC).as_posix()
        found.setdefault("sparkdeps" if folder == "." else folder, set()).add(path.stem)
    return found


def _modules_in_the_map(text: str) -> dict[str, set[str]]:
    """Package -> the modules its ``### `package` `` list names, one ``- `module`:`` a line."""
    rooms = text.split("\n## Rooms\n", 1)[1].split("\n## ", 1)[0]
    named: dict[str, set[str]] = {}
    package = None
    for line in rooms.splitlines():
        heading = re.fullmatch(r"### `([\w/]+)`", line)
        if heading:
            package = heading.group(1)
            named[package] = set()
        entry = re.match(r"- `(\w+)`:", line)
        if entry and package is not None:
            named[package].add(entry.group(1))
    return named


def test_the_architecture_map_names_every_module_and_no_other() -> None:
    """docs/architecture.md describes the house as it is: a module added, renamed or
    removed changes its "Rooms" list too."""
    assert _modules_in_the_map(ARCHITECTURE.read_text(encoding="utf-8")) == _modules_in_tree()
