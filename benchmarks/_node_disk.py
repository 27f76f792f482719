"""A fresh local disk for a benchmark's samples, as a cluster node has (issue 25).

The benchmark machine's root file system is ext4 *without a journal*. There, Linux's
inode allocator skips every inode freed in the last 60 s (360 s while its inode-table
block is dirty), looking each one up on the way (``recently_deleted`` in
``fs/ext4/ialloc.c``, checked only when ``s_journal`` is NULL). A benchmark deletes
each sample's folders (thousands of files) just before the next sample, so creating a
file there took 0.02-0.5 ms, by how much was deleted nearby and how recently
(docs/facts.md, fact 28). A node's local disk has a journal (the default of
``mkfs.ext4``; xfs has no such check), and creating a file costs about 0.02 ms
whatever was deleted before.

``--node-disk`` runs every sample on a fresh ext4 made with ``mkfs.ext4``'s defaults,
loop-mounted (root only), so that what each variant pays for creating files is what a
node would charge, not what the previous sample's clean-up left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path


class NodeDiskError(RuntimeError):
    """The fresh file system could not be made or mounted (names the command)."""


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        raise NodeDiskError(
            f"{' '.join(argv)} exited {done.returncode}: {(done.stderr or done.stdout).strip()}"
        )


def journal_of(folder: Path) -> str:
    """``with journal``, ``without journal`` or ``unknown``: the ext4 file system holding
    ``folder``, read from ``/sys/fs/ext4/<device>/journal_task``."""
    try:
        device = os.stat(folder).st_dev
        for entry in Path("/sys/fs/ext4").iterdir():
            dev = (Path("/sys/class/block") / entry.name / "dev").read_text().split(":")
            if os.makedev(int(dev[0]), int(dev[1])) == device:
                task = (entry / "journal_task").read_text().strip()
                return "without journal" if task == "<none>" else "with journal"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


@contextlib.contextmanager
def node_disk(folder: Path, size_gib: int = 48) -> Iterator[Path]:
    """A fresh ext4 (``mkfs.ext4`` defaults: with a journal) mounted at
    ``folder/node-disk`` for the block's duration; its sparse image lives in ``folder``."""
    if os.geteuid() != 0:
        raise NodeDiskError("--node-disk mounts a file system image (mount -o loop): run as root")
    for tool in ("mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            raise NodeDiskError(f"--node-disk needs {tool} on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    image, mount = folder / "node-disk.img", folder / "node-disk"
    with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
        subprocess.run(["umount", str(mount)], capture_output=True, check=True)  # a crashed run
    image.unlink(missing_ok=True)
    with open(image, "wb") as out:
        out.truncate(size_gib << 30)
    mount.mkdir(exist_ok=True)
    try:
        _run(["mkfs.ext4", "-q", "-F", str(image)])
        _run(["mount", "-o", "loop", str(image), str(mount)])
    except NodeDiskError:
        image.unlink(missing_ok=True)
        raise
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, check=False)
        image.unlink(missing_ok=True)
