"""The build half's pure logic, without an index: index settings, hash checks, the
closure and tag checks, the build cache."""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tests.support.wheels import make_wheel

from sparkdeps._build.backend import LockedFile
from sparkdeps._build.cache import BuildCache
from sparkdeps._build.closure import ensure_closed, ensure_target_tags
from sparkdeps._build.download import choose_file, verify
from sparkdeps._build.index import IndexSettings, is_unreachable
from sparkdeps._build.resolve import Pin
from sparkdeps._build.wheels import check_record
from sparkdeps._core.errors import IncompatibleWheelError, IntegrityError, ResolutionError
from sparkdeps._core.manifest import WheelInfo, inspect_wheel
from sparkdeps._core.target import choose_target

SECRET = "hunter2"
PRIVATE = f"https://user:{SECRET}@pkgs.example/simple"


# --------------------------------------------------------------------------- IndexSettings


def test_index_args_and_env_agree() -> None:
    index = IndexSettings(
        index_url=PRIVATE,
        extra_index_urls=("https://a.example/simple", "https://b.example/simple"),
        find_links=("/wheels",),
        timeout=2.5,
        retries=1,
    )
    assert index.args() == [
        "--index-url", PRIVATE,
        "--extra-index-url", "https://a.example/simple",
        "--extra-index-url", "https://b.example/simple",
        "--find-links", "/wheels",
    ]  # fmt: skip
    env = index.pip_env()
    assert env["PIP_INDEX_URL"] == PRIVATE
    assert env["PIP_EXTRA_INDEX_URL"] == "https://a.example/simple https://b.example/simple"
    assert env["PIP_FIND_LINKS"] == "/wheels"
    assert env["PIP_TIMEOUT"] == "2.5" and env["PIP_RETRIES"] == "1"
    assert env["PIP_CONFIG_FILE"]  # the machine's pip.conf is shut out
    assert index.uv_env() == {"UV_HTTP_TIMEOUT": "3", "UV_HTTP_RETRIES": "1"}  # rounded up


def test_no_index_drops_every_url_but_keeps_find_links() -> None:
    index = IndexSettings(index_url=PRIVATE, no_index=True, find_links=("/w",))
    assert index.args() == ["--no-index", "--find-links", "/w"]
    assert "PIP_INDEX_URL" not in index.pip_env()
    assert index.pip_env()["PIP_NO_INDEX"] == "1"
    assert index.shown() == "/w"


def test_uv_timeout_is_never_zero() -> None:
    assert IndexSettings(timeout=0.1).uv_env()["UV_HTTP_TIMEOUT"] == "1"


def test_shown_and_fingerprint_keep_credentials_out() -> None:
    index = IndexSettings(index_url=PRIVATE)
    assert SECRET not in index.shown()
    assert "pkgs.example" in index.shown()
    assert SECRET not in index.fingerprint()
    assert len(index.fingerprint()) == 64
    # the fingerprint follows where packages come from, not how patiently we ask
    assert index.fingerprint() == IndexSettings(index_url=PRIVATE, timeout=5).fingerprint()
    assert index.fingerprint() != IndexSettings(index_url=PRIVATE, no_index=True).fingerprint()
    assert IndexSettings().shown() == "https://pypi.org/simple"


def test_merged_keeps_the_first_index_and_order_without_repeats() -> None:
    first = IndexSettings(extra_index_urls=("https://a",), find_links=("/x",), timeout=7)
    second = IndexSettings(
        index_url="https://main", extra_index_urls=("https://a", "https://b"), no_index=True
    )
    merged = first.merged(second)
    assert merged.index_url == "https://main"
    assert merged.extra_index_urls == ("https://a", "https://b")
    assert merged.find_links == ("/x",)
    assert merged.no_index
    assert merged.timeout == 7  # the caller's network settings win
    assert IndexSettings(index_url="https://mine").merged(second).index_url == "https://mine"


@pytest.mark.parametrize(
    ("output", "unreachable"),
    [
        ("error: Request failed ... Connection refused (os error 111)", True),
        ("WARNING: Retrying ... Read timed out. (read timeout=1)", True),
        ("dns error: failed to lookup address", True),
        ("Because sdx was not found in the package registry", False),
        ("ERROR: No matching distribution found for sdx==1.0", False),
    ],
    ids=["refused", "timeout", "dns", "absent-uv", "absent-pip"],
)
def test_unreachable_is_told_apart_from_absent(output: str, unreachable: bool) -> None:
    assert is_unreachable(output) is unreachable


# --------------------------------------------------------------------------- hash mismatch


def _locked(filename: str, sha256: str) -> LockedFile:
    return LockedFile(f"{PRIVATE.removesuffix('/simple')}/files/{filename}", filename, sha256)


_TARGET = choose_target(python_version="3.10", platform="manylinux_2_17_x86_64")
_GOOD, _BAD = "a" * 64, "b" * 64


def test_hash_mismatch_is_found_in_the_lock_before_anything_is_fetched() -> None:
    pin = Pin(
        canonicalize_name("sdtest-one"),
        "1.0",
        hashes=(f"sha256:{'0' * 64}",),
        origin="req.txt:3",
        files=(_locked("sdtest_one-1.0-py3-none-any.whl", _BAD),),
    )
    with pytest.raises(ResolutionError) as caught:
        choose_file(pin, _TARGET)
    message = str(caught.value)
    assert "req.txt:3: sdtest-one==1.0: sdtest_one-1.0-py3-none-any.whl" in message
    assert f"has sha256:{_BAD}" in message and f"--hash given is sha256:{'0' * 64}" in message
    assert "fix: correct the --hash" in message


def test_a_hash_chooses_among_the_targets_wheels_and_the_best_tag_wins() -> None:
    files = (
        _locked("sdtest_c-1.0-cp310-cp310-manylinux_2_17_x86_64.whl", _BAD),
        _locked("sdtest_c-1.0-cp310-abi3-manylinux_2_17_x86_64.whl", _GOOD),
        _locked("sdtest_c-1.0-cp310-cp310-macosx_11_0_arm64.whl", _GOOD),  # not the target's
    )
    name = canonicalize_name("sdtest-c")
    best = choose_file(Pin(name, "1.0", files=files), _TARGET)
    assert best is not None and best.filename.endswith("cp310-cp310-manylinux_2_17_x86_64.whl")
    hashed = choose_file(Pin(name, "1.0", hashes=(f"sha256:{_GOOD}",), files=files), _TARGET)
    assert hashed is not None and "abi3-manylinux" in hashed.filename
    assert choose_file(Pin(name, "1.0"), _TARGET) is None  # no lock files: pip looks it up


def test_bytes_that_differ_from_the_lock_are_removed_and_named(tmp_path: Path) -> None:
    wheel = tmp_path / "sdtest_one-1.0-py3-none-any.whl"
    wheel.write_bytes(b"not what the index listed")
    pin = Pin(canonicalize_name("sdtest-one"), "1.0", files=(_locked(wheel.name, _GOOD),))
    with pytest.raises(ResolutionError) as caught:
        verify({pin: pin.files[0]}, tmp_path)
    message = str(caught.value)
    assert wheel.name in message and f"expected {_GOOD}" in message
    assert SECRET not in message  # the file's URL carries the index's credentials
    assert not wheel.exists()


def test_bytes_that_differ_from_the_input_hash_are_removed_and_named(tmp_path: Path) -> None:
    wheel = tmp_path / "sdtest_two-2.0-py3-none-any.whl"
    wheel.write_bytes(b"x")
    pin = Pin(canonicalize_name("sdtest-two"), "2.0", hashes=("sha256:00",), origin="r.txt:4")
    with pytest.raises(ResolutionError) as caught:
        verify({pin: None}, tmp_path)
    assert "r.txt:4: sdtest-two==2.0: sdtest_two-2.0-py3-none-any.whl (downloaded)" in str(
        caught.value
    )
    assert not wheel.exists()


def test_a_sha512_hash_is_checked_as_such(tmp_path: Path) -> None:
    import hashlib

    wheel = tmp_path / "sdtest_three-3.0-py3-none-any.whl"
    wheel.write_bytes(b"three")
    right = hashlib.sha512(b"three").hexdigest()
    name = canonicalize_name("sdtest-three")
    assert verify({Pin(name, "3.0", hashes=(f"sha512:{right}",)): None}, tmp_path) == [wheel]
    with pytest.raises(ResolutionError) as caught:
        verify(
            {Pin(name, "3.0", hashes=(f"sha512:{'0' * 128}",), origin="r.txt:1"): None}, tmp_path
        )
    assert f"has sha512:{right}" in str(caught.value) and not wheel.exists()


# --------------------------------------------------------------------------- closure and tags


def _wheel(name: str, version: str, *requires: str, tag: str = "py3-none-any") -> WheelInfo:
    return WheelInfo(
        filename=f"{name.replace('-', '_')}-{version}-{tag}.whl",
        name=canonicalize_name(name),
        version=version,
        sha256="0" * 64,
        size=1,
        tags=(tag,),
        top_level=(name.replace("-", "_"),),
        requires=requires,
    )


TARGET = choose_target("dbr-14.3")  # Python 3.10 on manylinux_2_35 x86_64


def test_closed_set_passes_with_markers_and_extras() -> None:
    wheels = [
        _wheel(
            "app",
            "1",
            "lib[fast]>=1",
            'winonly; sys_platform == "win32"',
            'old; python_version < "3.8"',
        ),
        _wheel("lib", "1.5", 'speed; extra == "fast"'),
        _wheel("speed", "0.1"),
    ]
    ensure_closed(wheels, TARGET, [Requirement("app")])


def test_missing_dependency_is_named_with_who_needs_it() -> None:
    wheels = [_wheel("app", "1", "lib>=2"), _wheel("lib", "1.5")]
    with pytest.raises(ResolutionError) as caught:
        ensure_closed(wheels, TARGET)
    message = str(caught.value)
    assert "lib>=2 needed by app 1 (found 1.5)" in message
    assert TARGET.description in message


def test_extras_pull_extras_to_a_fixed_point() -> None:
    wheels = [
        _wheel("app", "1", "lib[a]"),
        _wheel("lib", "1", 'lib[b]; extra == "a"', 'deep; extra == "b"'),
    ]
    with pytest.raises(ResolutionError, match='deep; extra == "b" needed by lib 1'):
        ensure_closed(wheels, TARGET, [Requirement("app")])


def test_marker_for_the_target_not_the_host() -> None:
    # The target is Python 3.10: a dependency for < 3.11 is needed even on a newer host.
    wheels = [_wheel("app", "1", 'backport; python_version < "3.11"')]
    with pytest.raises(ResolutionError, match="backport"):
        ensure_closed(wheels, TARGET)


@pytest.mark.parametrize(
    ("tag", "fits"),
    [
        ("py3-none-any", True),
        ("cp310-cp310-manylinux_2_17_x86_64", True),
        ("cp37-abi3-manylinux2014_x86_64", True),
        ("cp311-cp311-manylinux_2_17_x86_64", False),
        ("cp310-cp310-macosx_11_0_arm64", False),
        ("cp310-cp310-manylinux_2_39_x86_64", False),
    ],
    ids=["pure", "cp310", "abi3", "other-python", "other-os", "newer-glibc"],
)
def test_target_tags(tag: str, fits: bool) -> None:
    wheel = _wheel("x", "1", tag=tag)
    if fits:
        ensure_target_tags([wheel], TARGET)
    else:
        with pytest.raises(IncompatibleWheelError, match=wheel.filename):
            ensure_target_tags([wheel], TARGET)


# --------------------------------------------------------------------------- build cache


def _key(index: IndexSettings, **changes: object) -> str:
    parts: dict[str, object] = {
        "input_digest": "d" * 64,
        "target": TARGET,
        "index": index,
        "build_isolation": True,
        "name": None,
    }
    parts.update(changes)
    return BuildCache.key(**parts)  # type: ignore[arg-type]


def test_cache_key_follows_what_changes_the_result() -> None:
    index = IndexSettings(index_url=PRIVATE)
    key = _key(index)
    assert key == _key(IndexSettings(index_url=PRIVATE))
    assert SECRET not in key
    different = [
        _key(index, input_digest="e" * 64),
        _key(index, target=choose_target("dbr-15.4")),
        _key(IndexSettings(index_url="https://other/simple")),
        _key(index, build_isolation=False),
        _key(index, name="other"),
        _key(index, extra="allow_index_options=True"),
    ]
    assert len({key, *different}) == 1 + len(different)


def test_cache_store_lookup_digest(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "root")
    wheelhouse = tmp_path / "wh.zip"
    wheelhouse.write_bytes(b"zip bytes")
    key = "k" * 64
    assert cache.lookup(key) is None
    assert cache.digest(key) is None
    stored = cache.store(key, wheelhouse, "a" * 64)
    assert stored == cache.lookup(key) == tmp_path / "root" / "build" / f"{key}.zip"
    assert stored.read_bytes() == b"zip bytes"
    assert cache.digest(key) == "a" * 64
    # nothing partial left; the entry's lock file stays (it guards zip and record together)
    hidden = [p.name for p in cache.folder.iterdir() if p.name.startswith(".")]
    assert hidden == [f".{key}.lock"]


def test_cache_ignores_a_damaged_digest_and_survives_a_failed_store(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "root")
    cache.folder.mkdir(parents=True)
    (cache.folder / "k.sha256").write_text("short\n")
    assert cache.digest("k") is None
    assert cache.store("k", tmp_path / "absent.zip") is None  # a warning, not an error
    assert cache.lookup("k") is None
    assert [p.name for p in cache.folder.iterdir()] == ["k.sha256"]  # no partial left


# --------------------------------------------------------------------------- METADATA


@pytest.mark.parametrize("parser", ["packaging.metadata", "email"], ids=["packaging", "fallback"])
def test_inspect_wheel_reads_metadata_with_either_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parser: str
) -> None:
    if parser == "email":  # as on packaging < 23.1, where packaging.metadata is missing
        monkeypatch.setitem(sys.modules, "packaging.metadata", None)
    wheel = make_wheel(
        tmp_path,
        "sdmeta",
        "1.0",
        {"sdmeta/__init__.py": ""},
        requires=["sdtest-one>=1", 'sdtest-two; python_version < "3.11"'],
    )
    info = inspect_wheel(wheel)
    assert (info.name, info.version) == ("sdmeta", "1.0")
    assert info.requires == ("sdtest-one>=1", 'sdtest-two; python_version < "3.11"')
    liar = make_wheel(tmp_path / "liar", "sdmeta", "1.0", {"x.py": ""}, metadata_name="other")
    with pytest.raises(IntegrityError, match="METADATA says other"):
        inspect_wheel(liar)


# --------------------------------------------------------------------------- check_record


def _edited(wheel: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    change(files)
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


_RECORD = "sdrec-1.0.dist-info/RECORD"


def _set(name: str, data: bytes) -> Callable[[dict[str, bytes]], None]:
    return lambda files: files.__setitem__(name, data)


def _drop_record_line(prefix: str) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        lines = files[_RECORD].decode().splitlines(keepends=True)
        files[_RECORD] = "".join(x for x in lines if not x.startswith(prefix)).encode()

    return change


def _weaken_hash(files: dict[str, bytes]) -> None:
    files[_RECORD] = files[_RECORD].replace(b"sdrec.py,sha256=", b"sdrec.py,md5=")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        pytest.param(_set("sdrec.py", b"X = 2\n"), "does not match the hash", id="changed"),
        pytest.param(_set("sitecustomize.py", b"X = 1\n"), "not in its RECORD", id="slipped-in"),
        pytest.param(_drop_record_line("sdrec.py"), "not in its RECORD", id="unlisted"),
        pytest.param(_weaken_hash, "no sha256 hash", id="md5"),
        pytest.param(_set("x-1.0.dist-info/RECORD", b""), "2 RECORD files", id="two-records"),
        pytest.param(
            lambda files: files.pop("sdrec.py"), "does not hold (sdrec.py)", id="listed-absent"
        ),
    ],
)
def test_check_record_names_the_file_and_the_fix(
    tmp_path: Path, change: Callable[[dict[str, bytes]], None], says: str
) -> None:
    wheel = make_wheel(tmp_path, "sdrec", "1.0", {"sdrec.py": "X = 1\n"})
    check_record(wheel)  # as built: every file listed with its sha256
    with pytest.raises(IntegrityError) as caught:
        check_record(_edited(wheel, change), "input/sdrec.whl")
    assert says in str(caught.value)
    assert str(caught.value).startswith("input/sdrec.whl: ")
    assert "rebuild the wheel" in str(caught.value)
