"""``pip download --no-deps`` of the exact pins, for the target's tags."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from .._core.errors import CommandError, ResolutionError, ResolveCommandError
from .._core.runner import clean_env, pip_command, redact, run
from .._core.target import Target
from .fetch_progress import DownloadWatch
from .index import IndexSettings, is_unreachable, unreachable_error
from .resolve import Pin

__all__ = ["download", "hash_mismatch_error"]


def download(
    pins: Iterable[Pin],
    target: Target,
    index: IndexSettings,
    dest: Path,
    *,
    cache_dir: Path | None = None,
) -> list[Path]:
    """Fetch the exact pinned wheels for ``target`` into ``dest`` (pip, no dependencies).

    ``cache_dir`` keeps pip's HTTP cache under sparkdeps' cache root rather than in
    ``~/.cache/pip`` (``--isolated`` ignores ``PIP_CACHE_DIR``).
    """
    pins = list(pins)
    if not pins:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    base = [*pip_command(), "download", "--no-deps", "--only-binary=:all:"]
    base += ["--implementation", "cp"]
    base += ["--python-version", target.python_version, "--abi", target.abi]
    base += ["--abi", "abi3", "--abi", "none"]
    for platform in target.platforms:
        base += ["--platform", platform]
    base += ["--dest", str(dest), "--progress-bar", "off", *index.args()]
    base += index.pip_network_args()
    base += ["--cache-dir", str(cache_dir)] if cache_dir is not None else ["--no-cache-dir"]
    env = clean_env({"PIP_CONFIG_FILE": "/dev/null"})
    watch = DownloadWatch(len(pins))
    # pip's --require-hashes mode is all-or-nothing: hashed pins go in their own call
    groups = [[p for p in pins if p.hashes], [p for p in pins if not p.hashes]]
    for number, group in enumerate(groups):
        if not group:
            continue
        listing = dest.parent / f"download-{number}.txt"
        listing.write_text(
            "".join(p.spec + "".join(f" --hash={h}" for h in p.hashes) + "\n" for p in group),
            encoding="utf-8",
        )
        try:
            run(
                [*base, "-r", str(listing)],
                what="downloading wheels with pip",
                env=env,
                error=ResolveCommandError,
                hint="fix: check that the index holds wheels of these exact versions for "
                f"{target.description}",
                on_line=watch.on_line,
            )
        except CommandError as exc:
            if "DO NOT MATCH THE HASHES" in exc.output:
                raise hash_mismatch_error(group, exc.output) from exc
            if is_unreachable(exc.output):
                raise unreachable_error(exc, index) from exc
            raise
    watch.finish(dest)
    return sorted(p for p in dest.iterdir() if p.suffix == ".whl")


def hash_mismatch_error(pins: Sequence[Pin], output: str) -> ResolutionError:
    # pip names the package, then "Expected sha256 ..." and "Got ..." lines
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "DO NOT MATCH THE HASHES" in line), 0)
    detail = [
        line.strip()
        for line in lines[start + 1 :]
        if "==" in line or "Expected" in line or line.strip().startswith("Got")
    ]
    named = {canonicalize_name(n) for n in re.findall(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", output)}
    culprits = [pin for pin in pins if pin.name in named] or list(pins)
    where = "; ".join(f"{pin.origin or 'requirement'}: {pin.spec}" for pin in culprits)
    return ResolutionError(
        redact(
            f"hash mismatch for {where}: the downloaded file does not match the --hash given\n  "
            + "\n  ".join(detail)
            + "\nfix: correct the --hash value(s) in the requirements file; if the package on "
            "the index changed, find out why before trusting the new file"
        )
    )
