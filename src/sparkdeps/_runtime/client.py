"""The interpreter ``load`` runs in, as wheel tags: what it can install, and how to name it.

On a Databricks Connect client (a laptop on macOS arm64 or Windows) the driver
is not the cluster: a wheelhouse built for the cluster holds compiled wheels this
interpreter cannot use. ``load`` into a Connect session then ships every wheel to
the cluster and installs here only the wheels whose tags fit (pure ones, or ones
built for this machine), and says which it left out; the probe proves the
executors. Anywhere else a wheel that does not fit is refused
(:class:`IncompatibleWheelError`), with a hint that names both platforms.

:func:`override_client_tags` stands in for another client in tests: the tags a
macOS arm64 or Windows interpreter would accept.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from packaging.tags import Tag, sys_tags
from packaging.utils import parse_wheel_filename

__all__ = ["client_tags", "describe_client", "fitting", "override_client_tags"]

_override: tuple[Tag, ...] | None = None


@functools.lru_cache(maxsize=1)
def _running() -> tuple[Tag, ...]:
    return tuple(sys_tags())  # ~5 ms: once per process keeps warm loads fast


def override_client_tags(tags: Iterable[Tag] | None) -> None:
    """Tests only: act as an interpreter accepting ``tags`` (most specific first); None undoes."""
    global _override
    _override = None if tags is None else tuple(tags)


def client_tags() -> tuple[Tag, ...]:
    """The tags this interpreter accepts, most specific first (or the test override)."""
    return _override if _override is not None else _running()


def describe_client(tags: Sequence[Tag] | None = None) -> str:
    """``Python 3.11 on macosx_14_0_arm64``: the most specific tag's interpreter and platform."""
    ordered = tags if tags is not None else client_tags()
    for tag in ordered:
        if tag.platform != "any" and tag.interpreter.startswith("cp"):
            digits = tag.interpreter[2:]
            return f"Python {digits[0]}.{digits[1:]} on {tag.platform}"
    return "this interpreter"


def fitting(
    filenames: Iterable[str], tags: Iterable[Tag] | None = None
) -> tuple[list[str], list[str]]:
    """(wheels whose tags this interpreter accepts, the others), in the order given."""
    accepted = frozenset(tags if tags is not None else client_tags())
    fit: list[str] = []
    left: list[str] = []
    for filename in filenames:
        wheel_tags = parse_wheel_filename(filename)[3]
        (fit if wheel_tags & accepted else left).append(filename)
    return fit, left
