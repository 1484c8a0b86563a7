"""PostgreSQL numbers events after their commit (db/outbox.py): a reader following `seq > N`
never skips an event, sees each once and in increasing seq, and never sees an event that is
not numbered yet; a worker that dies between its commit and the numbering leaves nothing lost.

The first test fails with a plain sequence (seq taken at the insert): the event inserted first
and committed last would get the smaller number, after a reader has already read past it."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select

from kiosk_server import bootstrap
from kiosk_server.db import outbox, queries
from kiosk_server.db import tables as T
from kiosk_server.services import tickets as svc
from kiosk_server.services.context import Actor
from kiosk_server.services.events import append_event
from tests.support.hall import FakeClock, prepare

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

KIOSK = Actor("device:K1", frozenset({"kiosk"}), device_id=1)


@pytest.fixture
def workers(pg_url: str) -> Iterator[list[bootstrap.Container]]:
    """Three containers on one database: three workers."""
    p = prepare(pg_url)
    made = [bootstrap.build(p.settings, clock=FakeClock()) for _ in range(3)]
    try:
        yield made
    finally:
        for c in made:
            if c.threads is not None:
                c.threads.shutdown()
            c.db.dispose()


def _emit(conn: Any, *, c: bootstrap.Container, name: str) -> None:
    append_event(conn, hall_id=c.hall.id, type="test.event", at=c.clock.now(), payload={"name": name})


def _unnumbered(c: bootstrap.Container) -> int:
    with c.db.read() as conn:
        return conn.execute(select(func.count()).select_from(T.events).where(T.events.c.seq < 0)).scalar_one()


def test_an_event_inserted_first_and_committed_last_is_not_skipped(workers: list[bootstrap.Container]):
    c = workers[0]
    start = c.read(queries.last_seq)
    marks: dict[str, int] = {}
    at_commit, release = threading.Event(), threading.Event()

    @event.listens_for(c.db.engine, "commit")
    def hold(conn: Any) -> None:  # before the driver's COMMIT
        buf = conn.info.get(outbox.BUFFER)
        if not buf:
            return  # the numbering transaction
        name = buf[0][1]["name"]
        marks[name] = buf[0][1]["seq"]
        if name == "late":
            at_commit.set()
            assert release.wait(30)

    late = threading.Thread(target=c.write, args=(_emit,), kwargs={"c": c, "name": "late"})
    late.start()
    try:
        assert at_commit.wait(30)  # "late" has inserted its event and waits at its COMMIT
        c.write(_emit, c=c, name="early")  # inserted after "late", committed (and numbered) before it
        assert abs(marks["late"]) < abs(marks["early"])  # "late" took the smaller sequence value

        seen = c.read(queries.events_since, c.hall, start, 100)
        assert [e["name"] for e in seen] == ["early"]  # "late" is not committed: not visible, not numbered
        assert c.read(queries.last_seq) == seen[-1]["seq"]
        since = seen[-1]["seq"]
    finally:
        release.set()
        late.join(30)

    # A plain sequence would have given "late" start + 1, below `since`: skipped.
    after = c.read(queries.events_since, c.hall, since, 100)
    assert [(e["name"], e["seq"]) for e in after] == [("late", since + 1)]
    assert _unnumbered(c) == 0


def test_concurrent_writers_in_several_workers_and_a_reader_following_since(workers: list[bootstrap.Container]):
    """Three workers, four threads each, issue tickets at once; each worker's sequencer numbers
    in the background (as in the server). A reader polls `since` all along: it gets every
    event exactly once, in increasing seq, and the numbers have no gap."""
    for c in workers:
        c.db.sequencer.start()
    reader = workers[0]
    start = reader.read(queries.last_seq)
    per_thread, threads_per_worker = 12, 4
    issued: list[int] = []
    errors: list[BaseException] = []
    writing = threading.Event()
    writing.set()
    seen: list[dict[str, Any]] = []
    polls = 0

    def issue(c: bootstrap.Container, k: int) -> None:
        try:
            for i in range(per_thread):
                out = c.write(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK,
                              zone_code="AB"[(k + i) % 2])
                issued.append(out.ticket["id"])
        except BaseException as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    def follow() -> None:
        nonlocal polls
        since = start
        while True:
            done = not writing.is_set() and _unnumbered(reader) == 0  # before the read: nothing may come after it
            events = reader.read(queries.events_since, reader.hall, since, 1000)
            polls += 1
            for ev in events:
                seen.append(ev)
                since = ev["seq"]
            if done and not events:
                return

    follower = threading.Thread(target=follow)
    follower.start()
    writers = [threading.Thread(target=issue, args=(c, k)) for c in workers for k in range(threads_per_worker)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(60)
    writing.clear()
    follower.join(60)
    assert not follower.is_alive()
    assert not errors, errors

    total = len(workers) * threads_per_worker * per_thread
    assert len(issued) == total
    seqs = [e["seq"] for e in seen]
    assert seqs == list(range(start + 1, start + total + 1))  # each once, in order, no gap
    assert sorted(e["ticket"]["id"] for e in seen) == sorted(issued)
    assert polls > 10  # the reader read while the writers wrote
    assert sum(c.db.sequencer.numbered for c in workers) == total


def test_events_a_dead_worker_left_unnumbered_are_invisible_then_numbered_by_another(
        workers: list[bootstrap.Container]):
    dead, alive = workers[0], workers[1]
    start = alive.read(queries.last_seq)
    dead.db.sequencer.committed = lambda conn, buf, notes=(): None  # died right after its COMMIT
    dead.write(_emit, c=dead, name="orphan")
    assert _unnumbered(alive) == 1
    assert alive.read(queries.events_since, alive.hall, start, 100) == []
    assert alive.read(queries.last_seq) == start

    alive.db.sequencer.start()  # a worker starting sweeps at once
    deadline = time.monotonic() + 10
    while _unnumbered(alive) and time.monotonic() < deadline:
        time.sleep(0.02)
    got = alive.read(queries.events_since, alive.hall, start, 100)
    assert [(e["name"], e["seq"]) for e in got] == [("orphan", start + 1)]

    # and its own events after that follow on
    alive.write(_emit, c=alive, name="next")
    deadline = time.monotonic() + 10
    while _unnumbered(alive) and time.monotonic() < deadline:
        time.sleep(0.02)
    got = alive.read(queries.events_since, alive.hall, start, 100)
    assert [(e["name"], e["seq"]) for e in got] == [("orphan", start + 1), ("next", start + 2)]


def test_the_sweep_looks_for_marks_before_it_takes_the_numbering_lock(workers: list[bootstrap.Container],
                                                                     monkeypatch: pytest.MonkeyPatch):
    """Its scan of `seq < 0` walks every numbered mark until VACUUM: inside the lock it held
    every worker's numbering (every screen) for as long. Orphans in order, each once, all the same."""
    dead, alive = workers[0], workers[1]
    start = alive.read(queries.last_seq)
    dead.db.sequencer.committed = lambda conn, buf, notes=(): None
    for name in ("first", "second", "third"):
        dead.write(_emit, c=dead, name=name)
    statements: list[list[str]] = []  # per transaction of the sweep

    class Recording:
        def __init__(self, cur: Any) -> None:
            self.cur = cur

        def execute(self, sql: str, params: Any = None, **kw: Any) -> Any:
            statements[-1].append(" ".join(sql.split()))
            return self.cur.execute(sql, params, **kw)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.cur, name)

    real = outbox.raw.cursor

    def recording(conn: Any) -> Recording:  # the sweep takes one cursor per transaction
        statements.append([])
        return Recording(real(conn))
    monkeypatch.setattr(outbox.raw, "cursor", recording)
    with alive.db.engine.connect() as conn:
        numbered = outbox.sequence(conn)
    monkeypatch.undo()
    assert len(numbered) == 3
    assert [(e["name"], e["seq"]) for e in alive.read(queries.events_since, alive.hall, start, 100)] == [
        ("first", start + 1), ("second", start + 2), ("third", start + 3)]
    locked = [t for t in statements if any("pg_advisory_xact_lock" in q for q in t)]
    assert locked, statements
    for t in locked:
        assert not any("seq < 0" in q for q in t), t  # found outside, numbered by name inside
    assert any(any("seq < 0" in q for q in t) for t in statements if t not in locked)


def test_the_numbering_is_planned_for_its_marks_not_prepared(workers: list[bootstrap.Container]):
    """psycopg prepares a statement run five times on a connection, and PostgreSQL then keeps one
    generic plan: made while `events` was small (a new hall, the benchmark's empty phase) it
    joined the marks by reading the whole table, slower with every event (1.8 ms a numbering
    after 9,000 events, against 0.2 ms). The numbering is planned every time; its neighbours
    are prepared as usual."""
    dead, alive = workers[0], workers[1]
    start = alive.read(queries.last_seq)
    dead.db.sequencer.committed = lambda conn, buf, notes=(): None
    with alive.db.engine.connect() as conn:
        for i in range(8):
            dead.write(_emit, c=dead, name=f"e{i}")
            assert len(outbox.sequence(conn)) == 1
        conn.rollback()
        prepared = [" ".join(r[0].split()) for r in outbox.raw.cursor(conn).execute(
            "SELECT statement FROM pg_prepared_statements").fetchall()]
        conn.rollback()
    assert any("seq < 0" in q for q in prepared), prepared  # the sweep's search: prepared
    assert not any("WITH numbered" in q for q in prepared), prepared
    assert [e["seq"] for e in alive.read(queries.events_since, alive.hall, start, 100)] == list(
        range(start + 1, start + 9))


def test_without_a_listener_events_are_numbered_at_the_commit(workers: list[bootstrap.Container]):
    """The CLI, scripts and tests: numbered before `write` returns; the wire dicts carry the numbers."""
    c = workers[0]
    start = c.read(queries.last_seq)
    out = c.write(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK, zone_code="A")
    assert [e["seq"] for e in out.events] == [start + 1]
    assert _unnumbered(c) == 0


def test_a_print_wake_up_is_sent_after_the_commit_by_the_numbering(workers: list[bootstrap.Container]):
    """A job queued in a ticket's transaction wakes the spooler with a NOTIFY sent after the
    COMMIT (by the numbering transaction), not inside the ticket's transaction, where it would
    hold PostgreSQL's notify lock through the commit's WAL flush."""
    import psycopg

    from kiosk_server.services import printing
    c = workers[0]
    url = c.settings.server.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {printing.CHANNEL}")
        with c.db.write() as conn:
            printing.notify(conn, 7)
            _emit(conn, c=c, name="with a print job")
            assert conn.info[outbox.NOTES] == {(printing.CHANNEL, "7")}  # kept for after the commit
            seen_inside = list(listener.notifies(timeout=0.2, stop_after=1))
        got = list(listener.notifies(timeout=5, stop_after=1))
    assert seen_inside == []
    assert [(n.channel, n.payload) for n in got] == [(printing.CHANNEL, "7")]
    assert _unnumbered(c) == 0


def test_the_numbering_notify_carries_the_events_as_readers_read_them(workers: list[bootstrap.Container]):
    """The listeners of the other workers need not read the table: the NOTIFY holds the events,
    exactly as events_since gives them back."""
    import psycopg

    from kiosk_server.realtime.pg_listener import parse
    c = workers[0]
    start = c.read(queries.last_seq)
    url = c.settings.server.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {outbox.CHANNEL}")
        c.write(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK, zone_code="A",
                ignore_opening_hours=True)
        got = list(listener.notifies(timeout=5, stop_after=1))
    assert len(got) == 1
    seq, carried = parse(got[0].payload)
    stored = c.read(queries.events_since, c.hall, start, 100)
    assert carried is not None and seq == stored[-1]["seq"]
    assert carried == stored and [e["type"] for e in carried] == ["ticket.issued"]
