"""What the driver knows per Spark session: one object, one lock (issue 24, item 4).

Unit tests without Spark: a session here is a stand-in object with the one attribute
``session_key`` reads (``sparkContext.applicationId``); the real sessions are in
test_session_env.py, test_spark_classic.py and test_spark_connect.py.
"""

from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace

import pytest

from sparkdeps._runtime.session_env import Package, expected_archives, record_load
from sparkdeps._runtime.session_state import (
    STATE,
    SessionKind,
    SessionState,
    loaded_into,
    modules_for,
    remember_load,
    runtime_packages_for,
    session_key,
)


def _session() -> SimpleNamespace:
    """A stand-in classic session: what ``session_key`` reads, nothing else."""
    return SimpleNamespace(sparkContext=SimpleNamespace(applicationId=f"app-{uuid.uuid4().hex}"))


def _ship_once(
    state: SessionState,
    key: str,
    digest: str,
    added: list[str],
    *,
    entered: threading.Event | None = None,
    inside: threading.Event | None = None,
    overtaken: threading.Event | None = None,
) -> str:
    """What ``delivery.deliver`` does: under the session's shipping lock, reuse or add.

    ``entered`` is set once past ``shipping()``; ``inside`` is set before adding, which
    then waits (up to 0.3 s) for ``overtaken``: another thread past ``shipping()`` too."""
    with state.shipping(key):
        if entered is not None:
            entered.set()
        with state.reading(key) as record:
            done = record.payloads.get(digest) if record is not None else None
        if done is not None:
            return done
        if inside is not None and overtaken is not None:
            inside.set()
            overtaken.wait(0.3)  # a second thread past shipping() would set it now
        payload = f"payload-{threading.get_ident()}"
        added.append(payload)
        with state.changing(key) as record:
            record.payloads[digest] = payload
        return payload


def test_two_threads_shipping_to_one_session_add_it_once() -> None:
    state = SessionState()
    key, digest = "classic:app-two-threads", "d" * 64
    inside, overtaken = threading.Event(), threading.Event()
    added: list[str] = []
    results: dict[str, str] = {}

    def first() -> None:
        results["first"] = _ship_once(state, key, digest, added, inside=inside, overtaken=overtaken)

    def second() -> None:
        inside.wait(5)
        results["second"] = _ship_once(state, key, digest, added, entered=overtaken)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert added == [results["first"]]  # added once: the second thread waited, then found it
    assert results["second"] == results["first"]


def test_readers_do_not_wait_on_a_shipment() -> None:
    state = SessionState()
    key = "classic:app-readers"
    state.remember(key, ["mod_a"], [])
    with state.shipping(key):
        seen: list[bool] = []
        reader = threading.Thread(target=lambda: seen.append(state.loaded(key)))
        reader.start()
        reader.join(5)
        assert seen == [True]  # answered while the shipping lock was held


def test_many_threads_recording_one_session_lose_nothing() -> None:
    state = SessionState()
    key = "classic:app-many"
    threads_count, per_thread = 8, 200
    start = threading.Barrier(threads_count)

    def record(index: int) -> None:
        start.wait(5)
        for item in range(per_thread):
            state.remember(key, [f"m{index}_{item}"], [f"r{index}"])

    threads = [threading.Thread(target=record, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with state.reading(key) as known:
        assert known is not None
        assert len(known.modules) == threads_count * per_thread
        assert known.runtime == {f"r{i}" for i in range(threads_count)}


def test_one_record_serves_verify_and_the_session_environment() -> None:
    spark = _session()
    key = session_key(spark)
    assert key == f"classic:{spark.sparkContext.applicationId}"
    assert not loaded_into(spark) and modules_for(spark) == ()
    try:
        record_load(key, {"sdst-a": Package("sdst-a", "1.0", ("sdst_a",))}, "u1", "sparkdeps_a")
        assert not loaded_into(spark)  # shipped, but no load finished into it yet
        remember_load(key, ["sdst_a"], {"relied_on": [{"name": "numpy", "version": "2.0"}]})
        assert loaded_into(spark)
        assert modules_for(spark) == ("sdst_a",)
        assert runtime_packages_for(spark) == ("numpy",)
        assert expected_archives(key, ["sdst_a"]) == {"sdst_a": frozenset({"sparkdeps_a"})}
    finally:
        STATE.forget(key)
    assert not loaded_into(spark) and expected_archives(key, ["sdst_a"]) == {}


@pytest.mark.parametrize(
    ("session", "kind", "expected"),
    [
        (
            SimpleNamespace(sparkContext=SimpleNamespace(applicationId="app-1")),
            None,
            "classic:app-1",
        ),
        (SimpleNamespace(sparkContext=None, session_id="s-1"), None, "connect:s-1"),
        (SimpleNamespace(sparkContext=None, session_id="s-2"), "connect", "connect:s-2"),
    ],
    ids=["classic", "connect", "connect-given"],
)
def test_session_key(session: SimpleNamespace, kind: SessionKind | None, expected: str) -> None:
    assert session_key(session, kind) == expected
