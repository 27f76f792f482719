"""The hostile-input corpus (tests/hardening/corpus.py), one parametrize id per case.

For each case: the right error class, a message naming the input and saying what
to do, no file written anywhere in the sandbox except inside the cache root, no
``wheelhouse.zip`` or ``*.partial`` under dest, nothing installed in the node cache,
and no escaping entry written where it aimed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.hardening.corpus import Case, Resources, run_case
from tests.hardening.corpus_runtime import ALL_CASES as CASES

pytestmark = pytest.mark.network  # the wrong-hash case runs uv and pip (find-links only)


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)
    assert {"build", "load", "cleanup", "export", "deliver", "twin"} <= {
        case.phase for case in CASES
    }


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_refused_cleanly(
    case: Case, tmp_path: Path, hardening_resources: Resources
) -> None:
    outcome = run_case(case, tmp_path / "sandbox", hardening_resources)
    assert outcome.ok, f"{case.id}: {outcome.problems()}\n--- message ---\n{outcome.message}"


def test_module_names_in_other_scripts_still_work(
    tmp_path: Path, hardening_resources: Resources
) -> None:
    """The control: identifiers in Cyrillic, Greek and CJK are legal Python and are neither
    refused (only invisible and control characters are) nor mangled on the way through."""
    import importlib

    from sparkdeps._build.publish import build
    from sparkdeps._runtime.load import load

    source = tmp_path / "input"
    (source / "数据").mkdir(parents=True)
    (source / "数据" / "__init__.py").write_text("NAME = 'cjk'\n", encoding="utf-8")
    (source / "модуль.py").write_text("NAME = 'cyrillic'\n", encoding="utf-8")
    (source / "λόγος.py").write_text("NAME = 'greek'\n", encoding="utf-8")
    result = build(
        source, dest=tmp_path / "dest", no_index=True, task_value_key=None, name="sdhard-scripts"
    )
    assert set(result.manifest.top_level) == {"数据", "модуль", "λόγος"}
    loaded = load(result.uri, delivery="driver-only", cache_dir=tmp_path / "cache")
    for name, expected in (("数据", "cjk"), ("модуль", "cyrillic"), ("λόγος", "greek")):
        module = importlib.import_module(name)
        assert expected == module.NAME
        assert str(loaded.folder) in str(module.__file__)
        sys.modules.pop(name, None)
