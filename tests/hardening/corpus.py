"""The hostile-input corpus: each case as data, a maker for its input, and one checker.

A case makes its input (an archive, a folder, a requirements file, a wheel, or a
published wheelhouse for load cases) inside a sandbox folder, then runs ``build``
or ``load`` with ``dest``, ``SPARKDEPS_CACHE_DIR``, ``TMPDIR`` (and
``tempfile.tempdir``) and ``HOME`` all under that sandbox, snapshotting every file
before and after. :func:`run_case` returns an :class:`Outcome`: the error class,
whether the message names the input and says what to do, the files written
outside the cache root, half-written wheelhouses, and whether anything was
installed. ``test_hostile_input.py`` asserts on it; ``scripts/hardening_report.py``
tallies it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.support.wheels import make_wheel

from sparkdeps._build.archive import ArchiveLimits
from sparkdeps._core.errors import (
    BuildError,
    IncompatibleWheelError,
    InputError,
    IntegrityError,
    LockError,
    ResolutionError,
    SparkdepsError,
    StorageError,
    UnsafeArchiveError,
)
from sparkdeps._core.manifest import Manifest, WheelInfo, inspect_wheel
from sparkdeps._core.target import Target, host_target
from sparkdeps._core.wheelhouse import write_wheelhouse

Phase = Literal["build", "load", "cleanup", "export", "deliver", "twin"]
SECRET = "hunter2-hardening"
"""A password planted in some inputs: it must never show in a message."""


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Resources:
    """Things the cases share: a find-links folder of small test wheels."""

    packages: Path


def make_resources(root: Path) -> Resources:
    """``sdhard-dep 1.0`` (needs ``sdhard-leaf``) and ``sdhard-leaf 1.0`` in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    make_wheel(root, "sdhard-leaf", "1.0", {"sdhard_leaf/__init__.py": "LEAF = 1\n"})
    make_wheel(
        root,
        "sdhard-dep",
        "1.0",
        {"sdhard_dep/__init__.py": "from sdhard_leaf import LEAF\nDEP = LEAF + 1\n"},
        requires=("sdhard-leaf>=1.0",),
    )
    # dbr-14.3's versions: an input of just these needs nothing the runtime lacks
    make_wheel(root, "six", "1.16.0", {"six.py": "X = 1\n"})
    make_wheel(root, "attrs", "22.1.0", {"attr/__init__.py": "X = 1\n"})
    return Resources(packages=root)


# --------------------------------------------------------------------------- zip helpers


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": the duplicate case wants one
        with zipfile.ZipFile(path, "w", **kw) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return path


def _patch_headers(path: Path, patch: Callable[[bytearray, int, int], None]) -> None:
    """Call ``patch(data, local_offset, central_offset)`` for each entry."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        offsets = [info.header_offset for info in archive.infolist()]
    central = []
    position = data.find(b"PK\x01\x02")
    while position != -1:
        central.append(position)
        position = data.find(b"PK\x01\x02", position + 4)
    for local, middle in zip(offsets, central, strict=True):
        patch(data, local, middle)
    path.write_bytes(bytes(data))


MOD = b"VALUE = 1\n"


def _mod_zip(folder: Path, name: str, extra: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    return _zip(folder / name, [("good_mod.py", MOD), *extra])


# --------------------------------------------------------------------------- build makers


def _dotdot(folder: Path, _r: Resources) -> Path:
    return _mod_zip(folder, "dotdot.zip", [("../escaped_dotdot.py", MOD)])


def _dotdot_deep(folder: Path, _r: Resources) -> Path:
    return _mod_zip(folder, "deep.zip", [("pkg/../../../../../tmp/escaped_deep.py", MOD)])


def _absolute(folder: Path, _r: Resources) -> Path:
    return _mod_zip(folder, "absolute.zip", [("/tmp/sparkdeps_hardening_abs.py", MOD)])


def _backslash(folder: Path, _r: Resources) -> Path:
    return _mod_zip(folder, "backslash.zip", [("..\\..\\escaped_backslash.py", MOD)])


def _drive(folder: Path, _r: Resources) -> Path:
    return _mod_zip(folder, "drive.zip", [("C:\\Windows\\escaped_drive.py", MOD)])


def _symlink(folder: Path, _r: Resources) -> Path:
    info = zipfile.ZipInfo("linked.py")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3
    return _mod_zip(folder, "symlink.zip", [(info, b"/etc/passwd")])


def _ratio_bomb(folder: Path, _r: Resources) -> Path:
    return _zip(
        folder / "ratio_bomb.zip",
        [("good_mod.py", MOD), ("zeros.bin", bytes(8 << 20))],
        compression=zipfile.ZIP_DEFLATED,
        compresslevel=9,
    )


def _total_bomb(folder: Path, _r: Resources) -> Path:
    noise = [(f"noise{i}.bin", os.urandom(400_000)) for i in range(4)]  # incompressible
    return _zip(folder / "total_bomb.zip", [("good_mod.py", MOD), *noise])


def _lying_sizes(folder: Path, _r: Resources) -> Path:
    path = _zip(
        folder / "lying.zip",
        [("good_mod.py", MOD), ("big.bin", bytes(200_000))],
        compression=zipfile.ZIP_DEFLATED,
    )

    def shrink(data: bytearray, local: int, central: int) -> None:
        # the second entry claims 10 bytes: the real stream is 200 kB
        if data[local + 30 : local + 30 + 7] == b"big.bin":
            struct.pack_into("<L", data, local + 22, 10)
            struct.pack_into("<L", data, central + 24, 10)

    _patch_headers(path, shrink)
    return path


def _duplicate(folder: Path, _r: Resources) -> Path:
    return _mod_zip(folder, "duplicate.zip", [("good_mod.py", b"import os; os.system('x')\n")])


def _duplicate_normalised(folder: Path, _r: Resources) -> Path:
    return _zip(
        folder / "duplicate2.zip",
        [("pkg/__init__.py", b""), ("pkg/mod.py", MOD), ("pkg\\mod.py", b"EVIL = 1\n")],
    )


def _encrypted(folder: Path, _r: Resources) -> Path:
    path = _mod_zip(folder, "encrypted.zip", [("secret_mod.py", MOD)])

    def encrypt(data: bytearray, local: int, central: int) -> None:
        # the "encrypted" flag (bit 0 of the general purpose flags), as a password-set zip has
        data[local + 6] |= 1
        data[central + 8] |= 1

    _patch_headers(path, encrypt)
    return path


def _not_a_zip(folder: Path, _r: Resources) -> Path:
    path = folder / "notazip.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is a text file wearing a .zip name\n" * 20)
    return path


def _empty_zip(folder: Path, _r: Resources) -> Path:
    return _zip(folder / "empty.zip", [])


def _many_entries(folder: Path, _r: Resources) -> Path:
    return _zip(folder / "many.zip", [(f"m{i}.py", b"") for i in range(2001)])


def _too_deep(folder: Path, _r: Resources) -> Path:
    inner = _zip(folder / "build" / "l4.zip", [("deep_mod.py", MOD)])
    for level in (3, 2, 1):
        inner = _zip(folder / "build" / f"l{level}.zip", [(inner.name, inner.read_bytes())])
    return _zip(folder / "nested.zip", [("good_mod.py", MOD), (inner.name, inner.read_bytes())])


def _folder_symlink(folder: Path, _r: Resources) -> Path:
    secret = folder / "outside" / "credentials.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("token=abc\n")
    source = folder / "project"
    source.mkdir(parents=True)
    (source / "good_mod.py").write_bytes(MOD)
    (source / "stolen.py").symlink_to(secret)
    return source


def _bidi_name(folder: Path, _r: Resources) -> Path:
    # U+202E RIGHT-TO-LEFT OVERRIDE: shows as "evilyp.py" style trickery in listings
    return _mod_zip(folder, "bidi.zip", [("pkg/__init__.py", b""), ("pkg/evil\u202eyp.py", MOD)])


def _zero_width_name(folder: Path, _r: Resources) -> Path:
    # U+200B ZERO WIDTH SPACE: a module that looks like "requests" but is not
    return _mod_zip(folder, "zerowidth.zip", [("re\u200bquests.py", MOD)])


def _requirements(text: str, name: str = "requirements.txt") -> Callable[[Path, Resources], Path]:
    def make(folder: Path, _r: Resources) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return make


def _runtime_set(content: bytes, *, repeat: int = 1) -> Callable[[Path, Resources], Path]:
    """A requirements file and a ``--runtime-packages`` file (``runtime.txt``) beside it;
    ``repeat`` writes ``content`` that many times, in chunks (no memory to make it)."""

    def make(folder: Path, _r: Resources) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "runtime.txt").open("wb") as stream:
            for _ in range(repeat):
                stream.write(content)
        path = folder / "requirements.txt"
        path.write_text("sdhard-dep\n", encoding="utf-8")
        return path

    return make


def _include_outside(folder: Path, _r: Resources) -> Path:
    (folder / "shared.txt").parent.mkdir(parents=True, exist_ok=True)
    (folder / "shared.txt").write_text("sdhard-dep\n")
    source = folder / "input"
    source.mkdir()
    (source / "requirements.txt").write_text("-r ../shared.txt\n")
    return source


def _wrong_hash(folder: Path, r: Resources) -> Path:
    return _requirements(f"--require-hashes\nsdhard-leaf==1.0 --hash=sha256:{'0' * 64}\n")(
        folder, r
    )


def _unhashed_dependency(folder: Path, r: Resources) -> Path:
    import hashlib

    wheel = r.packages / "sdhard_dep-1.0-py3-none-any.whl"
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    # the right hash for sdhard-dep, none for its dependency sdhard-leaf
    return _requirements(f"--require-hashes\nsdhard-dep==1.0 --hash=sha256:{good}\n")(folder, r)


def _rewrite_wheel(path: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    change(files)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def _record_tampered(folder: Path, _r: Resources) -> Path:
    wheel = make_wheel(folder / "in", "sdhard-tampered", "1.0", {"sdhard_tampered.py": "X = 1\n"})

    def change(files: dict[str, bytes]) -> None:
        files["sdhard_tampered.py"] = b"import os\nX = os.getcwd()\n"

    return _rewrite_wheel(wheel, change).parent


def _record_unlisted(folder: Path, _r: Resources) -> Path:
    wheel = make_wheel(folder / "in", "sdhard-sneaky", "1.0", {"sdhard_sneaky.py": "X = 1\n"})

    def change(files: dict[str, bytes]) -> None:
        files["sitecustomize.py"] = b"print('runs in every interpreter')\n"

    return _rewrite_wheel(wheel, change).parent


def _lying_name(folder: Path, _r: Resources) -> Path:
    return make_wheel(
        folder / "in",
        "sdhard-liar",
        "1.0",
        {"sdhard_liar.py": "X = 1\n"},
        metadata_name="requests",
    )


def _lying_version(folder: Path, _r: Resources) -> Path:
    return make_wheel(
        folder / "in",
        "sdhard-liar",
        "1.0",
        {"sdhard_liar.py": "X = 1\n"},
        metadata_version="9.9",
    )


def _wheel_not_zip(folder: Path, _r: Resources) -> Path:
    path = folder / "in" / "sdhard_fake-1.0-py3-none-any.whl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a wheel at all\n")
    return path.parent


def _wheel_wrong_target(folder: Path, _r: Resources) -> Path:
    return make_wheel(
        folder / "in",
        "sdhard-winonly",
        "1.0",
        {"sdhard_winonly.pyd": b"MZ"},
        tag="cp39-cp39-win_amd64",
    ).parent


def _project_fails(folder: Path, _r: Resources) -> Path:
    project = folder / "proj"
    project.mkdir(parents=True)
    (project / "setup.py").write_text(
        "import sys\n"
        "for i in range(300):\n"
        "    print(f'noise line {i:03d} from the build', file=sys.stderr)\n"
        "raise SystemExit('sdhard: BOOM, the compile step failed')\n"
    )
    (project / "sdhard_proj.py").write_text("X = 1\n")
    return project


# --------------------------------------------------------------------------- load makers


def _publish(base: Path, entries: Mapping[str, bytes]) -> Path:
    """A run folder holding a hand-made ``wheelhouse.zip`` (+ run.json)."""
    folder = base / "run-hostile"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "wheelhouse.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    (folder / "run.json").write_text(json.dumps({"run_id": "run-hostile", "created": time.time()}))
    return out


def _good_wheelhouse(
    base: Path, wheels: list[Path], target: Target | None = None
) -> tuple[Path, Manifest]:
    infos = tuple(inspect_wheel(path, source="provided") for path in wheels)
    manifest = Manifest(
        format="existing_wheels",
        target=(target or host_target()).to_dict(),
        wheels=infos,
        input_digest="hostile",
    )
    folder = base / "run-hostile"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "wheelhouse.zip"
    write_wheelhouse(wheels, manifest, out)
    (folder / "run.json").write_text(json.dumps({"run_id": "run-hostile", "created": time.time()}))
    return out, manifest


def _pure(folder: Path, name: str = "sdhard-loadme") -> Path:
    module = name.replace("-", "_")
    return make_wheel(folder / "wheels", name, "1.0", {f"{module}/__init__.py": "X = 1\n"})


def _load_tampered(folder: Path, _r: Resources) -> Path:
    wheel = _pure(folder)
    _out, manifest = _good_wheelhouse(folder / "runs", [wheel])
    # the same file name, other bytes: the wheel was swapped after the manifest was written
    evil = make_wheel(
        folder / "evil", "sdhard-loadme", "1.0", {"sdhard_loadme/__init__.py": "import os\n"}
    )
    return _publish(
        folder / "runs",
        {"manifest.json": manifest.to_json(), f"wheels/{wheel.name}": evil.read_bytes()},
    )


def _load_no_manifest(folder: Path, _r: Resources) -> Path:
    wheel = _pure(folder)
    return _publish(folder / "runs", {f"wheels/{wheel.name}": wheel.read_bytes()})


def _load_malformed_manifest(folder: Path, _r: Resources) -> Path:
    wheel = _pure(folder)
    return _publish(
        folder / "runs",
        {"manifest.json": b'{"schema": 1, "wheels": [', f"wheels/{wheel.name}": wheel.read_bytes()},
    )


def _load_wrong_schema(folder: Path, _r: Resources) -> Path:
    wheel = _pure(folder)
    _out, manifest = _good_wheelhouse(folder / "runs", [wheel])
    data = json.loads(manifest.to_json())
    data["schema"] = 99
    return _publish(
        folder / "runs",
        {"manifest.json": json.dumps(data).encode(), f"wheels/{wheel.name}": wheel.read_bytes()},
    )


def _load_missing_wheel(folder: Path, _r: Resources) -> Path:
    wheel = _pure(folder)
    _out, manifest = _good_wheelhouse(folder / "runs", [wheel])
    return _publish(folder / "runs", {"manifest.json": manifest.to_json()})


def _load_other_python(folder: Path, _r: Resources) -> Path:
    wheel = make_wheel(
        folder / "wheels",
        "sdhard-py39",
        "1.0",
        {
            "sdhard_py39/__init__.py": "X = 1\n",
            "sdhard_py39/_c.cpython-39-x86_64-linux-gnu.so": b"",
        },
        tag="cp39-cp39-manylinux_2_17_x86_64",
    )
    target = Target(python_version="3.9", arch="x86_64", glibc=(2, 17))
    return _good_wheelhouse(folder / "runs", [wheel], target)[0]


def _load_other_platform(folder: Path, _r: Resources) -> Path:
    wheel = make_wheel(
        folder / "wheels",
        "sdhard-mac",
        "1.0",
        {"sdhard_mac/__init__.py": "X = 1\n"},
        tag="py3-none-macosx_11_0_arm64",
    )
    return _good_wheelhouse(folder / "runs", [wheel])[0]


def _load_not_a_zip(folder: Path, _r: Resources) -> Path:
    out = folder / "runs" / "run-hostile" / "wheelhouse.zip"
    out.parent.mkdir(parents=True)
    out.write_bytes(b"<html>403 Forbidden</html>\n")
    return out


def _load_unsafe_member(folder: Path, _r: Resources) -> Path:
    wheel = make_wheel(
        folder / "wheels",
        "sdhard-escape",
        "1.0",
        {"sdhard_escape/__init__.py": "X = 1\n", "../../escaped_by_wheel.py": "X = 2\n"},
    )
    return _good_wheelhouse(folder / "runs", [wheel])[0]


# --------------------------------------------------------------------------- load makers, round 2


def _raw_wheel(
    folder: Path,
    filename: str,
    entries: Mapping[str, bytes],
    top_level: tuple[str, ...],
    compression: int = zipfile.ZIP_DEFLATED,
) -> tuple[Path, WheelInfo]:
    """A wheel written entry by entry (no checks), and the manifest entry that vouches for it."""
    import hashlib

    from packaging.utils import canonicalize_name, parse_wheel_filename

    path = _zip(folder / filename, list(entries.items()), compression=compression)
    name, version, _build, tags = parse_wheel_filename(filename)
    info = WheelInfo(
        filename=filename,
        name=canonicalize_name(name),
        version=str(version),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        size=path.stat().st_size,
        tags=tuple(sorted(str(tag) for tag in tags)),
        top_level=top_level,
        source="provided",
    )
    return path, info


def _hand_wheelhouse(base: Path, wheels: list[tuple[Path, WheelInfo]]) -> Path:
    manifest = Manifest(
        format="existing_wheels",
        target=host_target().to_dict(),
        wheels=tuple(info for _path, info in wheels),
        input_digest="hostile",
    )
    folder = base / "run-hostile"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "wheelhouse.zip"
    write_wheelhouse([path for path, _info in wheels], manifest, out)
    return out


def _dist_info(stem: str) -> dict[str, bytes]:
    name, version = stem.split("-")
    return {
        f"{stem}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{stem}.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{stem}.dist-info/RECORD": b"",
    }


def _hostile_wheel(
    entries: Mapping[str, bytes],
    top_level: tuple[str, ...] = ("sdhard_x",),
    stem: str = "sdhard_x-1.0",
    compression: int = zipfile.ZIP_DEFLATED,
) -> Callable[[Path, Resources], Path]:
    def make(folder: Path, _r: Resources) -> Path:
        wheel = _raw_wheel(
            folder / "wheels",
            "sdhard_x-1.0-py3-none-any.whl",
            {**entries, **_dist_info(stem)},
            top_level,
            compression,
        )
        return _hand_wheelhouse(folder / "runs", [wheel])

    return make


def _many_wheel_entries(folder: Path, r: Resources) -> Path:
    entries = {f"sdhard_x/m{i}.py": b"" for i in range(100_001)}
    return _hostile_wheel(entries, compression=zipfile.ZIP_STORED)(folder, r)


def _wheel_bomb(folder: Path, r: Resources) -> Path:
    # 64 MiB of zeros deflate to about 64 KB: a ratio of 1000
    entries = {"sdhard_x/__init__.py": b"", "sdhard_x/zeros.bin": bytes(64 << 20)}
    return _hostile_wheel(entries)(folder, r)


def _swap_wheelhouse(folder: Path, label: str, padding: int = 0) -> Path:
    shutil.rmtree(folder / label, ignore_errors=True)
    source = f"WHO = '{label}'\n" + "#" * padding
    wheel = make_wheel(folder / label, "sdhard-swap", "1.0", {"sdhard_swap/__init__.py": source})
    return _good_wheelhouse(folder / label / "runs", [wheel])[0]


def _two_wheelhouses(folder: Path) -> tuple[Path, Path]:
    """Two good wheelhouses of one package, different bytes but one size: "checked", "swapped"."""
    checked = _swap_wheelhouse(folder, "checked")
    for padding in range(64):
        swapped = _swap_wheelhouse(folder, "swapped", padding)
        if swapped.stat().st_size == checked.stat().st_size:
            return checked, swapped
    raise AssertionError("no padding gives two wheelhouses of one size")


def _load_swapped_mid_load(folder: Path, _r: Resources) -> Path:
    checked, _swapped = _two_wheelhouses(folder)
    return checked


@contextmanager
def _swap_after_hash(source: Path) -> Iterator[None]:
    """Replace the wheelhouse (os.replace) once load has hashed it, before it reads on."""
    from sparkdeps._core import wheelhouse  # _runtime.fetch imports read_manifest on use

    swapped = source.parents[3] / "swapped" / "runs" / "run-hostile" / "wheelhouse.zip"
    original = wheelhouse.read_manifest

    done: list[bool] = []

    def swapping(zip_path: Path, *, origin: str | None = None) -> Manifest:
        if not done:
            done.append(True)
            # a copy with the original's size and mtime: the snapshot sees no change of ours
            info = source.stat()
            twin = source.with_name(".twin")
            shutil.copyfile(swapped, twin)
            os.utime(twin, ns=(info.st_atime_ns, info.st_mtime_ns))
            os.replace(twin, source)
        return original(zip_path, origin=origin)

    wheelhouse.read_manifest = swapping
    try:
        yield
    finally:
        wheelhouse.read_manifest = original


def _checked_bytes_installed(box: Sandbox, source: Path, _message: str) -> list[str]:
    """The install is the file that was hashed (WHO = 'checked'), under that file's digest."""
    installs = box.cache / "node" / "installs"
    found = sorted(installs.glob("*/sdhard_swap/__init__.py"))
    if len(found) != 1:
        return [f"{len(found)} installs of sdhard_swap"]
    if "checked" not in found[0].read_text():
        return [f"installed bytes that were not checked: {found[0]} says {found[0].read_text()!r}"]
    return []


def _load_pin_mismatch(folder: Path, _r: Resources) -> Path:
    checked, swapped = _two_wheelhouses(folder)
    import hashlib

    other = hashlib.sha256(swapped.read_bytes()).hexdigest()
    return Path(f"{checked}#sha256={other}")


def _replaced_same_stamp(folder: Path, _r: Resources) -> Path:
    """Loaded once (warm cache), then overwritten in place: same size, same mtime."""
    from sparkdeps._runtime.load import load

    checked, swapped = _two_wheelhouses(folder)
    load(checked, delivery="driver-only", cache_dir=folder.parent / "cache")
    info = checked.stat()
    data = swapped.read_bytes()
    assert len(data) == info.st_size  # one character differs: same size
    with checked.open("r+b") as handle:
        handle.write(data)
    os.utime(checked, ns=(info.st_atime_ns, info.st_mtime_ns))
    return checked


def _digest_is_the_files(box: Sandbox, source: Path, message: str) -> list[str]:
    import hashlib

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if f"digest='{digest}'" not in message:
        return ["load reported another file's digest (the old install taken for the new file)"]
    return _swapped_installed(box)


def _swapped_installed(box: Sandbox) -> list[str]:
    found = [p for p in (box.cache / "node" / "installs").glob("*/sdhard_swap/__init__.py")]
    if not any("swapped" in p.read_text() for p in found):
        return ["the new file was not installed"]
    return []


def _plant(node: Path, digest: str, where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "sdhard_swap").mkdir(exist_ok=True)
    (where / "sdhard_swap" / "__init__.py").write_text("WHO = 'planted'\n")
    marker = {"digest": digest, "wheels": [], "top_level": ["sdhard_swap"], "target": {}}
    (where / ".sparkdeps-install.json").write_text(json.dumps(marker))


def _open_cache_root(folder: Path, _r: Resources) -> Path:
    """A node cache anyone can write, with an install planted before the first load."""
    import hashlib

    checked, _swapped = _two_wheelhouses(folder)
    node = folder.parent / "cache" / "node"
    digest = hashlib.sha256(checked.read_bytes()).hexdigest()
    _plant(node, digest, node / "installs" / digest)
    for path in (node.parent, node, node / "installs"):
        path.chmod(0o777)
    return checked


def _ref_points_outside(folder: Path, _r: Resources) -> Path:
    """A ref file (old and new layout) naming a folder outside installs/."""
    import hashlib

    checked, _swapped = _two_wheelhouses(folder)
    node = folder.parent / "cache" / "node"
    node.mkdir(parents=True, exist_ok=True, mode=0o700)
    _plant(node, "planted", folder / "planted")
    info = checked.stat()
    digest = "../../../inputs/planted"
    key = hashlib.sha256(os.fspath(checked).encode()).hexdigest()[:32]
    (node / "installs").mkdir(mode=0o700)
    refs = node / "refs"
    refs.mkdir(mode=0o700)
    stamp = [os.fspath(checked), info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns]
    (refs / f"{key}.json").write_text(
        json.dumps(
            {
                "uri": os.fspath(checked),
                "size": info.st_size,
                "mtime_ns": info.st_mtime_ns,
                "stamp": stamp,
                "digest": digest,
            }
        )
    )
    return checked


def _not_planted(box: Sandbox, source: Path, message: str) -> list[str]:
    if "planted" in message or any("planted" in entry for entry in sys.path):
        return ["the planted install was used"]
    return _checked_installed_once(box)


def _checked_installed_once(box: Sandbox) -> list[str]:
    found = list((box.cache / "node" / "installs").glob("*/sdhard_swap/__init__.py"))
    if [p.read_text() for p in found] != ["WHO = 'checked'\n"]:
        return [f"installs: {[p.read_text() for p in found]}"]
    return []


def _load_run_folder(folder: Path, _r: Resources) -> Path:
    (folder / "runs" / "not-a-run").mkdir(parents=True)
    return folder / "runs" / "not-a-run"


def _load_fifo(folder: Path, _r: Resources) -> Path:
    path = folder / "runs" / "run-fifo" / "wheelhouse.zip"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    return path


def _cache_is_a_file(folder: Path, _r: Resources) -> Path:
    checked, _swapped = _two_wheelhouses(folder)
    cache = folder.parent / "cache"  # the sandbox's SPARKDEPS_CACHE_DIR
    cache.rmdir()
    cache.write_text("not a folder\n")
    return checked


def _corrupt_install_marker(folder: Path, _r: Resources) -> Path:
    import hashlib

    checked, _swapped = _two_wheelhouses(folder)
    node = folder.parent / "cache" / "node"
    digest = hashlib.sha256(checked.read_bytes()).hexdigest()
    (node / "installs" / digest).mkdir(parents=True, mode=0o700)
    for path in (node.parent, node, node / "installs"):
        path.chmod(0o700)
    (node / "installs" / digest / ".sparkdeps-install.json").write_text("{not json")
    return checked


# --------------------------------------------------------------------------- limits, round 2


def _zero_member_wheel(folder: Path, name: str, size: int) -> Path:
    """A wheel with a RECORD that is right, whose one data member is ``size`` zero bytes.

    Written in chunks, so making it costs no memory; it deflates about 1000:1.
    """
    import base64
    import hashlib

    module = name.replace("-", "_")
    path = folder / f"{module}-1.0-py3-none-any.whl"
    path.parent.mkdir(parents=True, exist_ok=True)
    small = {
        f"{module}/__init__.py": b"",
        f"{module}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{module}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }

    def record_hash(digest: bytes) -> str:
        return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    rows = [f"{n},{record_hash(hashlib.sha256(d).digest())},{len(d)}" for n, d in small.items()]
    chunk, digest = bytes(1 << 20), hashlib.sha256()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in small.items():
            archive.writestr(member, data)
        with archive.open(f"{module}/zeros.bin", "w", force_zip64=True) as out:
            for _ in range(size // len(chunk)):
                out.write(chunk)
                digest.update(chunk)
        rows.append(f"{module}/zeros.bin,{record_hash(digest.digest())},{size}")
        rows.append(f"{module}-1.0.dist-info/RECORD,,")
        archive.writestr(f"{module}-1.0.dist-info/RECORD", "\n".join(rows) + "\n")
    return path


def _build_wheel_bomb(folder: Path, _r: Resources) -> Path:
    # 384 MiB inflated from about 0.4 MB: reading members whole would take it all in memory
    return _zero_member_wheel(folder / "in", "sdhard-bomb", 384 << 20).parent


def _build_wheel_many_entries(folder: Path, _r: Resources) -> Path:
    files: dict[str, str | bytes] = {f"sdhard_many/m{i}.py": b"" for i in range(100_001)}
    return make_wheel(folder / "in", "sdhard-many", "1.0", files).parent


def _manifest_bomb(folder: Path, _r: Resources) -> Path:
    """A wheelhouse whose manifest.json inflates to 160 MiB (whitespace, then a manifest)."""
    wheel = _pure(folder)
    _out, manifest = _good_wheelhouse(folder / "runs", [wheel])
    out = folder / "runs" / "run-hostile" / "wheelhouse.zip"
    chunk = b" " * (1 << 20)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("manifest.json", "w", force_zip64=True) as member:
            for _ in range(160):
                member.write(chunk)
            member.write(manifest.to_json())
        archive.write(wheel, f"wheels/{wheel.name}", zipfile.ZIP_STORED)
    return out


def _folder_sparse_file(folder: Path, _r: Resources) -> Path:
    source = folder / "project"
    source.mkdir(parents=True)
    (source / "good_mod.py").write_bytes(MOD)
    with (source / "data.bin").open("wb") as handle:
        handle.truncate(3 << 30)  # 3 GiB that take no disk: a copy would write them all
    return source


def _folder_with_name(name: str) -> Callable[[Path, Resources], Path]:
    def make(folder: Path, _r: Resources) -> Path:
        source = folder / "project"
        (source / "pkg").mkdir(parents=True)
        (source / "pkg" / "__init__.py").write_bytes(MOD)
        (source / "pkg" / name).write_bytes(MOD)
        return source

    return make


def _folder_with_module(name: str) -> Callable[[Path, Resources], Path]:
    def make(folder: Path, _r: Resources) -> Path:
        source = folder / "project"
        source.mkdir(parents=True)
        (source / "good_mod.py").write_bytes(MOD)
        (source / name).write_bytes(MOD)
        return source

    return make


def _modules_folder(folder: Path, _r: Resources) -> Path:
    source = folder / "project"
    source.mkdir(parents=True)
    (source / "good_mod.py").write_bytes(MOD)
    return source


# --------------------------------------------------------------------------- cleanup makers


def _marker(folder: Path, data: object | str, run_id: str | None = None) -> Path:
    """A folder ``folder`` with a ``run.json`` (``data`` as JSON, or raw text) and a victim file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.csv").write_text("a,b\n1,2\n")
    text = data if isinstance(data, str) else json.dumps(data)
    (folder / "run.json").write_text(text)
    return folder


def _own_marker(run_id: str, **changes: object) -> dict[str, object]:
    marker: dict[str, object] = {
        "run_id": run_id,
        "created": "2020-01-01T00:00:00+00:00",
        "digest": "a" * 64,
        "sparkdeps_version": "0.1.0",
        "input_digest": "b" * 64,
    }
    marker.update(changes)
    return marker


def _victims(folder: Path) -> Path:
    """Files a forged digest aims at: ``victim.zip`` and ``victim.connect/``, outside any run."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "victim.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (folder / "victim.connect").mkdir(exist_ok=True)
    (folder / "victim.connect" / "kept.txt").write_text("not sparkdeps'\n")
    return folder


def _forged_digest_dotdot(run_id: str) -> Callable[[Path, Resources], Path]:
    def make(folder: Path, _r: Resources) -> Path:
        _victims(folder / "precious")
        # <cache>/node/payloads/../../../inputs/precious/victim.zip: the sandbox's own inputs
        digest = "../../../inputs/precious/victim"
        return _marker(folder / "base" / run_id, _own_marker(run_id, digest=digest))

    return make


def _forged_digest_absolute(folder: Path, _r: Resources) -> Path:
    victims = _victims(folder / "precious")
    digest = os.fspath(victims / "victim")
    return _marker(folder / "base" / "run-abs", _own_marker("run-abs", digest=digest))


def _marker_not_ours(text: object | str) -> Callable[[Path, Resources], Path]:
    def make(folder: Path, _r: Resources) -> Path:
        return _marker(folder / "base" / "training-data", text)

    return make


def _marker_other_run_id(folder: Path, _r: Resources) -> Path:
    return _marker(folder / "base" / "models", _own_marker("run-elsewhere"))


def _marker_nan_created(folder: Path, _r: Resources) -> Path:
    marker = json.dumps(_own_marker("run-nan")).replace('"2020-01-01T00:00:00+00:00"', "NaN")
    _marker(folder / "base" / "run-nan", marker)
    return folder / "base"


def _other_zip(folder: Path, _r: Resources) -> Path:
    data = folder / "base" / "run-zip"
    _marker(data, _own_marker("run-zip"))
    (data / "backup.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    return data / "backup.zip"


def _marker_fifo(folder: Path, _r: Resources) -> Path:
    run = folder / "base" / "run-fifo"
    run.mkdir(parents=True)
    (run / "data.csv").write_text("a,b\n")
    os.mkfifo(run / "run.json")
    return run


def _marker_symlink(folder: Path, _r: Resources) -> Path:
    elsewhere = folder / "elsewhere.json"
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    elsewhere.write_text(json.dumps(_own_marker("run-link")))
    run = folder / "base" / "run-link"
    run.mkdir(parents=True)
    (run / "data.csv").write_text("a,b\n")
    (run / "run.json").symlink_to(elsewhere)
    return run


def _cwd_is_a_run(folder: Path, _r: Resources) -> Path:
    # `cleanup /` once meant "the current folder": make the current folder look like a run
    return _marker(folder / "cwd", _own_marker("cwd"))


# --------------------------------------------------------------------------- round 3 makers


def _needs_nothing(text: str) -> Callable[[Path, Resources], Path]:
    """A requirements input whose every package the target's runtime has (or never needs)."""
    return _requirements(text)


def _all_optional_poetry(folder: Path, _r: Resources) -> Path:
    project = folder / "optional"
    project.mkdir(parents=True, exist_ok=True)
    (project / "poetry.lock").write_text(
        '[[package]]\nname = "sdhard-dep"\nversion = "1.0"\noptional = true\n'
        'python-versions = "*"\nfiles = [{file = "sdhard_dep-1.0-py3-none-any.whl", '
        f'hash = "sha256:{"0" * 64}"}}]\n\n[metadata]\nlock-version = "2.0"\n'
        'python-versions = "*"\ncontent-hash = "x"\n'
    )
    return project / "poetry.lock"


def _built_empty(_box: Sandbox, _source: Path, message: str) -> list[str]:
    """The build must succeed with an empty wheelhouse (BuildResult's repr names its wheels)."""
    return [] if "wheels=()" in message else [f"not an empty wheelhouse: {message[:300]}"]


def _export_wheelhouse(
    folder: Path,
    change: Callable[[WheelInfo], WheelInfo] = lambda info: info,
    pylock: Callable[[str], str] | None = None,
) -> Path:
    """A wheelhouse with one real wheel whose manifest entry (or stored lock) was changed."""
    import dataclasses

    from sparkdeps._build.export import pylock_text

    wheel = _raw_wheel(
        folder / "wheels",
        "sdhard_x-1.0-py3-none-any.whl",
        {"sdhard_x/__init__.py": b"X = 1\n", **_dist_info("sdhard_x-1.0")},
        ("sdhard_x",),
    )
    honest = Manifest(
        format="existing_wheels",
        target=host_target().to_dict(),
        wheels=(wheel[1],),
        input_digest="hostile",
    )
    lock = pylock_text(honest)
    manifest = dataclasses.replace(honest, wheels=(change(wheel[1]),))
    out = folder / "runs" / "run-hostile" / "wheelhouse.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {"pylock.toml": (pylock(lock) if pylock else lock).encode()}
    write_wheelhouse([wheel[0]], manifest, out, extra=extra)
    return out


_INJECTED = "1.0\n--extra-index-url http://127.0.0.1:9/simple\n-r /etc/passwd"


def _export_version_injected(folder: Path, _r: Resources) -> Path:
    import dataclasses

    return _export_wheelhouse(folder, lambda info: dataclasses.replace(info, version=_INJECTED))


def _export_name_injected(folder: Path, _r: Resources) -> Path:
    import dataclasses

    name = "sdhard-x\n--index-url http://127.0.0.1:9/simple"
    return _export_wheelhouse(folder, lambda info: dataclasses.replace(info, name=name))  # type: ignore[arg-type]


def _export_sha_forged(folder: Path, _r: Resources) -> Path:
    import dataclasses

    return _export_wheelhouse(folder, lambda info: dataclasses.replace(info, sha256="0" * 64))


def _export_pylock_tampered(folder: Path, _r: Resources) -> Path:
    return _export_wheelhouse(
        folder,
        pylock=lambda text: text.replace(
            "path = ", 'url = "http://127.0.0.1:9/evil.whl", path = ', 1
        ),
    )


def _uv_lock_text(pins: Mapping[str, tuple[str, str]], members: str) -> str:
    """A uv.lock: ``pins`` is name -> (version, sha256); ``members`` the [manifest] line."""
    parts = ['version = 1\nrevision = 3\nrequires-python = ">=3.10"\n', members]
    for name, (version, digest) in pins.items():
        stem = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        parts.append(
            f'\n[[package]]\nname = "{name}"\nversion = "{version}"\n'
            'source = { registry = "http://127.0.0.1:9/simple/" }\n'
            f'wheels = [{{ url = "http://127.0.0.1:9/files/{stem}", hash = "sha256:{digest}" }}]\n'
        )
        if name == "sdhard-dep" and "sdhard-leaf" in pins:
            parts.append('dependencies = [{ name = "sdhard-leaf" }]\n')
    return "".join(parts)


def _planted_uv_workspace(folder: Path, r: Resources) -> Path:
    """A uv project with its own lock; above the build's temp folder (the sandbox's TMPDIR)
    another user planted a workspace claiming every build's input, with another lock."""
    import hashlib

    def digest(stem: str) -> str:
        return hashlib.sha256((r.packages / stem).read_bytes()).hexdigest()

    project = folder / "uvproject"
    (project / "sdhard_uvproj").mkdir(parents=True, exist_ok=True)
    (project / "sdhard_uvproj" / "__init__.py").write_text("X = 1\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '\n[project]\nname = "sdhard-uvproj"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["sdhard-dep"]\n\n[tool.setuptools]\npackages = ["sdhard_uvproj"]\n'
    )
    own = {
        "sdhard-dep": ("1.0", digest("sdhard_dep-1.0-py3-none-any.whl")),
        "sdhard-leaf": ("1.0", digest("sdhard_leaf-1.0-py3-none-any.whl")),
    }
    project_entry = (
        '\n[[package]]\nname = "sdhard-uvproj"\nversion = "0.1.0"\nsource = { editable = "." }\n'
        'dependencies = [{ name = "sdhard-dep" }]\n'
    )
    (project / "uv.lock").write_text(_uv_lock_text(own, "") + project_entry)
    planted = folder.parent / "tmp"
    planted.mkdir(parents=True, exist_ok=True)
    (planted / "pyproject.toml").write_text(
        '[project]\nname = "planted"\nversion = "0"\n\n[tool.uv.workspace]\n'
        'members = ["sparkdeps-build-*/input"]\n'
    )
    other = {"sdhard-dep": ("6.6.6", "0" * 64)}
    (planted / "uv.lock").write_text(
        _uv_lock_text(other, '\n[manifest]\nmembers = ["planted", "sdhard-uvproj"]\n')
        + project_entry.replace('editable = "."', 'editable = "sparkdeps-build-x/input"')
        + '\n[[package]]\nname = "planted"\nversion = "0"\nsource = { virtual = "." }\n'
    )
    return project


def _built_from_own_lock(_box: Sandbox, _source: Path, message: str) -> list[str]:
    if "sdhard_dep-1.0-py3-none-any.whl" in message and "6.6.6" not in message:
        return []
    return [f"not built from the input's own uv.lock: {message[:400]}"]


_POETRY_TAIL = '\n[metadata]\nlock-version = "2.0"\npython-versions = "*"\ncontent-hash = "x"\n'
_ZEROS = "0" * 64


def _poetry(body: str) -> Callable[[Path, Resources], Path]:
    """A lone ``poetry.lock`` input: ``body`` (its [[package]] tables) and the metadata."""

    def make(folder: Path, _r: Resources) -> Path:
        path = folder / "lock" / "poetry.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body + _POETRY_TAIL)
        return path

    return make


def _poetry_package(**fields: str) -> str:
    """One [[package]] table: sdhard-leaf 1.0 with one wheel, ``fields`` replacing lines
    (a value is written as given: quoted TOML strings, arrays, numbers)."""
    lines = {
        "name": '"sdhard-leaf"',
        "version": '"1.0"',
        "python-versions": '"*"',
        "files": f'[{{file = "sdhard_leaf-1.0-py3-none-any.whl", hash = "sha256:{_ZEROS}"}}]',
        **fields,
    }
    return "[[package]]\n" + "".join(f"{key} = {value}\n" for key, value in lines.items() if value)


def _deeply_nested(folder: Path, _r: Resources) -> Path:
    path = folder / "lock" / "poetry.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n" + _POETRY_TAIL)
    return path


def _lock_and_newer_wheel(folder: Path, r: Resources) -> Path:
    """A hashed requirements lock pins sdhard-leaf 1.0; the input also holds its 2.0 wheel."""
    import hashlib

    project = folder / "locked-and-wheel"
    project.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256((r.packages / "sdhard_leaf-1.0-py3-none-any.whl").read_bytes())
    (project / "requirements.txt").write_text(
        f"sdhard-leaf==1.0 --hash=sha256:{digest.hexdigest()}\n"
    )
    make_wheel(project, "sdhard-leaf", "2.0", {"sdhard_leaf/__init__.py": "LEAF = 2\n"})
    return project


def big_lock(path: Path, size: int) -> Path:
    """A ``poetry.lock`` or ``pylock.toml`` (by ``path``'s name) of about ``size`` bytes,
    shaped like a real one: packages, each with 20 wheels and their hashes."""
    pylock = path.name.startswith("pylock")
    head = (
        'lock-version = "1.0"\ncreated-by = "hardening"\n'
        if pylock
        else '[metadata]\nlock-version = "2.0"\npython-versions = "*"\ncontent-hash = "x"\n'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:  # written as it goes: the maker holds one package at a time
        out.write(head)
        written, number = len(head), 0
        while written < size:
            chunk = _big_lock_package(number, pylock=pylock)
            out.write(chunk)
            written += len(chunk)
            number += 1
    return path


def _big_lock_package(number: int, *, pylock: bool) -> str:
    """One package of :func:`big_lock`: 20 wheels, each with its hash."""
    name = f"sdbig-{number:06d}"
    wheels = [
        f"sdbig_{number:06d}-1.0-cp3{minor}-cp3{minor}-manylinux_2_17_x86_64.whl"
        for minor in range(20)
    ]
    digest = f"{number:064x}"
    if pylock:
        files = ",\n".join(
            f'  {{ name = "{wheel}", url = "https://127.0.0.1:9/{wheel}", '
            f'hashes = {{ sha256 = "{digest}" }} }}'
            for wheel in wheels
        )
        return f'\n[[packages]]\nname = "{name}"\nversion = "1.0"\nwheels = [\n{files}\n]\n'
    files = ",\n".join(f'  {{file = "{wheel}", hash = "sha256:{digest}"}}' for wheel in wheels)
    return (
        f'\n[[package]]\nname = "{name}"\nversion = "1.0"\ndescription = ""\n'
        f'optional = false\npython-versions = "*"\nfiles = [\n{files}\n]\n'
    )


def _big_lock(name: str, megabytes: int) -> Callable[[Path, Resources], Path]:
    def make(folder: Path, _r: Resources) -> Path:
        return big_lock(folder / "big" / name, megabytes << 20)

    return make


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    id: str
    phase: Phase
    make: Callable[[Path, Resources], Path]
    error: type[SparkdepsError] | None
    """None: it must not raise (a sweep keeps what is not its own); the message is the result."""
    mentions: tuple[str, ...]
    """Every one must appear in the message: the input, file or entry at fault."""
    fix: tuple[str, ...]
    """At least one must appear: the message says what to do (none given: nothing to say)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    """Must not appear in the message (secrets, untrimmed output)."""
    probes: tuple[str, ...] = ()
    """Absolute paths an escaping entry would have written: must not exist afterwards."""
    during: Callable[[Path], AbstractContextManager[None]] | None = None
    """Active around the action (given the input): e.g. replaces the file mid-load."""
    verdict: Callable[[Sandbox, Path, str], list[str]] | None = None
    """For a case that must load: problems with what was installed (checked bytes only)."""
    act: Callable[[Path, Sandbox], str] | None = None
    """The action, when it is not the phase's usual build, load or cleanup (given the input)."""
    publishes: bool = False
    """A build that must succeed: its run folder under dest is the result, not a leak."""
    large: bool = False
    """Its input is tens of MB: removed once the outcome is known (pytest keeps temp folders)."""


_SMALL = ArchiveLimits(max_total_size=1 << 20)
_FEW = ArchiveLimits(max_entries=2000)
_REFUSED_BY_DEFAULT = ("pass the index to sparkdeps", "allow_index_options")

CASES: tuple[Case, ...] = (
    Case(
        "zip-dotdot",
        "build",
        _dotdot,
        UnsafeArchiveError,
        ("dotdot.zip", "../escaped_dotdot.py"),
        ("re-create it without '..'",),
    ),
    Case(
        "zip-dotdot-deep",
        "build",
        _dotdot_deep,
        UnsafeArchiveError,
        ("deep.zip", "escaped_deep.py"),
        ("re-create it without '..'",),
        probes=("/tmp/escaped_deep.py",),
    ),
    Case(
        "zip-absolute-path",
        "build",
        _absolute,
        UnsafeArchiveError,
        ("absolute.zip", "/tmp/sparkdeps_hardening_abs.py"),
        ("relative paths",),
        probes=("/tmp/sparkdeps_hardening_abs.py",),
    ),
    Case(
        "zip-backslash-path",
        "build",
        _backslash,
        UnsafeArchiveError,
        ("backslash.zip", "escaped_backslash.py"),
        ("re-create it",),
    ),
    Case(
        "zip-drive-letter",
        "build",
        _drive,
        UnsafeArchiveError,
        ("drive.zip", "escaped_drive.py"),
        ("relative paths",),
    ),
    Case(
        "zip-symlink-entry",
        "build",
        _symlink,
        UnsafeArchiveError,
        ("symlink.zip", "linked.py"),
        ("archive the real files",),
    ),
    Case(
        "zip-bomb-ratio",
        "build",
        _ratio_bomb,
        UnsafeArchiveError,
        ("ratio_bomb.zip",),
        ("max_ratio",),
    ),
    Case(
        "zip-bomb-total-size",
        "build",
        _total_bomb,
        UnsafeArchiveError,
        ("total_bomb.zip",),
        ("raise ArchiveLimits.max_total_size",),
        options={"limits": _SMALL},
    ),
    Case(
        "zip-lying-sizes",
        "build",
        _lying_sizes,
        InputError,
        ("lying.zip", "big.bin"),
        ("re-create",),
    ),
    Case(
        "zip-duplicate-entry",
        "build",
        _duplicate,
        UnsafeArchiveError,
        ("duplicate.zip", "good_mod.py"),
        ("keep one",),
    ),
    Case(
        "zip-duplicate-after-normalising",
        "build",
        _duplicate_normalised,
        UnsafeArchiveError,
        ("duplicate2.zip", "pkg/mod.py"),
        ("keep one",),
    ),
    Case(
        "zip-encrypted",
        "build",
        _encrypted,
        InputError,
        ("encrypted.zip", "is encrypted"),
        ("without a password",),
    ),
    Case("zip-not-a-zip", "build", _not_a_zip, InputError, ("notazip.zip",), ("re-create",)),
    Case("zip-empty", "build", _empty_zip, InputError, ("empty.zip",), ("expected",)),
    Case(
        "zip-too-many-entries",
        "build",
        _many_entries,
        UnsafeArchiveError,
        ("many.zip", "2001"),
        ("raise ArchiveLimits.max_entries",),
        options={"limits": _FEW},
    ),
    Case(
        "zip-nested-too-deep", "build", _too_deep, UnsafeArchiveError, ("l4.zip",), ("max_depth",)
    ),
    Case(
        "folder-symlink-outside",
        "build",
        _folder_symlink,
        UnsafeArchiveError,
        ("stolen.py",),
        ("replace it by the real file",),
    ),
    Case(
        "name-bidi-override",
        "build",
        _bidi_name,
        UnsafeArchiveError,
        ("bidi.zip", "U+202E"),
        ("rename",),
    ),
    Case(
        "name-zero-width",
        "build",
        _zero_width_name,
        UnsafeArchiveError,
        ("zerowidth.zip", "U+200B"),
        ("rename",),
    ),
    Case(
        "req-editable",
        "build",
        _requirements("-e ./proj\n"),
        InputError,
        ("requirements.txt:1", "-e"),
        ("put the project folder in the input",),
    ),
    Case(
        "req-index-url",
        "build",
        _requirements(f"--index-url http://admin:{SECRET}@127.0.0.1:9/simple/\nsdhard-dep\n"),
        InputError,
        ("requirements.txt:1", "--index-url"),
        _REFUSED_BY_DEFAULT,
        absent=(SECRET,),
    ),
    Case(
        "req-extra-index-url",
        "build",
        _requirements("sdhard-dep\n--extra-index-url=http://127.0.0.1:9/simple/\n"),
        InputError,
        ("requirements.txt:2", "--extra-index-url"),
        _REFUSED_BY_DEFAULT,
    ),
    Case(
        "req-trusted-host",
        "build",
        _requirements("--trusted-host 127.0.0.1\nsdhard-dep\n"),
        InputError,
        ("requirements.txt:1", "--trusted-host"),
        _REFUSED_BY_DEFAULT,
    ),
    Case(
        "req-include-outside",
        "build",
        _include_outside,
        InputError,
        ("requirements.txt:1", "../shared.txt"),
        ("put the included file inside the input",),
    ),
    Case(
        "req-constraint-absolute",
        "build",
        _requirements("-c /etc/hosts\nsdhard-dep\n"),
        InputError,
        ("requirements.txt:1", "/etc/hosts"),
        ("put the included file inside",),
    ),
    Case(
        "req-direct-url",
        "build",
        _requirements("sdhard-dep @ http://127.0.0.1:9/sdhard_dep-1.0-py3-none-any.whl\n"),
        InputError,
        ("requirements.txt:1", "sdhard-dep"),
        ("publish the package to an index",),
    ),
    Case(
        "req-vcs",
        "build",
        _requirements("git+https://127.0.0.1:9/org/repo.git#egg=repo\n"),
        InputError,
        ("requirements.txt:1", "git+https"),
        ("publish the package to an index",),
    ),
    Case(
        "req-local-path",
        "build",
        _requirements("./vendor/thing-1.0-py3-none-any.whl\n"),
        InputError,
        ("requirements.txt:1", "vendor/thing"),
        ("put its wheel",),
    ),
    Case(
        "req-wrong-hash",
        "build",
        _wrong_hash,
        ResolutionError,
        ("requirements.txt:2", "sdhard-leaf"),
        ("correct the --hash",),
    ),
    Case(
        "req-require-hashes-unhashed-dependency",
        "build",
        _unhashed_dependency,
        ResolutionError,
        # a file whose every line is pinned with a hash is a lock: its gap is named
        ("requirements.txt", "sdhard-leaf>=1.0 needed by sdhard-dep"),
        ("add a pinned line",),
    ),
    Case(
        "req-require-hashes-unhashed",
        "build",
        _requirements("--require-hashes\nsdhard-dep==1.0\n"),
        InputError,
        ("requirements.txt:2", "sdhard-dep"),
        ("add --hash",),
    ),
    Case(
        "wheel-record-tampered",
        "build",
        _record_tampered,
        IntegrityError,
        ("sdhard_tampered-1.0-py3-none-any.whl", "sdhard_tampered.py"),
        ("rebuild",),
    ),
    Case(
        "wheel-record-unlisted-file",
        "build",
        _record_unlisted,
        IntegrityError,
        ("sdhard_sneaky-1.0-py3-none-any.whl", "sitecustomize.py"),
        ("rebuild",),
    ),
    Case(
        "wheel-name-lies",
        "build",
        _lying_name,
        IntegrityError,
        ("sdhard_liar-1.0-py3-none-any.whl", "requests"),
        ("original name",),
    ),
    Case(
        "wheel-version-lies",
        "build",
        _lying_version,
        IntegrityError,
        ("sdhard_liar-1.0-py3-none-any.whl", "9.9"),
        ("original name",),
    ),
    Case(
        "wheel-not-a-zip",
        "build",
        _wheel_not_zip,
        IntegrityError,
        ("sdhard_fake-1.0-py3-none-any.whl",),
        ("rebuild",),
    ),
    Case(
        "runtime-set-not-utf8",
        "build",
        _runtime_set(b"numpy==1.23.5\n\xff\xfe\x00junk==1.0\n"),
        InputError,
        ("runtime.txt", "not UTF-8"),
        ("pip list --format=freeze",),
        options={"runtime_file": "runtime.txt"},
    ),
    Case(
        "runtime-set-bad-version",
        "build",
        _runtime_set(b"# python 3.10\nnumpy==@@@\n"),
        InputError,
        ("runtime.txt, line 2", "numpy==@@@", "not a version"),
        ("pip list --format=freeze",),
        options={"runtime_file": "runtime.txt"},
        absent=("constraints.txt",),
    ),
    Case(
        "runtime-set-specifier-list",
        "build",
        _runtime_set(b"x==1.0,>=0\n"),
        InputError,
        ("runtime.txt, line 1", "not a version"),
        ("pip list --format=freeze",),
        options={"runtime_file": "runtime.txt"},
    ),
    Case(
        "runtime-set-marker",
        "build",
        _runtime_set(b"numpy==1.23.5\nsdhard-leaf==1.0 ; python_version < '3'\n"),
        InputError,
        ("runtime.txt, line 2", "markers"),
        ("pip list --format=freeze",),
        options={"runtime_file": "runtime.txt"},
    ),
    Case(
        "runtime-set-url",
        "build",
        _runtime_set(b"sdhard-leaf @ file:///usr/lib/python3/dist-packages\n"),
        InputError,
        ("runtime.txt, line 1", "URL"),
        ("pip list --format=freeze",),
        options={"runtime_file": "runtime.txt"},
    ),
    Case(
        "runtime-set-editable",
        "build",
        _runtime_set(b"numpy==1.23.5\n-e /Workspace/Repos/me/project\n"),
        InputError,
        ("runtime.txt, line 2", "-e"),
        ("pip list --format=freeze",),
        options={"runtime_file": "runtime.txt"},
    ),
    Case(
        "runtime-set-80mb",
        "build",
        _runtime_set(b"".join(b"pkg%06d==1.0.%d\n" % (i, i) for i in range(4096)), repeat=1000),
        InputError,
        ("runtime.txt", "larger than"),
        ("pip list --format=freeze",),
        options={"runtime_file": "runtime.txt"},
    ),
    Case(
        "wheel-wrong-target",
        "build",
        _wheel_wrong_target,
        IncompatibleWheelError,
        ("sdhard_winonly-1.0-cp39-cp39-win_amd64.whl",),
        ("fix: provide a wheel built",),
    ),
    Case(
        "project-build-fails",
        "build",
        _project_fails,
        BuildError,
        ("proj", "BOOM, the compile step failed"),
        ("fix: make the project",),
        options={"build_isolation": False},
        absent=("noise line 000",),
    ),
    Case(
        "load-wheel-changed",
        "load",
        _load_tampered,
        IntegrityError,
        ("sdhard_loadme-1.0-py3-none-any.whl", "wheelhouse.zip"),
        ("rebuild it",),
    ),
    Case(
        "load-manifest-missing",
        "load",
        _load_no_manifest,
        IntegrityError,
        ("wheelhouse.zip", "manifest.json"),
        ("sparkdeps build",),
    ),
    Case(
        "load-manifest-malformed",
        "load",
        _load_malformed_manifest,
        IntegrityError,
        ("wheelhouse.zip", "manifest.json"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "load-manifest-schema",
        "load",
        _load_wrong_schema,
        IntegrityError,
        ("wheelhouse.zip", "schema 99"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "load-manifest-lists-missing-wheel",
        "load",
        _load_missing_wheel,
        IntegrityError,
        ("wheelhouse.zip", "sdhard_loadme-1.0-py3-none-any.whl"),
        ("rebuild",),
    ),
    Case(
        "load-other-python",
        "load",
        _load_other_python,
        IncompatibleWheelError,
        ("sdhard_py39-1.0-cp39-cp39-manylinux_2_17_x86_64.whl", "3.9"),
        ("rebuild it",),
    ),
    Case(
        "load-other-platform",
        "load",
        _load_other_platform,
        IncompatibleWheelError,
        ("sdhard_mac-1.0-py3-none-macosx_11_0_arm64.whl",),
        ("rebuild it", "build it here without --target"),
    ),
    Case(
        "load-not-a-zip", "load", _load_not_a_zip, IntegrityError, ("wheelhouse.zip",), ("rebuild",)
    ),
    Case(
        "load-wheel-escaping-member",
        "load",
        _load_unsafe_member,
        IntegrityError,
        ("sdhard_escape-1.0-py3-none-any.whl", "escaped_by_wheel.py"),
        ("rebuild",),
    ),
    Case(
        "wheel-bomb-at-build",
        "build",
        _build_wheel_bomb,
        IntegrityError,
        ("sdhard_bomb-1.0-py3-none-any.whl", "zip bomb"),
        ("rebuild the wheel",),
    ),
    Case(
        "wheel-too-many-entries-at-build",
        "build",
        _build_wheel_many_entries,
        IntegrityError,
        ("sdhard_many-1.0-py3-none-any.whl", "100004 entries"),
        ("rebuild the wheel",),
    ),
    Case(
        "load-manifest-bomb",
        "load",
        _manifest_bomb,
        IntegrityError,
        ("wheelhouse.zip", "manifest.json"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "folder-sparse-file-over-limit",
        "build",
        _folder_sparse_file,
        UnsafeArchiveError,
        ("project", "data.bin"),
        ("raise ArchiveLimits.max_total_size",),
    ),
    Case(
        "folder-bidi-name",
        "build",
        _folder_with_name("evil\u202eyp.py"),
        UnsafeArchiveError,
        ("project", "U+202E"),
        ("rename",),
    ),
    Case(
        "folder-newline-name",
        "build",
        _folder_with_name("two\nlines.py"),
        UnsafeArchiveError,
        ("project", "U+000A"),
        ("rename",),
    ),
    Case(
        "name-option-escapes",
        "build",
        _modules_folder,
        InputError,
        ("../../escaped_by_name",),
        ("letters, digits",),
        options={"name": "../../escaped_by_name"},
    ),
    Case(
        "dest-inside-source",
        "build",
        _modules_folder,
        InputError,
        ("inside the input folder",),
        ("pass a dest outside",),
        options={"dest_inside_source": True},
    ),
    Case(
        "secret-direct-url-password",
        "build",
        _requirements(
            f"sdhard-dep @ https://admin:{SECRET}@127.0.0.1:9/sdhard_dep-1.0-py3-none-any.whl\n"
        ),
        InputError,
        ("requirements.txt:1", "direct url"),
        ("publish the package to an index",),
        absent=(SECRET,),
    ),
    Case(
        "secret-password-with-at-sign",
        "build",
        _requirements(f"-i https://admin:{SECRET}@x@127.0.0.1:9/simple/\nsdhard-dep\n"),
        InputError,
        ("requirements.txt:1", "-i"),
        _REFUSED_BY_DEFAULT,
        absent=(SECRET,),
    ),
    Case(
        "secret-config-settings",
        "build",
        _requirements(f"sdhard-dep --config-settings=password={SECRET}\n"),
        InputError,
        ("requirements.txt:1", "--config-settings"),
        ("remove it",),
        absent=(SECRET,),
    ),
    Case(
        "secret-load-url-with-password",
        "load",
        _modules_folder,
        StorageError,
        ("https://***@127.0.0.1:9/wheelhouse.zip", "credentials in a storage uri"),
        ("drop the user:password@ part",),
        options={"uri": f"https://user:{SECRET}@127.0.0.1:9/wheelhouse.zip"},
        absent=(SECRET,),
    ),
    Case(
        "stdlib-shadowing-at-build",
        "build",
        _folder_with_module("argparse.py"),
        InputError,
        ("argparse", "shadow the standard library"),
        ("SPARKDEPS_ALLOW_STDLIB_NAMES",),
    ),
    Case(
        "stdlib-shadowing-at-load",
        "load",
        _hostile_wheel(
            {"sdhard_x/__init__.py": b"", "typing/__init__.py": b"X = 1\n"},
            top_level=("sdhard_x", "typing"),
        ),
        IntegrityError,
        ("typing", "shadow the standard library"),
        ("SPARKDEPS_ALLOW_STDLIB_NAMES",),
    ),
    Case(
        "load-replaced-mid-load",
        "load",
        _load_swapped_mid_load,
        None,
        (),
        (),
        during=_swap_after_hash,
        verdict=_checked_bytes_installed,
    ),
    Case(
        "load-pinned-digest-differs",
        "load",
        _load_pin_mismatch,
        IntegrityError,
        ("wheelhouse.zip", "not the wheelhouse the build published"),
        ("run the build again",),
    ),
    Case(
        "load-replaced-same-size-and-mtime",
        "load",
        _replaced_same_stamp,
        None,
        (),
        (),
        verdict=_digest_is_the_files,
    ),
    Case(
        "load-cache-root-writable-by-others",
        "load",
        _open_cache_root,
        StorageError,
        ("node", "can be written by other users"),
        ("chmod 700",),
    ),
    Case(
        "load-ref-file-points-outside",
        "load",
        _ref_points_outside,
        None,
        (),
        (),
        verdict=_not_planted,
    ),
    Case(
        "load-cache-dir-is-a-file",
        "load",
        _cache_is_a_file,
        StorageError,
        ("cache", "is a file"),
        ("set SPARKDEPS_CACHE_DIR",),
    ),
    Case(
        "load-install-marker-corrupt",
        "load",
        _corrupt_install_marker,
        None,
        (),
        (),
        verdict=lambda box, _source, _message: _checked_installed_once(box),
    ),
    Case(
        "load-folder-without-wheelhouse",
        "load",
        _load_run_folder,
        InputError,
        ("not-a-run", "folder without a wheelhouse.zip"),
        ("pass the wheelhouse.zip",),
    ),
    Case(
        "load-fifo",
        "load",
        _load_fifo,
        IntegrityError,
        ("wheelhouse.zip", "not a regular file"),
        ("pass the wheelhouse.zip",),
    ),
    Case(
        "load-dev-zero",
        "load",
        _modules_folder,
        IntegrityError,
        ("/dev/zero", "not a regular file"),
        ("pass the wheelhouse.zip",),
        options={"uri": "/dev/zero"},
    ),
    Case(
        "load-wheel-dist-info-other-name",
        "load",
        _hostile_wheel({"sdhard_x/__init__.py": b""}, stem="requests-2.99"),
        IntegrityError,
        ("sdhard_x-1.0-py3-none-any.whl", "requests-2.99.dist-info"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "load-wheel-dist-info-other-version",
        "load",
        _hostile_wheel({"sdhard_x/__init__.py": b""}, stem="sdhard_x-9.9"),
        IntegrityError,
        ("sdhard_x-1.0-py3-none-any.whl", "sdhard_x-9.9.dist-info"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "load-wheel-unlisted-top-level",
        "load",
        _hostile_wheel({"sdhard_x/__init__.py": b"", "sitecustomize.py": b"import os\n"}),
        IntegrityError,
        ("sdhard_x-1.0-py3-none-any.whl", "sitecustomize"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "load-wheel-member-dot",
        "load",
        _hostile_wheel({"sdhard_x/__init__.py": b"", ".": b"x"}),
        IntegrityError,
        ("sdhard_x-1.0-py3-none-any.whl", "'.'"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "load-wheel-file-then-entries-below",
        "load",
        _hostile_wheel({"sdhard_x/__init__.py": b"", "sdhard_x/__init__.py/evil.py": b""}),
        IntegrityError,
        ("sdhard_x-1.0-py3-none-any.whl", "sdhard_x/__init__.py"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "load-wheel-member-name-too-long",
        "load",
        _hostile_wheel({"sdhard_x/__init__.py": b"", f"sdhard_x/{'n' * 300}.py": b""}),
        IntegrityError,
        ("sdhard_x-1.0-py3-none-any.whl", "over 255 bytes"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "load-wheel-too-many-entries",
        "load",
        _many_wheel_entries,
        IntegrityError,
        ("sdhard_x-1.0-py3-none-any.whl", "100004 entries"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "load-wheel-bomb",
        "load",
        _wheel_bomb,
        IntegrityError,
        ("sdhard_x-1.0-py3-none-any.whl", "zip bomb"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "cleanup-digest-dotdot",
        "cleanup",
        _forged_digest_dotdot("run-forged"),
        InputError,
        ("run.json", "digest"),
        ("was not removed",),
    ),
    Case(
        "cleanup-digest-absolute",
        "cleanup",
        _forged_digest_absolute,
        InputError,
        ("run.json", "digest"),
        ("was not removed",),
    ),
    Case(
        "cleanup-digest-dotdot-job-run-sweep",
        "cleanup",
        _forged_digest_dotdot("job-forged"),
        InputError,
        ("run.json", "digest"),
        ("was not removed",),
        options={"via": "job-run", "job_run_id": "forged"},
    ),
    Case(
        "cleanup-marker-foreign-json",
        "cleanup",
        _marker_not_ours({"epochs": 10}),
        InputError,
        ("training-data", "run.json"),
        ("was not removed",),
    ),
    Case(
        "cleanup-marker-empty",
        "cleanup",
        _marker_not_ours(""),
        InputError,
        ("training-data", "run.json", "not json"),
        ("was not removed",),
    ),
    Case(
        "cleanup-marker-array",
        "cleanup",
        _marker_not_ours([1, 2]),
        InputError,
        ("training-data", "run.json", "list"),
        ("was not removed",),
    ),
    Case(
        "cleanup-marker-other-run-id",
        "cleanup",
        _marker_other_run_id,
        InputError,
        ("models", "run-elsewhere"),
        ("was not removed",),
    ),
    Case(
        "cleanup-created-nan-older-than",
        "cleanup",
        _marker_nan_created,
        None,
        ("kept", "run-nan"),
        (),
        options={"via": "older-than"},
    ),
    Case(
        "cleanup-wheelhouse-option-other-zip",
        "cleanup",
        _other_zip,
        InputError,
        ("backup.zip", "wheelhouse.zip"),
        ("nothing was removed",),
        options={"via": "wheelhouse-option"},
    ),
    Case(
        "cleanup-other-zip",
        "cleanup",
        _other_zip,
        InputError,
        ("backup.zip", "wheelhouse.zip"),
        ("nothing was removed",),
    ),
    Case(
        "cleanup-root",
        "cleanup",
        _cwd_is_a_run,
        InputError,
        ("'/'",),
        ("pass <base>/<run_id>",),
        options={"target": "/", "chdir": True},
    ),
    Case(
        "cleanup-marker-fifo",
        "cleanup",
        _marker_fifo,
        InputError,
        ("run-fifo", "run.json", "not a regular file"),
        ("was not removed",),
    ),
    Case(
        "empty-runtime-has-everything",
        "build",
        _needs_nothing("six\nattrs\n"),
        None,
        (),
        (),
        options={"target": "dbr-14.3"},
        verdict=_built_empty,
        publishes=True,
    ),
    Case(
        "empty-markers-never-hold",
        "build",
        _needs_nothing('sdhard-dep; python_version < "3"\n'),
        None,
        (),
        (),
        verdict=_built_empty,
        publishes=True,
    ),
    Case(
        "empty-all-optional-poetry-lock",
        "build",
        _all_optional_poetry,
        None,
        (),
        (),
        verdict=_built_empty,
        publishes=True,
    ),
    Case(
        "uv-workspace-planted-above-temp",
        "build",
        _planted_uv_workspace,
        None,
        (),
        (),
        options={"build_isolation": False},  # the sandbox has no index for setuptools
        verdict=_built_from_own_lock,
        publishes=True,
    ),
    Case(
        "poetry-lock-83mb",
        "build",
        _big_lock("poetry.lock", 83),
        InputError,
        ("poetry.lock", "83 MB", "16 MB limit"),
        ("hand in the file you meant",),
        large=True,
    ),
    Case(
        "pylock-42mb",
        "build",
        _big_lock("pylock.toml", 42),
        InputError,
        ("pylock.toml", "42 MB", "16 MB limit"),
        ("hand in the file you meant",),
        large=True,
    ),
    Case(
        "toml-deeply-nested",
        "build",
        _deeply_nested,
        InputError,
        ("poetry.lock", "nested too deeply"),
        ("regenerate it",),
    ),
    Case(
        "poetry-lock-package-without-version",
        "build",
        _poetry(_poetry_package(version="")),
        LockError,
        ("poetry.lock", "[[package]] number 1", "'sdhard-leaf'", "version"),
        ("poetry lock",),
    ),
    Case(
        "poetry-lock-package-not-a-table",
        "build",
        _poetry('package = ["sdhard-leaf"]\n'),
        LockError,
        ("poetry.lock", "[[package]] number 1", "name or version"),
        ("poetry lock",),
    ),
    Case(
        "poetry-lock-version-wrong-type",
        "build",
        _poetry(_poetry_package(version="1.0")),
        LockError,
        ("poetry.lock", "version"),
        ("poetry lock",),
    ),
    Case(
        "poetry-lock-files-wrong-type",
        "build",
        _poetry(_poetry_package(files='"sdhard_leaf-1.0-py3-none-any.whl"')),
        LockError,
        ("poetry.lock", "malformed"),
        ("poetry lock",),
    ),
    Case(
        "poetry-lock-bad-marker",
        "build",
        _poetry(_poetry_package(groups='["main"]', markers='"python_version <<< 3"')),
        LockError,
        ("poetry.lock", "malformed", "python_version <<< 3"),
        ("poetry lock",),
    ),
    Case(
        "poetry-lock-not-a-wheel-name",
        "build",
        _poetry(_poetry_package(files=f'[{{file = "leaf.whl", hash = "sha256:{_ZEROS}"}}]')),
        LockError,
        ("poetry.lock", "'leaf.whl'", "not a wheel file name"),
        ("poetry lock",),
    ),
    Case(
        "poetry-lock-huge-version",
        "build",
        _poetry(_poetry_package(version=f'"{"1" * 5000}"')),
        LockError,
        ("poetry.lock", "sdhard-leaf", "not a PEP 440 version"),
        ("poetry lock",),
        absent=("1" * 200,),
    ),
    Case(
        "lock-pin-and-input-wheel-disagree",
        "build",
        _lock_and_newer_wheel,
        LockError,
        ("requirements.txt", "sdhard-leaf==1.0", "sdhard_leaf-2.0-py3-none-any.whl"),
        ("remove one of them",),
    ),
    Case(
        "export-version-injects-options",
        "export",
        _export_version_injected,
        IntegrityError,
        ("wheelhouse.zip!manifest.json", "version"),
        ("rebuild the wheelhouse",),
        absent=("\n--extra-index-url",),
    ),
    Case(
        "export-name-injects-options",
        "export",
        _export_name_injected,
        IntegrityError,
        ("wheelhouse.zip!manifest.json", "sdhard_x-1.0-py3-none-any.whl"),
        ("rebuild the wheelhouse",),
        absent=("\n--index-url",),
    ),
    Case(
        "export-sha256-not-the-wheel",
        "export",
        _export_sha_forged,
        IntegrityError,
        ("sdhard_x-1.0-py3-none-any.whl", "does not match the bytes inside"),
        ("rebuild the wheelhouse",),
    ),
    Case(
        "export-pylock-not-the-manifest",
        "export",
        _export_pylock_tampered,
        IntegrityError,
        ("wheelhouse.zip!pylock.toml", "does not match"),
        ("rebuild the wheelhouse",),
        options={"format": "pylock"},
    ),
    Case(
        "inspect-pylock-not-the-manifest",
        "export",
        _export_pylock_tampered,
        IntegrityError,
        ("wheelhouse.zip!pylock.toml", "does not match"),
        ("rebuild the wheelhouse",),
        options={"format": "pylock", "inspect": True},
    ),
    Case(
        "cleanup-marker-symlink",
        "cleanup",
        _marker_symlink,
        InputError,
        ("run-link", "run.json", "symbolic link"),
        ("was not removed",),
    ),
)


# --------------------------------------------------------------------------- the checker


Snapshot = dict[str, tuple[int, int]]


def snapshot(*roots: Path) -> Snapshot:
    """Every file (and symlink) below ``roots``: path -> (size, mtime_ns)."""
    found: Snapshot = {}
    for root in roots:
        if not root.exists():
            continue
        for current, _dirs, files in os.walk(root):
            for name in files:
                path = Path(current, name)
                try:
                    info = path.lstat()
                except FileNotFoundError:
                    continue
                found[os.fspath(path)] = (info.st_size, info.st_mtime_ns)
    return found


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(path for path, stamp in after.items() if before.get(path) != stamp)


@dataclass(frozen=True)
class Sandbox:
    root: Path

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def dest(self) -> Path:
        return self.root / "dest"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def create(self) -> Sandbox:
        for folder in (self.inputs, self.dest, self.cache, self.tmp, self.home):
            folder.mkdir(parents=True, exist_ok=True)
        return self


@contextmanager
def sandboxed(box: Sandbox) -> Iterator[None]:
    """TMPDIR, tempfile.tempdir, SPARKDEPS_CACHE_DIR and HOME inside the sandbox; restored after."""
    keys = ("TMPDIR", "SPARKDEPS_CACHE_DIR", "HOME", "RUSTUP_HOME")
    saved = {key: os.environ.get(key) for key in keys}
    saved_tempdir = tempfile.tempdir
    rustup = Path.home() / ".rustup"
    if "RUSTUP_HOME" not in os.environ and rustup.is_dir():
        # pip runs `rustc --version` for its User-Agent; a rustup shim facing an empty HOME
        # writes settings.toml there. Keep the machine's own rustup home: not ours to judge.
        os.environ["RUSTUP_HOME"] = os.fspath(rustup)
    os.environ["TMPDIR"] = os.fspath(box.tmp)
    os.environ["SPARKDEPS_CACHE_DIR"] = os.fspath(box.cache)
    os.environ["HOME"] = os.fspath(box.home)
    tempfile.tempdir = os.fspath(box.tmp)
    try:
        yield
    finally:
        tempfile.tempdir = saved_tempdir
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Outcome:
    case: str
    phase: Phase
    error: str | None
    """The class name of what was raised (None: nothing was raised)."""
    message: str
    right_class: bool
    names_input: bool
    says_fix: bool
    leaks: tuple[str, ...]
    """Strings from ``Case.absent`` found in the message."""
    outside_writes: tuple[str, ...]
    half_written: tuple[str, ...]
    installed: bool
    escaped: tuple[str, ...]
    seconds: float
    removed: tuple[str, ...] = ()
    """Files that were there before and are gone, outside the cache root."""
    hung: bool = False
    unchecked: tuple[str, ...] = ()
    """What the case's verdict found wrong with an install (bytes that were not checked)."""
    peak_mb: float = 0.0
    """Peak resident memory of this process while it handled the input."""
    raw: bool = False
    """What was raised is not a SparkdepsError (a raw traceback for the user)."""

    @property
    def clear(self) -> bool:
        return self.right_class and self.names_input and self.says_fix and not self.leaks

    @property
    def ok(self) -> bool:
        return (
            self.clear
            and not self.outside_writes
            and not self.half_written
            and not self.installed
            and not self.escaped
            and not self.removed
            and not self.hung
            and not self.unchecked
            and self.peak_mb < MAX_PEAK_MB
        )

    def problems(self) -> list[str]:
        out = []
        if not self.right_class:
            out.append(f"raised {self.error}")
        if not self.names_input:
            out.append("message does not name the input")
        if not self.says_fix:
            out.append("message does not say what to do")
        if self.leaks:
            out.append(f"message leaks {self.leaks}")
        if self.outside_writes:
            out.append(f"wrote outside the cache root: {list(self.outside_writes)}")
        if self.half_written:
            out.append(f"half-written wheelhouse: {list(self.half_written)}")
        if self.installed:
            out.append("something was installed")
        if self.escaped:
            out.append(f"escaped to {list(self.escaped)}")
        if self.removed:
            out.append(f"removed files that are not sparkdeps': {list(self.removed)}")
        if self.hung:
            out.append(f"hung (no answer after {HANG_SECONDS[self.phase]:.0f}s)")
        out += list(self.unchecked)
        if self.raw:
            out.append(f"a raw {self.error}, not a SparkdepsError")
        if self.peak_mb >= MAX_PEAK_MB:
            out.append(f"peak memory {self.peak_mb:.0f} MB (limit {MAX_PEAK_MB:.0f})")
        return out


def _half_written(dest: Path) -> list[str]:
    if not dest.exists():
        return []
    return sorted(
        os.fspath(path)
        for path in dest.rglob("*")
        if path.name == "wheelhouse.zip" or path.name.endswith(".partial")
    )


def run_case(case: Case, root: Path, resources: Resources) -> Outcome:
    """Make the case's input in a fresh sandbox under ``root``, run it, report what happened."""
    box = Sandbox(root).create()
    for probe in case.probes:
        Path(probe).unlink(missing_ok=True)
    source = case.make(box.inputs, resources)
    published_before = set(_half_written(box.dest)) | (
        {os.fspath(source)} if case.phase == "load" else set()
    )
    before = snapshot(box.root, source.parent)
    started = time.perf_counter()
    during = case.during(source) if case.during is not None else nullcontext()
    baseline = _reset_peak()
    with sandboxed(box), during:
        error, message, hung = _act_guarded(case, source, box, resources)
    peak = _peak_mb() - baseline
    seconds = time.perf_counter() - started
    after = snapshot(box.root, source.parent)
    cache = os.fspath(box.cache) + os.sep
    dest = os.fspath(box.dest) + os.sep
    outside = [
        path
        for path in changed(before, after)
        if not path.startswith(cache) and not (case.publishes and path.startswith(dest))
    ]
    half = [
        path
        for path in _half_written(box.dest)
        if path not in published_before and not (case.publishes and path.endswith(".zip"))
    ]
    installs = os.fspath(box.cache / "node" / "installs") + os.sep
    new_installs = [path for path in changed(before, after) if path.startswith(installs)]
    installed = bool(new_installs) and case.verdict is None
    unchecked = case.verdict(box, source, message) if case.verdict is not None else []
    removed = sorted(path for path in before if path not in after and not path.startswith(cache))
    lowered = message.lower()
    if case.large:
        source.unlink(missing_ok=True)
    return Outcome(
        case=case.id,
        phase=case.phase,
        error=type(error).__name__ if error is not None else None,
        message=message,
        right_class=error is None if case.error is None else isinstance(error, case.error),
        names_input=all(item.lower() in lowered for item in case.mentions),
        says_fix=not case.fix or any(item.lower() in lowered for item in case.fix),
        leaks=tuple(item for item in case.absent if item in message),
        outside_writes=tuple(outside),
        half_written=tuple(half),
        installed=bool(installed),
        escaped=tuple(probe for probe in case.probes if Path(probe).exists()),
        seconds=seconds,
        removed=tuple(removed),
        hung=hung,
        unchecked=tuple(unchecked),
        peak_mb=peak,
        raw=error is not None and not isinstance(error, SparkdepsError),
    )


MAX_PEAK_MB = 300.0
"""Memory one hostile input adds to the process handling it: the peak (``VmHWM``) over
the resident memory when the case began. The whole suite's pytest process holds a few
hundred MB of its own (pyspark, boto3, moto) that no input is to blame for."""


def _reset_peak() -> float:
    """Reset the peak to the current resident memory (Linux >= 4.0) and return it, in MB."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass
    return _status_mb("VmRSS:")


def _peak_mb() -> float:
    return _status_mb("VmHWM:")


def _status_mb(field: str) -> float:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


HANG_SECONDS: Mapping[Phase, float] = {
    "build": 600.0,
    "load": 120.0,
    "cleanup": 15.0,
    "export": 60.0,
    "deliver": 120.0,
    "twin": 120.0,
}
"""Longer than any case needs by far: past it the case counts as hung."""


def _act_guarded(
    case: Case, source: Path, box: Sandbox, resources: Resources
) -> tuple[BaseException | None, str, bool]:
    """(what was raised, the message or the result, hung?): the case's action on a thread.

    A hung action is unstuck (every FIFO in the sandbox is opened for writing and
    closed, which ends a blocked read) and counted as hung.
    """
    import threading

    box_out: dict[str, Any] = {}

    def target() -> None:
        try:
            box_out["message"] = _act(case, source, box, resources)
        except Exception as exc:  # the outcome records what it was
            box_out["error"] = exc

    worker = threading.Thread(target=target, name=f"hostile-{case.id}", daemon=True)
    worker.start()
    worker.join(HANG_SECONDS[case.phase])
    hung = worker.is_alive()
    if hung:
        _unstick(box.root)
        worker.join(30)
    error = box_out.get("error")
    message = str(error) if error is not None else str(box_out.get("message", ""))
    return error, message, hung


def _unstick(root: Path) -> None:
    for current, _dirs, files in os.walk(root):
        for name in files:
            path = Path(current, name)
            if stat.S_ISFIFO(path.lstat().st_mode):
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    continue


def _act(case: Case, source: Path, box: Sandbox, resources: Resources) -> str:
    """Run the case's build, load or cleanup; the result as text when nothing was raised."""
    if case.act is not None:
        return case.act(source, box)
    if case.phase == "build":
        from sparkdeps._build.publish import build

        options: dict[str, Any] = {
            "dest": box.dest,
            "run_id": "hostile",
            "no_index": True,
            "find_links": [resources.packages],
            "task_value_key": None,
        }
        options.update(case.options)
        if "runtime_file" in options:  # beside the input the case made
            options["runtime_packages"] = source.parent / options.pop("runtime_file")
        if options.pop("dest_inside_source", False):
            options["dest"] = source / "out"
        return repr(build(source, **options))
    if case.phase == "load":
        from sparkdeps._runtime.load import load

        options = dict(case.options)
        target = options.pop("uri", source)
        return repr(load(target, delivery="driver-only", **options))
    if case.phase == "export":
        return _export_act(case, source)
    return _cleanup_act(case, source)


def _export_act(case: Case, source: Path) -> str:
    """What ``sparkdeps export`` (or ``inspect --pylock``) would print."""
    import argparse
    import contextlib
    import io

    from sparkdeps._cli.wheelhouse_commands import cmd_export, cmd_inspect

    args = argparse.Namespace(
        wheelhouse=os.fspath(source),
        format=case.options.get("format", "requirements"),
        pylock=True,
        json=False,
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        (cmd_inspect if case.options.get("inspect") else cmd_export)(args)
    return printed.getvalue()


def _cleanup_act(case: Case, source: Path) -> str:
    import argparse

    from sparkdeps._jobs.tasks import run_cleanup
    from sparkdeps._runtime.cleanup import cleanup, cleanup_older_than

    via = case.options.get("via", "cleanup")
    if via == "older-than":
        return repr(cleanup_older_than(os.fspath(source), 86400))
    if via in ("job-run", "wheelhouse-option"):
        job = via == "job-run"
        args = argparse.Namespace(
            run_uri=[],
            wheelhouse=[] if job else [os.fspath(source)],
            base=os.fspath(source.parent) if job else None,
            job_run_id=case.options.get("job_run_id") if job else None,
            older_than=None,
            dry_run=False,
        )
        return repr(run_cleanup(args))
    target = case.options.get("target", os.fspath(source))
    if not case.options.get("chdir"):
        return repr(cleanup(target))
    saved = os.getcwd()
    os.chdir(source)
    try:
        return repr(cleanup(target))
    finally:
        os.chdir(saved)
