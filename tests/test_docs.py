"""The documentation: every code block of the tutorial and the how-to guides runs, the
site builds with warnings as errors, and the references cover every public name and
every command-line option.

How a page's blocks run (docs/how-to/develop.md, "Writing docs"): ``python`` and ``sh``
blocks run in page order, in one fresh folder per page; python blocks share one
namespace per page, in this process, so a page that starts Spark with
``getOrCreate()`` (or ``local_cluster_session``) gets the shared local-cluster session;
sh blocks run in bash with this venv's ``bin`` first on PATH. An HTML comment on the
line before a block says how else to treat it:

* ``<!-- docs-test: file NAME -->``: the block is the text of a file, written to NAME;
* ``<!-- docs-test: output -->``: what the block before prints; each line must appear in
  it (``...`` stands for lines left out, ``<anything>`` for a varying part of a line);
* ``<!-- docs-test: databricks -->``: needs Databricks itself; checked for syntax only
  (a notebook's ``%pip`` line counts as a comment);
* ``<!-- docs-test: install -->``: installs sparkdeps, which this environment has;
  checked for syntax, and every extra it names must exist in pyproject.toml;
* ``<!-- docs-test: download -->``: downloads from PyPI (tests send traffic to 127.0.0.1
  only); checked for syntax only, and the page says which test covers the same.

``<!-- docs-test: slow -->`` anywhere in a page marks its test slow (it starts Spark
in a child process, or builds many times).

The docs name PyPI (``https://pypi.org/simple``) and a private index
(``https://pkgs.example.com/simple``); the tests replace those with indexes on
127.0.0.1 that serve the same package names, built or repackaged here.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.index import IndexServer
from tests.support.wheels import mirror_installed

import sparkdeps

if sys.version_info >= (3, 11):
    import tomllib
else:  # the build extra brings tomli there
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
RUN_PAGES = sorted(
    [*DOCS.glob("tutorial/*.md"), *DOCS.glob("how-to/*.md")],
    key=lambda page: (page.parent.name != "tutorial", page.name),
)
MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<kind>[\w-]+)(?:\s+(?P<arg>[^>]*?))?\s*-->")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`\n]*)$")
RUNNABLE = {"python", "sh"}
KINDS = {"file", "output", "databricks", "download", "install"}
PRIVATE_USER, PRIVATE_TOKEN = "build", "tok-3f9a61c2"


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    code: str
    kind: str | None
    arg: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def parse_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page (MyST directives left out), with their markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        language = match["info"].strip().split(" ")[0]
        body = "\n".join(line[indent:] for line in lines[index + 1 : end]) + "\n"
        previous = next((text for text in reversed(lines[:index]) if text.strip()), "")
        marker = MARKER.search(previous)
        # MyST directives ({toctree}) and diagrams (mermaid) are not code
        if not language.startswith("{") and language != "mermaid":
            kind, arg = (marker["kind"], marker["arg"]) if marker else (None, None)
            blocks.append(Block(page, index + 1, language, body, kind, arg))
        index = end + 1
    return blocks


# ------------------------------------------------------------------ checks of single blocks


def check_syntax(block: Block) -> None:
    if block.language == "python":
        # a notebook's magic commands (%pip, %sh) are not Python
        code = re.sub(r"^(\s*)%", r"\1# %", block.code, flags=re.M)
        compile(code, block.where, "exec")
    elif block.language == "sh":
        checked = subprocess.run(
            ["bash", "-n"], input=block.code, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, f"{block.where}: {checked.stderr}"
    else:
        raise AssertionError(f"{block.where}: only python and sh blocks can be {block.kind}")


def check_install(block: Block) -> None:
    check_syntax(block)
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    named = re.findall(r"sparkdeps\[([\w,\s-]+)\]", block.code)
    assert named or "sparkdeps" in block.code, f"{block.where}: installs no sparkdeps"
    for group in named:
        for extra in group.split(","):
            assert extra.strip() in extras, f"{block.where}: no extra {extra.strip()!r}"


def expect_output(block: Block, printed: str) -> None:
    """Each line of the block (``...`` aside) matches a line printed, in order."""
    lines = [line.rstrip() for line in printed.splitlines()]
    position = 0
    for expected in block.code.splitlines():
        if not expected.strip() or expected.strip() == "...":
            continue
        parts = re.split(r"<[^<>\s][^<>]*>", expected.strip())
        pattern = re.compile(".*?".join(re.escape(part) for part in parts))
        for offset, line in enumerate(lines[position:]):
            if pattern.fullmatch(line.strip()):
                position += offset + 1
                break
        else:
            raise AssertionError(
                f"{block.where}: no line matches {expected.strip()!r} in what the block "
                f"before printed:\n{printed[-3000:]}"
            )


# ------------------------------------------------------------------ running a page


class PageRun:
    """Runs one page's blocks in order, in ``folder``."""

    def __init__(self, folder: Path, substitutions: dict[str, str], env: dict[str, str]):
        self.folder = folder
        self.substitutions = substitutions
        self.env = env
        self.namespace: dict[str, Any] = {"__name__": "sparkdeps_docs_page"}
        self.printed = ""

    def code_of(self, block: Block) -> str:
        code = block.code
        for pattern, replacement in self.substitutions.items():
            code = re.sub(pattern, replacement, code)
        return code

    def run(self, block: Block) -> None:
        if block.kind in ("databricks", "download"):
            check_syntax(block)
        elif block.kind == "install":
            check_install(block)
        elif block.kind == "file":
            assert block.arg, f"{block.where}: file NAME"
            target = self.folder / block.arg
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.code_of(block), encoding="utf-8")
        elif block.kind == "output":
            expect_output(block, self.printed)
        elif block.language == "python":
            self.printed = self.run_python(block)
        elif block.language == "sh":
            self.printed = self.run_sh(block)
        else:
            raise AssertionError(
                f"{block.where}: a {block.language or 'plain'!r} block needs a marker "
                f"(file NAME, output) or a runnable language ({', '.join(sorted(RUNNABLE))})"
            )

    def run_python(self, block: Block) -> str:
        printed = io.StringIO()
        code = compile(self.code_of(block), block.where, "exec")
        with contextlib.redirect_stdout(printed):
            exec(code, self.namespace)
        return printed.getvalue()

    def run_sh(self, block: Block) -> str:
        completed = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", self.code_of(block)],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert completed.returncode == 0, (
            f"{block.where} exited {completed.returncode}:\n{completed.stdout[-3000:]}\n"
            f"{completed.stderr[-3000:]}"
        )
        return completed.stdout


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def docs_packages(tmp_path_factory: pytest.TempPathFactory, package_dir: Path) -> Path:
    """What the pages install: the test packages, plus MarkupSafe (the tutorial's
    compiled package) repackaged from this venv under its real tags."""
    folder = tmp_path_factory.mktemp("docs-packages")
    for wheel in package_dir.iterdir():
        (folder / wheel.name).symlink_to(wheel)
    for wheel in mirror_installed(["markupsafe"], folder):
        tags = _installed_tags("markupsafe")
        if tags and wheel.name.endswith("-py3-none-any.whl"):
            wheel.rename(wheel.with_name(wheel.name.replace("py3-none-any", tags)))
    return folder


def _installed_tags(distribution: str) -> str | None:
    """A wheel's compressed tag set (``cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64``)."""
    import importlib.metadata

    text = importlib.metadata.distribution(distribution).read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
    triples = [tag.split("-") for tag in tags]
    if not triples or len({(t[0], t[1]) for t in triples}) != 1:
        return None
    return f"{triples[0][0]}-{triples[0][1]}-{'.'.join(t[2] for t in triples)}"


@pytest.fixture(scope="module")
def docs_indexes(docs_packages: Path) -> Iterator[tuple[IndexServer, IndexServer]]:
    """PyPI's stand-in and a private index that requires basic auth."""
    with (
        IndexServer(docs_packages) as public,
        IndexServer(docs_packages, username=PRIVATE_USER, password=PRIVATE_TOKEN) as private,
    ):
        yield public, private


@pytest.fixture
def page_run(
    docs_indexes: tuple[IndexServer, IndexServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> PageRun:
    public, private = docs_indexes
    monkeypatch.chdir(tmp_path)
    # what a page's code sets (local_cluster_session sets PYSPARK_PYTHON) is undone after it
    for key, value in os.environ.copy().items():
        monkeypatch.setenv(key, value)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYPI_TOKEN"] = PRIVATE_TOKEN
    substitutions = {
        re.escape("https://pypi.org/simple"): public.url,
        r"https://(?P<user>[^@/\s]+@)?pkgs\.example\.com/simple": (
            private.plain_url.replace("http://", r"http://\g<user>")
        ),
    }
    return PageRun(tmp_path, substitutions, env)


# ------------------------------------------------------------------ the tests


def _page_id(page: Path) -> str:
    return f"{page.parent.name}/{page.stem}"


def test_every_block_is_runnable_or_marked() -> None:
    for page in RUN_PAGES:
        for block in parse_blocks(page):
            assert block.kind is None or block.kind in KINDS, f"{block.where}: {block.kind}"
            if block.kind is None:
                assert block.language in RUNNABLE, (
                    f"{block.where}: a {block.language or 'plain'!r} block runs in no test: "
                    "use python or sh, or mark it (docs-test: file NAME / output)"
                )


def test_output_markers_follow_a_run_block() -> None:
    for page in RUN_PAGES:
        blocks = parse_blocks(page)
        for before, block in itertools.pairwise(blocks):
            if block.kind == "output":
                assert before.kind is None and before.language in RUNNABLE, block.where


def _marks(page: Path) -> list[pytest.MarkDecorator]:
    slow = "<!-- docs-test: slow -->" in page.read_text(encoding="utf-8")
    return [pytest.mark.slow] if slow else []


def _pages(spark: bool) -> list[Any]:
    return [
        pytest.param(page, id=_page_id(page), marks=_marks(page))
        for page in RUN_PAGES
        if _uses_spark(page) == spark
    ]


def _uses_spark(page: Path) -> bool:
    return any(
        "SparkSession" in b.code or "local_cluster_session" in b.code
        for b in parse_blocks(page)
        if b.language == "python" and b.kind is None
    )


@pytest.mark.network
@pytest.mark.parametrize("page", _pages(spark=False))
def test_page_runs(page: Path, page_run: PageRun) -> None:
    for block in parse_blocks(page):
        page_run.run(block)


@pytest.mark.spark
@pytest.mark.network
@pytest.mark.parametrize("page", _pages(spark=True))
def test_spark_page_runs(page: Path, page_run: PageRun, sparkdeps_spark_manager: Any) -> None:
    # the shared session is the one the page's getOrCreate() finds
    sparkdeps_spark_manager.classic()
    for block in parse_blocks(page):
        page_run.run(block)


def test_api_reference_names_every_public_name() -> None:
    text = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"(?:auto\w+::|\{py:data\})\s+sparkdeps\.(\w+)", text))
    assert documented == set(sparkdeps.__all__), set(sparkdeps.__all__) ^ documented


def _public_functions() -> list[str]:
    import inspect

    return [name for name in sparkdeps.__all__ if inspect.isfunction(getattr(sparkdeps, name))]


def _docstring_example(doc: str) -> str | None:
    """The code of a docstring's example: a literal block after ``::``, or the inline
    literal after ``Example:``."""
    block = re.search(r"::\n\n((?:    .*\n|\n)+)", doc + "\n")
    if block:
        return re.sub(r"^    ", "", block[1], flags=re.M)
    inline = re.search(r"Example:\s+``(.+?)``", doc, re.S)
    return inline[1] if inline else None


@pytest.mark.parametrize("name", _public_functions())
def test_public_function_docstring_has_an_example(name: str) -> None:
    import inspect

    example = _docstring_example(inspect.getdoc(getattr(sparkdeps, name)) or "")
    assert example and f"{name}(" in example, f"sparkdeps.{name}: no example"
    compile(example, f"sparkdeps.{name} example", "exec")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as .ci/run builds it: warnings fail the build."""
    out = tmp_path_factory.mktemp("site")
    completed = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", out],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    return out


def test_site_documents_every_public_name(built_site: Path) -> None:
    html = (built_site / "reference" / "api.html").read_text(encoding="utf-8")
    missing = [name for name in sparkdeps.__all__ if f'id="sparkdeps.{name}"' not in html]
    assert not missing


def test_site_documents_every_command_and_option(built_site: Path) -> None:
    import argparse
    import html as html_module

    from sparkdeps._cli import build_parser

    page = (built_site / "reference" / "cli.html").read_text(encoding="utf-8")
    html = html_module.unescape(re.sub(r"<[^>]+>", "", page))
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert sub.choices
    for command, subparser in sub.choices.items():
        assert f"sparkdeps {command}" in html, command
        for action in subparser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert option in html, f"{command} {option}"


def test_targets_table_matches_the_profiles() -> None:
    text = (DOCS / "reference" / "targets.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\w.-]+)` \| ([^|]+) \| ([^|]+) \|", text, re.M)
    table = {name: (spark.strip(), python.strip()) for name, spark, python in rows}
    expected = {
        name: (target.spark_version or "none pinned", target.python_full_version)
        for name, target in sparkdeps.PROFILES.items()
    }
    assert table == expected
