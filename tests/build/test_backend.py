"""The backend (``_build/backend.py``): real uv and pip against the local index.

uv's PEP 751 lock is read as data (URLs, sha256, markers for the target); failures
come back with a kind; the dependency edges come from the pins' metadata, not from
uv's comments; pip and sparkdeps' own fetcher put the same checked files down.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from tests.support.index import IndexServer
from tests.support.wheels import make_wheel

from sparkdeps._build.backend import (
    CompileFailure,
    CompileRequest,
    Fetcher,
    Lock,
    PipFetcher,
    UvResolver,
)
from sparkdeps._build.depgraph import ROOT, MetadataReader, dependency_graph
from sparkdeps._build.download import download
from sparkdeps._build.fetch_http import DirectFetcher, FileCache
from sparkdeps._build.index import IndexSettings
from sparkdeps._build.requirements import RequirementLine
from sparkdeps._build.resolve import Pin, resolve
from sparkdeps._build.runtime_conflict import chain_paths, render_chain
from sparkdeps._core.errors import ResolutionError
from sparkdeps._core.target import Target, choose_target

pytestmark = pytest.mark.network

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
OTHER = "3.10" if HOST != "3.10" else "3.12"


def _target(python: str) -> Target:
    return choose_target(python_version=python, platform="manylinux_2_17_x86_64")


def _request(tmp_path: Path, text: str, index_url: str, python: str = "3.10") -> CompileRequest:
    source = tmp_path / "requirements.in"
    source.write_text(text, "utf-8")
    index = IndexSettings(index_url=index_url, timeout=5, retries=0)
    return CompileRequest(source, tmp_path / "pylock.toml", _target(python), index, tmp_path / "uv")


def _lock(request: CompileRequest) -> Lock:
    result = UvResolver().compile(request, what="resolving in a test")
    assert isinstance(result, Lock), result
    return result


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_variant_is_built_from_fields_not_from_a_sliced_command(tmp_path: Path) -> None:
    base = _request(tmp_path, "x\n", "http://127.0.0.1:1/simple/")
    variant = replace(
        base,
        constraints=tmp_path / "c.txt",
        find_links=(tmp_path / "stubs",),
        sdist_only=("sdtest-sdistonly",),
        output=tmp_path / "pylock.other.toml",
    )
    argv = variant.argv(["uv"])
    assert argv[-3:] == ["-o", str(tmp_path / "pylock.other.toml"), str(base.source)]
    assert ["--constraint", str(tmp_path / "c.txt")] == argv[argv.index("--constraint") :][:2]
    assert argv[argv.index("--no-binary") :][:2] == ["--no-binary", "sdtest-sdistonly"]
    assert argv[argv.index("--format") :][:2] == ["--format", "pylock.toml"]
    assert "--constraint" not in base.argv(["uv"])  # the base request is untouched


def test_a_lock_path_is_relative_to_the_locks_folder_and_a_bad_lock_is_named(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "uv"\n\n[[packages]]\nname = "sdtest-local"\n'
        'version = "1.0"\narchive = { path = "wheels/sdtest_local-1.0-py3-none-any.whl", '
        f'hashes = {{ sha256 = "{"a" * 64}" }} }}\n'
    )
    (package,) = Lock.read(lock).packages
    (file,) = package.wheels
    assert package.name == "sdtest-local"
    assert file.path == tmp_path / "wheels" / "sdtest_local-1.0-py3-none-any.whl"
    assert (file.filename, file.sha256) == ("sdtest_local-1.0-py3-none-any.whl", "a" * 64)
    lock.write_text('lock-version = "1.0"\n[[packages]]\nversion = "1.0"\n')
    with pytest.raises(ResolutionError) as caught:
        Lock.read(lock)
    assert str(lock) in str(caught.value) and "fix:" in str(caught.value)


def test_the_lock_names_each_file_with_its_url_and_sha256(
    tmp_path: Path, index: IndexServer, package_dir: Path
) -> None:
    lock = _lock(_request(tmp_path, "sdtest-alpha\n", index.url))
    assert lock.versions() == {"sdtest-alpha": "1.0", "sdtest-beta": "1.0", "sdtest-gamma": "1.0"}
    for package in lock.packages:
        (wheel,) = package.wheels
        assert wheel.url.startswith(index.plain_url.removesuffix("simple/"))
        assert wheel.sha256 == _sha256(package_dir / wheel.filename)


@pytest.mark.parametrize(
    ("python", "kept"), [("3.10", True), (HOST if HOST != "3.10" else "3.12", False)],
    ids=["3.10-keeps", "newer-drops"],
)  # fmt: skip
def test_markers_are_evaluated_for_the_target_not_the_host(
    tmp_path: Path, index: IndexServer, python: str, kept: bool
) -> None:
    lock = _lock(_request(tmp_path, "sdtest-marker\n", index.url, python))
    assert ("sdtest-oldpy" in lock.versions()) is kept


@pytest.mark.parametrize(
    ("text", "kind", "field", "names"),
    [
        ("sdtest-sdistonly\n", "no-wheel", "no_wheel", ("sdtest-sdistonly",)),
        ("sdtest-nosuchthing\n", "not-found", "missing", ("sdtest-nosuchthing",)),
        ("sdtest-alpha\nsdtest-beta>=2\n", "unsatisfiable", "no_wheel", ()),
    ],
    ids=["no-wheel", "not-found", "unsatisfiable"],
)
def test_a_failed_compile_has_a_kind_and_keeps_the_command(
    tmp_path: Path, index: IndexServer, text: str, kind: str, field: str, names: tuple[str, ...]
) -> None:
    result = UvResolver().compile(_request(tmp_path, text, index.url), what="resolving")
    assert isinstance(result, CompileFailure)
    assert result.kind == kind
    assert getattr(result, field) == names
    assert result.error.returncode not in (0, None) and result.error.command[-1].endswith(".in")


def test_an_index_that_does_not_answer_is_unreachable(tmp_path: Path) -> None:
    result = UvResolver().compile(
        _request(tmp_path, "sdtest-alpha\n", "http://127.0.0.1:9/simple/"), what="resolving"
    )
    assert isinstance(result, CompileFailure) and result.kind == "unreachable"


def test_dependency_chains_come_from_the_pins_metadata(tmp_path: Path, index: IndexServer) -> None:
    request = _request(tmp_path, "sdtest-alpha\nsdtest-marker\n", index.url)
    lock = _lock(request)
    cache = FileCache(tmp_path / "files")
    graph = dependency_graph(
        lock,
        request.target,
        roots=["sdtest-alpha", "sdtest-marker"],
        reader=MetadataReader(cache, request.index),
    )
    assert graph.nodes["sdtest-alpha"].parents == (ROOT,)
    assert graph.nodes["sdtest-beta"].parents == ("sdtest-alpha",)
    assert graph.nodes["sdtest-beta"].asks == (("sdtest-alpha", "<2,>=1.0"),)
    assert graph.nodes["sdtest-oldpy"].parents == ("sdtest-marker",)  # 3.10's marker holds
    (path,) = chain_paths("sdtest-gamma", graph)
    roots = {"sdtest-alpha": "req.txt:1 sdtest-alpha"}
    assert render_chain(path, graph, roots, {}) == (
        "req.txt:1 sdtest-alpha -> sdtest-alpha 1.0 -> sdtest-beta 1.0 -> sdtest-gamma 1.0"
    )
    # the index serves no PEP 658 .metadata: the wheels were read, and kept for the download
    assert all(cache.find(package.wheels[0]) for package in lock.packages)


def test_an_index_with_pep_658_metadata_is_not_asked_for_a_wheel(
    tmp_path: Path, package_dir: Path
) -> None:
    with IndexServer(package_dir, core_metadata=True) as server:
        request = _request(tmp_path, "sdtest-alpha\n", server.url)
        lock = _lock(request)
        server.reset_counts()
        reader = MetadataReader(FileCache(tmp_path / "files"), request.index)
        graph = dependency_graph(lock, request.target, roots=["sdtest-alpha"], reader=reader)
    assert graph.nodes["sdtest-gamma"].parents == ("sdtest-beta",)
    asked = sorted(path.rsplit("/", 1)[-1] for _agent, path in server.agents)
    assert asked == sorted(f"{p.wheels[0].filename}.metadata" for p in lock.packages)


def _pins(tmp_path: Path, index_url: str, text: str) -> tuple[list[Pin], IndexSettings, Target]:
    index = IndexSettings(index_url=index_url, timeout=5, retries=0)
    work = tmp_path / "work"
    work.mkdir()
    lines = [
        RequirementLine(Requirement(line), f"requirements.txt:{number}")
        for number, line in enumerate(text.split(), start=1)
    ]
    target = _target("3.10")
    resolution = resolve(
        lines, [], {}, target=target, index=index, work=work, cache_dir=tmp_path / "uv"
    )
    return list(resolution.remote), index, target


@pytest.mark.parametrize("fetcher", ["pip", "direct"])
def test_both_fetchers_put_down_the_locked_files(
    tmp_path: Path, index: IndexServer, package_dir: Path, fetcher: str
) -> None:
    pins, settings, target = _pins(tmp_path, index.url, "sdtest-alpha\nsdtest-marker\n")
    chosen: Fetcher = PipFetcher() if fetcher == "pip" else DirectFetcher(FileCache(tmp_path / "f"))
    got = download(pins, target, settings, tmp_path / "dest", fetcher=chosen)
    names = sorted(path.name for path in got)
    assert names == sorted(pin.files[0].filename for pin in pins)
    assert "sdtest_oldpy-1.0-py3-none-any.whl" in names  # the target's marker, not the host's
    assert all(_sha256(path) == _sha256(package_dir / path.name) for path in got)


@pytest.mark.parametrize("fetcher", ["pip", "direct"])
def test_a_file_the_index_changed_after_locking_is_refused(tmp_path: Path, fetcher: str) -> None:
    root = tmp_path / "index"
    root.mkdir()
    wheel = make_wheel(root, "sdtest-swapped", "1.0", {"sdtest_swapped/__init__.py": "A = 1\n"})
    with IndexServer(root) as server:
        pins, settings, target = _pins(tmp_path, server.url, "sdtest-swapped\n")
        make_wheel(root, "sdtest-swapped", "1.0", {"sdtest_swapped/__init__.py": "A = 2\n"})
        chosen: Fetcher = (
            PipFetcher() if fetcher == "pip" else DirectFetcher(FileCache(tmp_path / "f"))
        )
        with pytest.raises(ResolutionError) as caught:
            download(pins, target, settings, tmp_path / "dest", fetcher=chosen)
    message = str(caught.value)
    assert f"{Path(wheel).name} (sdtest-swapped==1.0)" in message
    assert "does not match the sha256 the index lists" in message and "fix:" in message
    assert not list((tmp_path / "dest").glob("*.whl"))


def _gamma_through_auth(tmp_path: Path, package_dir: Path, *, in_url: bool) -> list[str]:
    """Resolve and fetch sdtest-gamma directly from an index that wants ``u:s3cret``
    (in its URL, else from elsewhere); the paths the fetch asked for."""
    with IndexServer(package_dir, username="u", password="s3cret") as server:
        url = server.url if in_url else server.plain_url
        pins, settings, target = _pins(tmp_path, url, "sdtest-gamma\n")
        server.reset_counts()
        fetcher = DirectFetcher(FileCache(tmp_path / "f"))
        got = download(pins, target, settings, tmp_path / "dest", fetcher=fetcher)
    assert [path.name for path in got] == ["sdtest_gamma-1.0-py3-none-any.whl"]
    return [path for _agent, path in server.agents]


def test_the_direct_fetcher_sends_the_index_credentials(tmp_path: Path, package_dir: Path) -> None:
    asked = _gamma_through_auth(tmp_path, package_dir, in_url=True)
    assert asked == ["/files/sdtest_gamma-1.0-py3-none-any.whl"]


def test_a_netrc_entry_reaches_uv_and_the_direct_fetcher(
    tmp_path: Path, package_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text("machine 127.0.0.1 login u password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    asked = _gamma_through_auth(tmp_path, package_dir, in_url=False)
    assert asked == ["/files/sdtest_gamma-1.0-py3-none-any.whl"]
