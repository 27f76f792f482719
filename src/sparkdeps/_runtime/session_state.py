"""What this driver knows about each Spark session it loaded into: one object, one lock.

A session is known by its key (:func:`session_key`: ``classic:<application id>`` or
``connect:<session id>``), which stays the same for every ``SparkSession`` object of
one application. Per session :class:`SessionState` keeps:

* the modules and relied-on runtime packages every load delivered (``verify``'s
  defaults; :mod:`.load`);
* each package's version and the archives its modules may come from (one
  environment per session; :mod:`.session_env`);
* the payload each digest was shipped as, so nothing is added twice (:mod:`.delivery`);
* the routes whose probe passed, so a second load need not probe again (:mod:`.routes`).

Readers and writers hold the one lock only while they look or change
(:meth:`SessionState.reading`, :meth:`SessionState.changing`), never around Spark
calls: shipping to one session is serialized by that session's own lock
(:meth:`SessionState.shipping`), so other sessions and readers never wait on it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "STATE",
    "SessionKind",
    "SessionRecord",
    "SessionState",
    "is_connect",
    "session_key",
    "session_kind",
]

SessionKind = Literal["classic", "connect"]


def is_connect(spark: Any) -> bool:
    """True for a Spark Connect session (no usable SparkContext)."""
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return True
    try:
        context = spark.sparkContext
    except Exception:
        return True
    return context is None


def session_kind(spark: Any) -> SessionKind:
    return "connect" if is_connect(spark) else "classic"


def session_key(spark: Any, kind: SessionKind | None = None) -> str:
    """Identifies a session across loads: the application id, or the Connect session id."""
    chosen = kind or session_kind(spark)
    if chosen == "classic":
        return f"classic:{spark.sparkContext.applicationId}"
    return f"connect:{getattr(spark, 'session_id', None) or id(spark)}"


@dataclass
class SessionRecord:
    """What is known about one session; changed only under :class:`SessionState`'s lock."""

    loaded: bool = False
    """A load finished into it (an empty wheelhouse too): ``verify`` may run."""
    modules: set[str] = field(default_factory=set)
    """Top-level names of every wheelhouse delivered (``verify``'s default)."""
    runtime: set[str] = field(default_factory=set)
    """Runtime packages those wheelhouses rely on (``verify`` reports them)."""
    packages: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Canonical name -> (version, uri of the wheelhouse that delivered it)."""
    archives: dict[str, set[str]] = field(default_factory=dict)
    """Top-level module -> archive names (``sparkdeps_<digest16>``) it may come from."""
    payloads: dict[str, str] = field(default_factory=dict)
    """Digest -> the payload it was added as."""
    proven: set[tuple[str, str]] = field(default_factory=set)
    """(digest, route) whose probe passed."""


class SessionState:
    """Every session's :class:`SessionRecord`, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, SessionRecord] = {}
        self._shipping: dict[str, threading.Lock] = {}

    @contextmanager
    def reading(self, key: str) -> Iterator[SessionRecord | None]:
        """The record of ``key`` (None if unknown), under the lock: copy what you keep."""
        with self._lock:
            yield self._records.get(key)

    @contextmanager
    def changing(self, key: str) -> Iterator[SessionRecord]:
        """The record of ``key``, made if new, under the lock."""
        with self._lock:
            yield self._records.setdefault(key, SessionRecord())

    @contextmanager
    def shipping(self, key: str) -> Iterator[None]:
        """Held while a wheelhouse is shipped to ``key``: a second thread shipping the same
        digest waits, then finds it added (:mod:`.delivery`)."""
        with self._lock:
            lock = self._shipping.setdefault(key, threading.Lock())
        with lock:
            yield

    def loaded(self, key: str) -> bool:
        with self._lock:
            record = self._records.get(key)
            return record is not None and record.loaded

    def remember(self, key: str, modules: Iterable[str], relied_on: Iterable[str]) -> None:
        """A wheelhouse's modules and relied-on runtime packages now belong to ``key``."""
        with self.changing(key) as record:
            record.loaded = True
            record.modules.update(modules)
            record.runtime.update(relied_on)

    def forget(self, key: str) -> None:
        """Drop what is known about ``key`` (tests; a stopped session)."""
        with self._lock:
            self._records.pop(key, None)


STATE = SessionState()
"""The driver's one state: sessions outlive any single ``load``."""


def relied_on(runtime: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The names of the runtime packages a manifest's ``runtime`` section relies on."""
    return tuple(str(item["name"]) for item in (runtime or {}).get("relied_on", ()))


def remember_load(key: str, top_level: Iterable[str], runtime: Mapping[str, Any] | None) -> None:
    """What ``verify`` checks in the session ``key``: the modules and the runtime packages."""
    STATE.remember(key, top_level, relied_on(runtime))


def _known(spark: Any) -> SessionRecord | None:
    with STATE.reading(session_key(spark)) as record:
        if record is None:
            return None
        return SessionRecord(record.loaded, set(record.modules), set(record.runtime))


def runtime_packages_for(spark: Any) -> tuple[str, ...]:
    """Runtime packages the wheelhouses delivered to ``spark`` rely on (``verify`` reports them)."""
    record = _known(spark)
    return tuple(sorted(record.runtime)) if record is not None else ()


def modules_for(spark: Any) -> tuple[str, ...]:
    """Top-level names of every wheelhouse delivered to ``spark`` (``verify``'s default)."""
    record = _known(spark)
    return tuple(sorted(record.modules)) if record is not None else ()


def loaded_into(spark: Any) -> bool:
    """True once a wheelhouse was loaded into ``spark`` (an empty one included)."""
    return STATE.loaded(session_key(spark))
