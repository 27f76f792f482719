"""Every build option reaches every entry point (issue 24, item 1).

The options are declared once (``BuildOptions``, ``_core/options.py``). Each entry
point is given every option at a value that is not its default, and the test checks
the ``BuildOptions`` that arrives where the build begins (``recipe_for``, which turns
it into the recipe). That is the one stand-in here: ``recipe_for`` records what it was
given and stops the call, so no test runs a real build; the real ``build()`` and
``check()``, the real parsers and the real job template run up to that point.
"""

from __future__ import annotations

import dataclasses
import inspect
import pydoc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import sparkdeps
from sparkdeps._build import preflight, publish
from sparkdeps._cli import main
from sparkdeps._core.errors import InputError
from sparkdeps._core.options import BuildKeywords, BuildOptions, option_fields, option_of
from sparkdeps._core.zipsafety import ArchiveLimits
from sparkdeps._jobs.private_venv import IN_PRIVATE_VENV_ENV

# One value per option, none of them the default. A new option needs a line here:
# test_every_option_has_a_sample_value fails until it has one.
SAMPLES: dict[str, Any] = {
    "target": "dbr-14.3",
    "python_version": "3.11",
    "platform": "aarch64",
    "runtime_packages": "cluster-freeze.txt",
    "override_runtime": ("numpy", "pandas"),
    "prefer_newest": True,
    "max_size_mb": 2.5,
    "index_url": "http://127.0.0.1:9/simple",
    "extra_index_urls": ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b"),
    "find_links": ("wheels-a", "wheels-b"),
    "no_index": True,
    "index_timeout": 7.5,
    "index_retries": 5,
    "build_isolation": False,
    "bytecode": False,
    "name": "loose_modules",
    "cache_dir": "/tmp/sparkdeps-options-cache",
    "allow_index_options": True,
    "limits": ArchiveLimits(max_entries=7),
}
# Options without a flag (Python only) reach build() and check(), not the command line.
PYTHON_ONLY = {item.name for item in option_fields() if option_of(item).flag is None}
ALL = BuildOptions(**SAMPLES)
ON_A_COMMAND_LINE = dataclasses.replace(ALL, **{name: None for name in PYTHON_ONLY})
# build()'s keywords that are about publishing, not about how the wheelhouse is made
PUBLISHING = {"source", "dest", "run_id", "use_cache", "task_value_key"}


class Reached(Exception):
    """Raised by the stand-in ``recipe_for``: the options arrived, the build stops."""


@pytest.fixture
def arrived(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BuildOptions]]:
    seen: list[BuildOptions] = []

    def recipe_for(options: BuildOptions) -> Any:
        seen.append(options)
        raise Reached

    monkeypatch.setattr(publish, "recipe_for", recipe_for)
    monkeypatch.setattr(preflight, "recipe_for", recipe_for)
    yield seen


def test_every_option_has_a_sample_value() -> None:
    names = [item.name for item in option_fields()]
    assert sorted(SAMPLES) == sorted(names), "give each new option a value in SAMPLES"
    defaults = {item.name: item.default for item in option_fields()}
    assert [name for name in names if SAMPLES[name] == defaults[name]] == []


def test_the_typed_keywords_are_the_declaration() -> None:
    """``BuildKeywords`` (what type checkers see of ``**options``) names every option with
    the declared type; a list option takes any iterable there."""
    typed = {
        name: getattr(hint, "__forward_arg__", hint)
        for name, hint in BuildKeywords.__annotations__.items()
    }
    declared = {
        item.name: str(item.type).replace("tuple[str, ...]", "Iterable[str]")
        for item in option_fields()
    }
    assert typed == declared


@pytest.mark.parametrize(
    ("function", "others"),
    [
        pytest.param(sparkdeps.build, PUBLISHING, id="build"),
        pytest.param(sparkdeps.check, {"source"}, id="check"),
    ],
)
def test_public_signature_names_every_option(
    function: Callable[..., Any], others: set[str]
) -> None:
    """``help()`` shows ``build()`` and ``check()`` with named keywords, not ``**options``:
    the declared options with their defaults, beside the function's own."""
    parameters = inspect.signature(function).parameters
    assert set(parameters) - others == {item.name for item in option_fields()}
    for item in option_fields():
        parameter = parameters[item.name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, item.name
        assert parameter.default == item.default, item.name
    assert "**options" not in pydoc.render_doc(function)
    assert "index_timeout: 'float' = 30.0" in pydoc.render_doc(function)


@pytest.mark.parametrize(
    "function",
    [pytest.param(sparkdeps.build, id="build"), pytest.param(sparkdeps.check, id="check")],
)
def test_an_unknown_keyword_is_a_type_error(
    function: Callable[..., Any], arrived: list[BuildOptions]
) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'index_ur'"):
        function("requirements.txt", index_ur="http://127.0.0.1:9/simple")
    assert arrived == []


def _python(function: Callable[..., Any], tmp_path: Path) -> None:
    extra = {"dest": tmp_path / "dest"} if function is sparkdeps.build else {}
    function(tmp_path / "requirements.txt", **extra, **SAMPLES)


@pytest.mark.parametrize(
    "function",
    [pytest.param(sparkdeps.build, id="build"), pytest.param(sparkdeps.check, id="check")],
)
def test_every_option_reaches_the_python_api(
    function: Callable[..., Any], tmp_path: Path, arrived: list[BuildOptions]
) -> None:
    with pytest.raises(Reached):
        _python(function, tmp_path)
    assert arrived == [ALL]


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["build", "--dest", "DEST"], id="build"),
        pytest.param(["build", "--dry-run"], id="build-dry-run"),
        pytest.param(["check"], id="check"),
    ],
)
def test_every_option_reaches_build_and_check_commands(
    command: list[str], tmp_path: Path, arrived: list[BuildOptions]
) -> None:
    argv = [arg.replace("DEST", str(tmp_path / "dest")) for arg in command]
    argv.insert(1, str(tmp_path / "requirements.txt"))
    with pytest.raises(Reached):
        main([*argv, *ON_A_COMMAND_LINE.to_args()])
    assert arrived == [ON_A_COMMAND_LINE]


def test_every_option_reaches_process_deps(tmp_path: Path, arrived: list[BuildOptions]) -> None:
    argv = ["process-deps", "--source", str(tmp_path / "r.txt"), "--base", str(tmp_path)]
    with pytest.raises(Reached):
        main([*argv, *ON_A_COMMAND_LINE.to_args()])
    assert arrived == [ON_A_COMMAND_LINE]


def test_every_option_reaches_the_job_template(
    tmp_path: Path, arrived: list[BuildOptions], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``three_task_job(options=...)`` writes them as ``process-deps`` flags; running that
    task's parameters (references unfilled, as outside a job) builds with the same options."""
    pytest.importorskip("databricks.bundles.jobs", reason="needs sparkdeps[databricks]")
    monkeypatch.setenv("SPARKDEPS_BASE", str(tmp_path))  # the base reference stays unfilled
    # as inside process_deps' private venv: build here (tests/jobs/test_private_venv.py)
    monkeypatch.setenv(IN_PRIVATE_VENV_ENV, "1")
    job = sparkdeps.three_task_job(
        "options",
        source="s",
        python_file="f.py",
        options=ON_A_COMMAND_LINE,
        path_via="task_value",
        node_type_id="i3.xlarge",
    ).as_dict()
    task = next(t for t in job["tasks"] if t["task_key"] == "process_deps")
    with pytest.raises(Reached):
        main(task["python_wheel_task"]["parameters"])
    assert arrived == [ON_A_COMMAND_LINE]


def test_job_template_leaves_defaults_out() -> None:
    pytest.importorskip("databricks.bundles.jobs", reason="needs sparkdeps[databricks]")
    plain = sparkdeps.three_task_job(
        "plain", source="s", python_file="f.py", node_type_id="i3.xlarge"
    ).as_dict()
    auto = sparkdeps.three_task_job(
        "auto",
        source="s",
        python_file="f.py",
        options=BuildOptions(target="auto"),
        node_type_id="i3.xlarge",
    ).as_dict()

    def parameters(job: dict[str, Any]) -> list[str]:
        task = next(t for t in job["tasks"] if t["task_key"] == "process_deps")
        return list(task["python_wheel_task"]["parameters"])

    assert parameters(plain) == parameters(auto)
    assert not any(p.startswith("--target") for p in parameters(auto))


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        pytest.param("--python", "3.9", id="python"),
        pytest.param("--extra-index-url", "http://127.0.0.1:9/x", id="extra-index-url"),
    ],
)
@pytest.mark.parametrize("command", ["build", "process-deps"], ids=["build", "process-deps"])
def test_old_spellings_still_parse(
    command: str, flag: str, value: str, tmp_path: Path, arrived: list[BuildOptions]
) -> None:
    source = str(tmp_path / "r.txt")
    argv = [command, source] if command == "build" else [command, "--source", source]
    with pytest.raises(Reached):
        main([*argv, "--dest" if command == "build" else "--base", str(tmp_path), flag, value])
    (options,) = arrived
    assert value in (options.python_version, *options.extra_index_urls)


def test_a_python_only_option_has_no_flag() -> None:
    with pytest.raises(InputError, match="limits has no command-line flag"):
        BuildOptions(limits=ArchiveLimits(max_entries=7)).to_args()


def test_a_bare_string_for_a_list_is_refused() -> None:
    with pytest.raises(InputError, match="find_links takes a list"):
        BuildOptions(find_links="wheels")  # type: ignore[arg-type]
