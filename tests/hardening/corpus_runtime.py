"""The hostile-input corpus, runtime round 3 (issue 21): payloads, shared installs, twins,
cleanup of live payloads. Same :class:`Case` and checker as ``corpus.py``; each case
brings its own action. :data:`ALL_CASES` is every case of both modules.

"Another user" is real here: the corpus runs as root and ``chown``s to uid 65534
(:data:`OTHER_UID`); without root those cases make the planted folder writable by
everyone instead, which the same checks refuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.hardening.corpus import (
    CASES,
    Case,
    Resources,
    Sandbox,
    _good_wheelhouse,
    _pure,
)

from sparkdeps._core.errors import InputError, StorageError, TargetError

OTHER_UID = 65534
_ROOT = getattr(os, "geteuid", lambda: -1)() == 0


def _foreign(path: Path) -> None:
    """Make ``path`` (a folder or a link) another user's, or writable by all without root."""
    if _ROOT:
        os.lchown(path, OTHER_UID, OTHER_UID)
    elif not path.is_symlink():
        path.chmod(0o777)


def _wheelhouse(folder: Path) -> tuple[Path, str]:
    out, _manifest = _good_wheelhouse(folder / "runs", [_pure(folder, "sdhard-trust")])
    return out, hashlib.sha256(out.read_bytes()).hexdigest()


def _payloads(box: Sandbox) -> Path:
    return box.cache / "node" / "payloads"


# --------------------------------------------------------------------------- deliver (item 1)


def _planted_stub_zip(folder: Path, _r: Resources) -> Path:
    out, digest = _wheelhouse(folder)
    wheels = folder.parent / "cache" / "node" / "payloads" / f"{digest}.wheels"
    wheels.mkdir(parents=True, mode=0o700)
    with zipfile.ZipFile(wheels / f"sparkdeps_{digest[:16]}_boot.zip", "w") as archive:
        archive.writestr("sdhard_trust.py", "import os; os.system('echo planted')\n")
    return out


def _planted_wheelhouse_payload(folder: Path, _r: Resources) -> Path:
    out, digest = _wheelhouse(folder)
    wheels = folder.parent / "cache" / "node" / "payloads" / f"{digest}.wheels"
    wheels.mkdir(parents=True, mode=0o700)
    with zipfile.ZipFile(wheels / f"sparkdeps_{digest[:16]}.zip", "w") as archive:
        # a "site" the bootstrap would take as its own extraction, skipping every check
        archive.writestr("site/sdhard_trust/__init__.py", "X = 'planted'\n")
    return out


def _open_payload_dir(folder: Path, _r: Resources) -> Path:
    out, _digest = _wheelhouse(folder)
    payloads = folder / "payloads"
    payloads.mkdir()
    payloads.chmod(0o777)
    return out


def _deliver_files(payload_dir: Path | None) -> Callable[[Path, Sandbox], str]:
    def act(source: Path, box: Sandbox) -> str:
        """load for the driver, then the executor payload classic and Connect ship."""
        from sparkdeps._runtime.load import load
        from sparkdeps._runtime.wheelpayload import boot_zip, wheelhouse_payload

        loaded = load(source, delivery="driver-only")
        where = payload_dir if payload_dir is not None else _payloads(box)
        stubs = boot_zip(loaded.folder, loaded.digest, where)
        archive = wheelhouse_payload(source, loaded.digest, where, symlink_to=source)
        return f"stubs={stubs} archive={archive}"

    return act


def _deliver_to(source: Path, box: Sandbox) -> str:
    from sparkdeps._runtime.load import load

    # any object: the refusal comes before a session is used (no Spark in the corpus)
    payloads = source.parents[2] / "payloads"
    return repr(load(source, spark=object(), delivery="classic", payload_dir=payloads))


def _payload_is_ours(box: Sandbox, source: Path, message: str) -> list[str]:
    from sparkdeps._runtime.wheelpayload import stub_zip_bytes

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    wheels = _payloads(box) / f"{digest}.wheels"
    stubs = wheels / f"sparkdeps_{digest[:16]}_boot.zip"
    folder = box.cache / "node" / "installs" / digest
    problems = []
    if not stubs.is_file() or stubs.read_bytes() != stub_zip_bytes(folder, digest):
        problems.append(f"{stubs.name} is not the stub zip sparkdeps writes")
    archive = wheels / f"sparkdeps_{digest[:16]}.zip"
    if archive.stat().st_ino != source.stat().st_ino:
        with zipfile.ZipFile(archive) as opened:
            if any(name.startswith("site/") for name in opened.namelist()):
                problems.append(f"{archive.name} is the planted archive")
    return problems


# --------------------------------------------------------------------------- shared (item 2)


def _sparkdeps_symlink(folder: Path, _r: Resources) -> Path:
    out, _digest = _wheelhouse(folder)
    # a private folder of ours: only the link is theirs (without root, the folder is open)
    target = folder / "attacker"
    target.mkdir(mode=0o700)
    if not _ROOT:
        target.chmod(0o777)
    link = out.parent / ".sparkdeps"
    link.symlink_to(target)
    _foreign(link)
    return out


def _sparkdeps_foreign(folder: Path, _r: Resources) -> Path:
    out, _digest = _wheelhouse(folder)
    planted = out.parent / ".sparkdeps"
    planted.mkdir(mode=0o755)
    (planted / "README").write_text("mine\n")
    _foreign(planted)
    return out


def _node_cache_open(folder: Path, _r: Resources) -> Path:
    out, _digest = _wheelhouse(folder)
    node = folder.parent / "cache" / "node"
    node.mkdir(parents=True)
    node.chmod(0o777)
    return out


def _load_shared(source: Path, _box: Sandbox) -> str:
    from sparkdeps._runtime.load import load

    # any object: the refusal comes before a session is used (no Spark in the corpus)
    return repr(load(source, spark=object(), delivery="shared"))


# --------------------------------------------------------------------------- cleanup (item 6)

_HOLDER_APP = Path(__file__).resolve().parents[1] / "apps" / "payload_holder_app.py"


def _live_payload(folder: Path, _r: Resources) -> Path:
    """Two runs of one digest in the cache root; a live process holds the node payload."""
    import shutil
    import subprocess
    import sys

    cache = folder.parent / "cache"
    first, _digest = _wheelhouse(cache / "runs-a")
    second = cache / "runs-b" / "run-hostile"
    second.mkdir(parents=True)
    shutil.copyfile(first, second / "wheelhouse.zip")
    marker = {
        "run_id": "run-hostile",
        "created": "2020-01-01T00:00:00+00:00",
        "digest": _digest,
        "sparkdeps_version": "test",
    }
    for run in (first.parent, second):
        (run / "run.json").write_text(json.dumps(marker))
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "src"), str(repo)])}
    holder = subprocess.Popen(
        [sys.executable, str(_HOLDER_APP), str(second / "wheelhouse.zip"), str(cache),
         str(folder / "release")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline(), "the holder did not start"
    _HOLDERS[os.fspath(first.parent)] = holder
    return first.parent


_HOLDERS: dict[str, object] = {}


def _cleanup_run(source: Path, _box: Sandbox) -> str:
    from sparkdeps._runtime.cleanup import cleanup

    return repr(cleanup(os.fspath(source)))


def _payload_kept(box: Sandbox, source: Path, message: str) -> list[str]:
    """The live holder's payload is still there; then the holder ends."""
    import subprocess

    try:
        wheels = list(_payloads(box).glob("*.wheels"))
        if len(wheels) != 1 or not list(wheels[0].glob("sparkdeps_*_boot.zip")):
            return [f"the live application's node payload was removed: {wheels}"]
        if source.exists():
            return ["the run folder was not removed"]
        return []
    finally:
        (box.inputs / "release").touch()
        holder = _HOLDERS.pop(os.fspath(source), None)
        if isinstance(holder, subprocess.Popen):
            holder.wait(timeout=60)


# --------------------------------------------------------------------------- twin (item 5)


def _user_files_with_partial(folder: Path, _r: Resources) -> Path:
    root = folder / "work"
    root.mkdir(parents=True)
    (root / "thesis.tex").write_text("years of work\n")
    (root / "sparkdeps-twin.partial").write_text("creating\n")
    return root


def _twin_dir_is_a_file(folder: Path, _r: Resources) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "twin").write_text("a file\n")
    return folder / "twin"


def _twin_dir_symlink_to_empty(folder: Path, _r: Resources) -> Path:
    (folder / "empty").mkdir(parents=True)
    (folder / "twin").symlink_to(folder / "empty")
    return folder / "twin"


def _twin_marker_missing_keys(folder: Path, _r: Resources) -> Path:
    root = folder / "twin"
    root.mkdir(parents=True)
    (root / "sparkdeps-twin.json").write_text(json.dumps({"profile": "dbr-14.3"}))
    (root / "results.parquet").write_bytes(b"PAR1")
    return root


def _outdated_twin(folder: Path, _r: Resources) -> Path:
    """A twin sparkdeps made (claimed and recorded as create_twin does), now outdated."""
    from sparkdeps.testing._twinfolder import claim, record_entries

    root = (folder / "twin").absolute()
    saved = os.environ.get("SPARKDEPS_CACHE_DIR")
    os.environ["SPARKDEPS_CACHE_DIR"] = os.fspath(folder.parent / "cache")  # the sandbox's
    try:
        claim(root, None)
        (root / "bin").mkdir()
        marker = {
            "profile": "dbr-14.3", "python_version": "3.10", "pyspark_version": "3.5.0",
            "packages": "core", "digest": "0" * 64, "installed": {}, "not_installed": [],
        }  # fmt: skip
        (root / "sparkdeps-twin.json").write_text(json.dumps(marker))
        record_entries(root)
    finally:
        if saved is None:
            os.environ.pop("SPARKDEPS_CACHE_DIR", None)
        else:
            os.environ["SPARKDEPS_CACHE_DIR"] = saved
    return root


def _twin_cli(python: str | None = None) -> Callable[[Path, Sandbox], str]:
    def act(source: Path, _box: Sandbox) -> str:
        """``sparkdeps twin dbr-14.3 DIR``: what the CLI prints, or the error it raises."""
        import argparse

        from sparkdeps.testing._twin_cli import run_twin

        args = argparse.Namespace(
            profile="dbr-14.3", dir=os.fspath(source), python=python or sys.executable,
            packages="core", pyspark=None, index_url=None, find_links=[], no_index=True,
            json=True,
        )  # fmt: skip
        lines: list[str] = []
        run_twin(args, lines.append)
        return "\n".join(lines)

    return act


# --------------------------------------------------------------------------- the cases

RUNTIME_CASES: tuple[Case, ...] = (
    Case(
        "deliver-planted-stub-zip",
        "deliver",
        _planted_stub_zip,
        None,
        ("_boot.zip",),
        (),
        act=_deliver_files(None),
        verdict=_payload_is_ours,
    ),
    Case(
        "deliver-planted-wheelhouse-payload",
        "deliver",
        _planted_wheelhouse_payload,
        None,
        ("archive=",),
        (),
        act=_deliver_files(None),
        verdict=_payload_is_ours,
    ),
    Case(
        "deliver-payload-dir-open",
        "deliver",
        _open_payload_dir,
        StorageError,
        ("payloads", "other users"),
        ("chmod 700", "payload_dir="),
        act=_deliver_to,
    ),
    Case(
        "shared-sparkdeps-symlink",
        "load",
        _sparkdeps_symlink,
        StorageError,
        (".sparkdeps", "shared install folder"),
        ("remove", "payload_dir="),
        act=_load_shared,
    ),
    Case(
        "shared-sparkdeps-foreign-folder",
        "load",
        _sparkdeps_foreign,
        StorageError,
        (".sparkdeps", "other users"),
        ("payload_dir=",),
        act=_load_shared,
    ),
    Case(
        "shared-node-cache-open",
        "load",
        _node_cache_open,
        StorageError,
        ("node", "other users"),
        ("chmod 700",),
        act=_load_shared,
    ),
)

RUNTIME_CASES += (
    Case(
        "twin-user-folder-with-partial-marker",
        "twin",
        _user_files_with_partial,
        InputError,
        ("work", "no record of making it"),
        ("pick an empty or new folder",),
        act=_twin_cli(),
    ),
    Case(
        "twin-outdated-wrong-python",
        "twin",
        _outdated_twin,
        TargetError,
        ("--python", "3.10"),
        ("pass a python 3.10 interpreter",),
        act=_twin_cli("/nonexistent/python3.10"),
    ),
    Case(
        "twin-dir-is-a-file",
        "twin",
        _twin_dir_is_a_file,
        InputError,
        ("twin", "is a file"),
        ("pick an empty or new folder",),
        act=_twin_cli(),
    ),
    Case(
        "twin-dir-symlink-to-empty",
        "twin",
        _twin_dir_symlink_to_empty,
        InputError,
        ("twin", "symbolic link"),
        ("pass the folder itself",),
        act=_twin_cli(),
    ),
    Case(
        "twin-marker-missing-keys",
        "twin",
        _twin_marker_missing_keys,
        InputError,
        ("sparkdeps-twin.json", "lacks"),
        ("pick an empty or new folder",),
        act=_twin_cli(),
    ),
    Case(
        "cleanup-live-payload",
        "cleanup",
        _live_payload,
        None,
        ("kept", ".wheels"),
        (),
        act=_cleanup_run,
        verdict=_payload_kept,
    ),
)

ALL_CASES: tuple[Case, ...] = CASES + RUNTIME_CASES
"""Every corpus case: ``corpus.py``'s and this module's."""
