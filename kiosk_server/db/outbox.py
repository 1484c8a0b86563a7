"""The events outbox. Use cases append events while they work; the unit of work writes them at
the very end of the transaction, just before COMMIT. The promise to readers (screens, the
`since=N` replay, every worker's listener): `seq` follows commit order, so a reader that has
seen seq N has seen every event below N, across any number of workers, and a refused request
never burns a number.

SQLite (one writer) keeps it by construction: `seq` is assigned at the insert, inside the only
write transaction there is, so seq order is commit order.

PostgreSQL: events are numbered after their transaction commits, in two steps.

 1. The business transaction inserts its events *unnumbered*: `seq` holds a mark,
    `-nextval('events_seq_seq')`. A mark is negative, so no reader ever sees it (they all read
    `seq > N`, N >= 0), and marks order the events by insertion. No lock, no NOTIFY: concurrent
    transactions commit in parallel, and PostgreSQL's group commit shares their WAL flushes.
 2. After COMMIT, a *numbering* transaction gives committed marked events their seq: it takes
    the advisory transaction lock LOCK_KEY, sets `seq = max(seq) + 1, + 2, …` in mark order
    (only rows it sees, i.e. committed ones), sends NOTIFY, and commits. The lock is held
    through that COMMIT, so numbering transactions become visible in the order they number:
    whoever sees seq N sees everything below N. Numbers go only to committed events, so seq has
    no gaps; a refused request burns a mark, never a number.

Only the numbering transactions are serialised, and each numbers a batch (every event its
worker committed since the last one); the business transactions no longer wait on each
other's fsync behind a hall-wide lock, which capped issuing near 260/s.

Who numbers (`Sequencer`):
  - A server worker (its event listener runs: `Container.fanout` is set): `Database.write`
    hands the marks of each commit to the worker's sequencer thread and returns at once; the
    answer waits for nothing. The thread numbers everything handed to it since its last run,
    in one transaction, and its NOTIFY wakes every worker's listener (pg_listener.py), which
    reads `seq > last` in seq order.
  - Anything else (the CLI, scripts, tests without a listener): synchronously, right after the
    COMMIT, on the same connection; the wire dicts then carry their numbers.
  - A worker that dies between a COMMIT and its numbering leaves marks behind. Every worker's
    sequencer sweeps for marks when it starts and every SWEEP_S seconds, and numbers every
    committed mark it finds (`sequence(conn)` without marks), whoever wrote it.

Why not the alternatives:
  - The lock around the insert until COMMIT (what this replaced): one fsync at a time for the
    whole hall.
  - A visibility horizon (insert with a sequence number, readers stop below the oldest
    in-flight transaction, via xid8 and pg_snapshot_xmin): transaction ids are given at a
    transaction's first write, sequence numbers at its insert, so the two orders disagree and
    "the highest seq no in-flight transaction can still take" is not computable from a
    snapshot; the known-correct form orders the stream by (xid, seq), which changes what
    `since=N` means for every client, needs a new column, and holds every screen back behind
    the slowest open transaction (an admin import).
  - Numbering "every marked row" on every run: the scan of `seq < 0` walks the index entries
    of marks already numbered until VACUUM removes them. Runs name their own marks (index
    lookups); only the sweep scans, and it scans before taking the lock (a sweep that scanned
    inside it held every worker's numbering, and so every screen, for 40-165 ms under load),
    then numbers what it found as a run numbers its own marks.

No schema change: the mark lives in `seq` itself (the primary key), whose index serves the
readers (`seq > N`), the numbering (lookups by mark) and the sweep (`seq < 0`), and SQLite's
path is untouched. Cost: each event row is written twice (insert, then the update of its key)."""
from __future__ import annotations


import logging
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine

from kiosk_server.db import raw

log = logging.getLogger("kiosk_server.outbox")

BUFFER = "event_buffer"
NOTES = "notify_after_commit"  # conn.info: (channel, payload) NOTIFYs sent by the numbering, after COMMIT
LOCK_KEY = 0x48414C4C  # 'HALL': the transaction-level advisory lock of the numbering transactions
CHANNEL = "hall_events"
SEQUENCE = "events_seq_seq"  # the events.seq column's own sequence (bigserial): marks come from it
BATCH = 5000  # events numbered per transaction at most
SWEEP_S = 2.0  # how often a worker's sequencer looks for marks left by a dead worker

_INSERT = raw.Sql(
    "INSERT INTO events (hall_id, type, at, zone, payload) VALUES (:hall_id, :type, :at, :zone, :payload) RETURNING seq",
    pg=f"INSERT INTO events (seq, hall_id, type, at, zone, payload) VALUES (-nextval('{SEQUENCE}'), :hall_id, :type, "
       ":at, :zone, :payload) RETURNING seq")
_LOCK = "SELECT pg_advisory_xact_lock(%(k)s)"
_NOTIFY = "SELECT pg_notify(%(c)s, %(s)s)"
# The numbering. Its snapshot is taken after the lock is granted, so it sees the previous
# numbering's COMMIT (the lock is released after it): max(seq) is the last number given.
_NUMBER = """
WITH numbered AS (
    SELECT p.mark, (SELECT greatest(max(seq), 0) FROM events) + row_number() OVER (ORDER BY p.mark DESC) AS seq
    FROM ({marks}) AS p
)
UPDATE events SET seq = numbered.seq FROM numbered WHERE events.seq = numbered.mark
RETURNING numbered.mark, events.seq, events.type, events.at, events.zone, events.payload"""
_NUMBER_MARKS = _NUMBER.format(marks="SELECT e.seq AS mark FROM events e WHERE e.seq = ANY(%(marks)s::bigint[])")
_FIND_MARKS = "SELECT seq FROM events WHERE seq < 0 ORDER BY seq DESC LIMIT %(n)s"


def append(conn: Connection, row: dict[str, Any], wire: dict[str, Any]) -> None:
    """Buffer an event (row for the table, wire dict for the screens; its seq is set at flush).
    On a connection outside the unit of work it is written at once; on PostgreSQL it is then
    numbered by the next sweep."""
    buf = conn.info.get(BUFFER)
    if buf is None:
        flush(conn, [(row, wire)])
    else:
        buf.append((row, wire))


def notify_after_commit(conn: Connection, channel: str, payload: str) -> None:
    """PostgreSQL: a NOTIFY for after this transaction's COMMIT (the numbering transaction sends
    it). A NOTIFY inside a business transaction would hold PostgreSQL's database-wide notify
    lock through that transaction's WAL flush: every kiosk's ticket would wait on the previous
    one's fsync again. Outside the unit of work it is sent with the caller's transaction."""
    notes = conn.info.get(NOTES)
    if notes is None:
        conn.exec_driver_sql(_NOTIFY, {"c": channel, "s": payload})
    else:
        notes.add((channel, payload))


def flush(conn: Connection, buf: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Insert the transaction's events, just before COMMIT. SQLite: with their seq. PostgreSQL:
    with their marks (negative), numbered after the COMMIT (`Sequencer.committed`), in one round
    trip with the writes the transaction deferred (raw.defer), those first."""
    dialect = conn.dialect.name
    deferred = conn.info.get(raw.DEFERRED) or []
    if not buf and not deferred:
        return
    sql = _INSERT[dialect]
    params = [{"hall_id": row["hall_id"], "type": row["type"], "at": raw.stamp(dialect, row["at"]),
               "zone": row["zone"], "payload": raw.doc(dialect, row["payload"])} for row, _wire in buf]
    if dialect != "postgresql":
        cur = raw.cursor(conn)
        for (_row, wire), p in zip(buf, params, strict=True):
            cur.execute(sql, p)
            wire["seq"] = cur.fetchone()[0]
        return
    # One statement: the deferred writes as data-modifying WITH clauses (each runs once, to the
    # end, whether or not anything reads it; in no set order), then the events. Inserts of one
    # statement text become one multi-row insert, so that their rows are numbered (ids) in the
    # order they were deferred. Rows of VALUES are made in order: the events' marks, -nextval,
    # returned highest first, are the events in order.
    groups: dict[str, list[dict[str, Any]]] = {}
    for text, p in deferred:
        groups.setdefault(text, []).append(p)
    clauses, values, merged = [], [], {}
    for i, (text, rows) in enumerate(groups.items()):
        head, sep, row = text.partition(" VALUES ")
        if len(rows) > 1 and sep and row.startswith("(") and row.endswith(")") and "ON CONFLICT" not in row:
            parts = [f"{head} VALUES " + ", ".join(_rename(row, f"d{i}_{j}_") for j in range(len(rows)))]
        else:  # each its own clause
            parts = [_rename(text, f"d{i}_{j}_") for j in range(len(rows))]
        clauses += [f"d{i}_{j} AS ({part})" for j, part in enumerate(parts)]
        for j, p in enumerate(rows):
            merged.update({f"d{i}_{j}_{k}": v for k, v in p.items()})
    for i, p in enumerate(params):
        values.append(f"(-nextval('{SEQUENCE}'), %(e{i}_hall_id)s, %(e{i}_type)s, %(e{i}_at)s, %(e{i}_zone)s, "
                      f"%(e{i}_payload)s)")
        merged.update({f"e{i}_{k}": v for k, v in p.items()})
    deferred.clear()
    main = (f"INSERT INTO events (seq, hall_id, type, at, zone, payload) VALUES {', '.join(values)} RETURNING seq"
            if values else "SELECT 1 WHERE false")
    cur = raw.cursor(conn)
    cur.execute((f"WITH {', '.join(clauses)} " if clauses else "") + main, merged)
    for (_row, wire), mark in zip(buf, sorted((r[0] for r in cur.fetchall()), reverse=True), strict=True):
        wire["seq"] = mark


_PARAM = re.compile(r"%\((\w+)\)s")


def _rename(text: str, prefix: str) -> str:
    """`text`'s %(name)s parameters as %(<prefix>name)s."""
    return _PARAM.sub(lambda m: f"%({prefix}{m.group(1)})s", text)


def sequence(conn: Connection, marks: Iterable[int] | None = None,
             notes: Iterable[tuple[str, str]] = ()) -> dict[int, int]:
    """PostgreSQL: number committed marked events, in mark order, in one transaction per BATCH
    (on `conn`, which must not be in a transaction). `marks`: these (those already numbered,
    or not committed, are skipped); None: every committed mark (the sweep: found without the
    lock, then numbered as named marks). Returns {mark: seq} of the events numbered here;
    NOTIFY tells the listeners. `notes`: the committed transactions' own NOTIFYs
    (`notify_after_commit`), sent with the first batch."""
    if marks is None:
        out: dict[int, int] = {}
        while True:
            with conn.begin():  # the oldest committed marks, oldest first; no lock held
                found = [r[0] for r in raw.cursor(conn).execute(_FIND_MARKS, {"n": BATCH}).fetchall()]
            out.update(sequence(conn, found, notes))
            notes = ()
            if len(found) < BATCH:
                return out
    todo = sorted(set(marks), reverse=True)
    pending = sorted(set(notes))
    out = {}
    while True:
        chunk, todo = todo[:BATCH], todo[BATCH:]
        if not chunk and not pending:
            return out
        rows: list[Any] = []
        with conn.begin():
            cur = raw.cursor(conn)
            if chunk:
                cur.execute(_LOCK, {"k": LOCK_KEY})
                # Planned for its marks every time: a plan cached while `events` was small
                # (a new hall, the benchmark) joined by reading the whole table, ever longer.
                cur.execute(_NUMBER_MARKS, {"marks": chunk}, prepare=False)
                rows = cur.fetchall()
                if rows:  # the events ride in the payload when they fit: no worker reads them back
                    cur.execute(_NOTIFY, {"c": CHANNEL, "s": _payload(rows)})
            for channel, payload in pending:
                cur.execute(_NOTIFY, {"c": channel, "s": payload})
            pending = []
        out.update((r[0], r[1]) for r in rows)


def _payload(rows: list[Any]) -> str:
    """The numbering's NOTIFY: the numbered events as the listeners deliver them (the shape of
    queries.event_wire), or only the newest seq when they do not fit (realtime/pg_listener.py)."""
    from kiosk_server.db.queries import event_wire
    from kiosk_server.realtime.pg_listener import payload
    return payload([event_wire({"seq": seq, "type": type_, "at": at, "zone": zone, "payload": doc})
                    for _mark, seq, type_, at, zone, doc in sorted(rows, key=lambda r: r[1])])


class Sequencer:
    """PostgreSQL: numbers a process's committed events (see the module docstring).

    Synchronous until `start()` (the CLI, tests); then a background thread does it, which also
    sweeps for marks left by dead workers at start and every SWEEP_S."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.background = False
        self.runs = 0        # numbering transactions that numbered something, in this process
        self.numbered = 0    # events numbered by this process (its own and swept ones)
        self.failures = 0
        self._marks: list[int] = []
        self._notes: set[tuple[str, str]] = set()
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def committed(self, conn: Connection, buf: list[tuple[dict[str, Any], dict[str, Any]]],
                  notes: Iterable[tuple[str, str]] = ()) -> None:
        """After a COMMIT that wrote events or asked for NOTIFYs (Database.write, on its
        connection). Never raises: the caller's transaction is committed whatever happens here."""
        marks = [wire["seq"] for _row, wire in buf]
        if not self.background:
            try:
                numbers = sequence(conn, marks, notes)
            except Exception as e:  # numbered by the thread, retrying, instead
                log.warning("numbering events failed (%s); retrying in the background", e)
                self.failures += 1
            else:
                self._count(numbers)
                for _row, wire in buf:
                    wire["seq"] = numbers.get(wire["seq"], wire["seq"])
                return
        with self._mutex:
            self._marks += marks
            self._notes.update(notes)
        self.poke()

    def start(self) -> None:
        """Number in the background from now on, and sweep for marks at once."""
        self.background = True
        self.poke()

    def poke(self) -> None:
        with self._mutex:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._loop, name="event-sequencer", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Number what was handed over, then end the thread."""
        with self._mutex:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _count(self, numbers: dict[int, int]) -> None:
        if numbers:
            self.runs += 1
            self.numbered += len(numbers)

    def _loop(self) -> None:
        conn: Connection | None = None
        backoff = 0.2
        last_sweep = float("-inf")
        try:
            while True:
                self._wake.wait(SWEEP_S)
                self._wake.clear()  # before the run: a commit poking from now on gets a run after it
                stopping = self._stopping
                with self._mutex:
                    marks, self._marks = self._marks, []
                    notes, self._notes = self._notes, set()
                try:
                    if conn is None:
                        conn = self.engine.connect()
                    if marks or notes:
                        self._count(sequence(conn, marks, notes))
                    if self.background and time.monotonic() - last_sweep >= SWEEP_S:
                        self._count(sequence(conn))
                        last_sweep = time.monotonic()
                    backoff = 0.2
                except Exception as e:
                    self.failures += 1
                    log.warning("numbering events failed (%s); trying again", e)
                    with self._mutex:
                        self._marks[:0] = marks  # numbered ones are skipped next time
                        self._notes.update(notes)  # a wake-up twice is harmless
                    if conn is not None:
                        try:
                            conn.close()
                        except Exception:  # noqa: S110  (the connection is broken already)
                            pass
                        conn = None
                    if stopping:
                        return
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    self._wake.set()
                    continue
                if stopping:
                    return
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: S110
                    pass
