"""The composition root: the only place that picks concrete adapters."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from kiosk_server.config import Settings
from kiosk_server.db import outbox, raw
from kiosk_server.db.engine import Database, make_engine
from kiosk_server.realtime.hub import EventHub
from kiosk_server.services.context import Clock, Hall, SystemClock, load_hall
from kiosk_server.services.security import Keys
from kiosk_server.services.tickets import OpenWindowCounts

R = TypeVar("R")
PG_THREADS = 4  # concurrent transactions per worker on PostgreSQL (the pool holds 5 + 10 connections)


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    keys: Keys
    hub: EventHub
    _hall: Hall | None = None
    auth_cache: dict[str, tuple[Any, float]] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    counters: dict[str, int] = field(default_factory=dict)
    open_windows: OpenWindowCounts = field(default_factory=OpenWindowCounts)  # for the wait estimates

    @property
    def hall(self) -> Hall:
        if self._hall is None:
            with self.db.read() as conn:
                self._hall = load_hall(conn)
        return self._hall

    def reload_hall(self) -> None:
        self._hall = None

    # Told of every configuration change, here or in another worker (a kiosk menu cache, …).
    config_listeners: list[Callable[[dict[str, Any] | None], None]] = field(default_factory=list)
    start_printing: Callable[[], Any] | None = None  # set while the app may run spoolers

    def drop_config_caches(self, event: dict[str, Any] | None = None) -> None:
        """Forget every per-process copy of the configuration: the hall (with its holidays and
        make-up working days) is read again on next use, cached sessions and device tokens are
        checked again (a changed or removed device), and the listeners are told."""
        self.reload_hall()
        self.auth_cache.clear()
        for fn in list(self.config_listeners):
            fn(event)

    def apply_config_change(self, event: dict[str, Any] | None = None) -> None:
        """A `config.changed` event was delivered (written here or by another worker): drop the
        caches, and let the spoolers follow a change of printers."""
        self.drop_config_caches(event)
        if (event or {}).get("what") not in (None, "printers", "layout"):
            return
        if self.printing is not None:
            self.printing.reload()
        elif self.start_printing is not None:  # the first enabled printer of a hall that had none
            self.printing = self.start_printing()

    _pending: list[tuple[Callable[..., Any], dict[str, Any], asyncio.Future, int]] = field(default_factory=list)
    _flush_scheduled: bool = False
    max_batch: int = 64       # SQLite; PostgreSQL runs one request per transaction (see build)
    retries: int = 0
    batches: int = 0
    batched_jobs: int = 0

    def write(self, fn: Callable[..., R], /, **kw: Any) -> R:
        """Run one use case in its own write transaction now; publish its events after commit."""
        with self.db.write() as conn:
            buf = conn.info[outbox.BUFFER]
            result = fn(conn, **kw)
        self.publish([wire for _row, wire in buf])
        return result

    threads: ThreadPoolExecutor | None = None  # PostgreSQL: transactions run here, off the event loop

    async def submit(self, fn: Callable[..., R], /, **kw: Any) -> R:
        """Run a use case in a write transaction; answer after the commit.

        SQLite (one writer): the group-commit writer. Requests that arrive together share one
        transaction and its fsync; each runs in its own savepoint, so a refused request rolls
        back alone and changes nothing; the events are published in `seq` order first.
        PostgreSQL: one transaction per request on a small thread pool, so the worker's event
        loop keeps serving while transactions wait on the network, on row locks and on COMMIT,
        and the database's own group commit shares the WAL flushes (no hall-wide lock is held
        through COMMIT: the events are numbered afterwards, see db/outbox.py). A deadlock
        victim or a serialization failure is run again."""
        if self.threads is not None:
            return await self._submit_threaded(fn, kw)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((fn, kw, fut, 0))
        self._schedule()
        return await fut

    async def _submit_threaded(self, fn: Callable[..., R], kw: dict[str, Any]) -> R:
        loop = asyncio.get_running_loop()
        for attempt in range(4):
            try:
                result, events = await loop.run_in_executor(self.threads, self._transaction, fn, kw)
            except Exception as e:
                if attempt < 3 and _retryable(e):
                    self.retries += 1
                    continue
                raise
            self.publish(events)
            return result  # type: ignore[no-any-return]
        raise AssertionError("unreachable")  # pragma: no cover

    def _transaction(self, fn: Callable[..., Any], kw: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
        with self.db.write() as conn:
            buf = conn.info[outbox.BUFFER]
            result = fn(conn, **kw)
        return result, [wire for _row, wire in buf]

    writer: ThreadPoolExecutor | None = None  # SQLite: the thread that COMMITs (None: batches commit on the loop)
    _in_flight: bool = False

    def _schedule(self) -> None:
        if not self._flush_scheduled and not self._in_flight:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Start the next batch. With a writer thread (SQLite) the batch's statements run here on
        the loop and its COMMIT (the fsync) on the thread, while the loop goes on reading and
        answering requests and the next batch gathers (sqlite3 lets go of the GIL while it waits
        on the disk). Only the COMMIT goes there: a thread running the statements would take the
        GIL back after every one of them, each time waiting behind whatever the loop is doing
        (a broadcast to a thousand screens), and issuing would crawl during calls."""
        self._flush_scheduled = False
        if self._in_flight or not self._pending:
            return
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
        self.batches += 1
        self.batched_jobs += len(batch)
        try:
            self._start(batch)
        finally:
            if self._pending:  # more than one batch waited, or this one ended early
                self._schedule()

    def _start(self, batch: list[Any]) -> None:
        # During a broadcast the loop holds the interpreter lock for a thousand socket writes and
        # the writer thread would wait for it twice a commit: the batch commits here (a COMMIT
        # takes ~0.2 ms; issuing's p99 during broadcasts ~23 -> ~18-22 ms, bench/ws_bench.py).
        if self.writer is None or self.hub.broadcasting:
            self._land(batch, self._run_batch(batch))
            return
        unit = self.db.write()
        try:
            conn = unit.__enter__()
        except Exception as e:  # no transaction: nothing to undo
            self._land(batch, ([], [], e))
            return
        buf = conn.info[outbox.BUFFER]
        try:
            outcomes = self._run_jobs(conn, batch)
        except Exception as e:  # nothing of the batch is committed
            try:
                unit.__exit__(type(e), e, e.__traceback__)
            except Exception:  # noqa: S110 - it is this error the batch fails with
                pass
            self._land(batch, ([], [], e))
            return
        self._in_flight = True
        loop = asyncio.get_running_loop()

        def commit() -> None:
            # The thread hands the outcome to the loop itself: through run_in_executor's future
            # it took two turns of the loop, and during a broadcast each turn waits behind a slice.
            try:
                unit.__exit__(None, None, None)
            except Exception as e:
                loop.call_soon_threadsafe(self._committed, batch, outcomes, buf, e)
            else:
                loop.call_soon_threadsafe(self._committed, batch, outcomes, buf, None)
        self.writer.submit(commit)

    def _committed(self, batch: list[Any], outcomes: list[Any], buf: list[Any], failed: Exception | None) -> None:
        self._in_flight = False
        try:
            self._land(batch, ([], [], failed) if failed is not None else (outcomes, [w for _r, w in buf], None))
        finally:
            if self._pending:
                self._schedule()

    def _run_batch(self, batch: list[Any]) -> tuple[list[tuple[asyncio.Future, Any, BaseException | None]],
                                                    list[dict[str, Any]], BaseException | None]:
        """One transaction for the batch, committed here (no writer thread: PostgreSQL's
        batches of one when its thread pool is off, tests)."""
        try:
            with self.db.write() as conn:
                buf = conn.info[outbox.BUFFER]
                outcomes = self._run_jobs(conn, batch)
        except Exception as e:  # nothing of the batch was committed
            return [], [], e
        return outcomes, [wire for _row, wire in buf], None

    def _run_jobs(self, conn: Any, batch: list[Any]) -> list[tuple[asyncio.Future, Any, BaseException | None]]:
        """The batch's requests in the open transaction, each in its own savepoint, so a refused
        request rolls back alone and changes nothing. Touches no future (`_land` does)."""
        if len(batch) == 1:
            fn, kw, fut, _attempt = batch[0]
            return [(fut, fn(conn, **kw), None)]
        outcomes: list[tuple[asyncio.Future, Any, BaseException | None]] = []
        buf = conn.info[outbox.BUFFER]
        # SQLite only. The savepoints go to the driver: SQLAlchemy's nested transactions cost
        # more than the request they wrap.
        for fn, kw, fut, _attempt in batch:
            mark = len(buf)
            raw.execute(conn, "SAVEPOINT job")
            try:
                result = fn(conn, **kw)
            except Exception as e:  # this request alone is undone
                raw.execute(conn, "ROLLBACK TO SAVEPOINT job")
                raw.execute(conn, "RELEASE SAVEPOINT job")
                del buf[mark:]
                outcomes.append((fut, None, e))
            else:
                raw.execute(conn, "RELEASE SAVEPOINT job")
                outcomes.append((fut, result, None))
        return outcomes

    def _land(self, batch: list[Any], ran: tuple[list[Any], list[dict[str, Any]], BaseException | None]) -> None:
        """On the loop, after the batch's commit (or its failure): publish, then answer."""
        outcomes, events, failed = ran
        if failed is not None:
            self.open_windows.forget()  # a count may have been read from what was not committed
            if len(batch) == 1 and _retryable(failed) and batch[0][3] < 3:
                fn, kw, fut, attempt = batch[0]  # a deadlock victim on PostgreSQL: run it again
                self.retries += 1
                self._pending.insert(0, (fn, kw, fut, attempt + 1))
                self._schedule()
                return
            for _fn, _kw, fut, _attempt in batch:
                if not fut.done():
                    fut.set_exception(failed)
            return
        self.publish(events)
        for fut, result, error in outcomes:
            if fut.done():  # the client went away
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)

    def read(self, fn: Callable[..., R], /, *args: Any, **kw: Any) -> R:
        with self.db.read() as conn:
            return fn(conn, *args, **kw)

    app_metrics: Any = None  # the request metrics middleware, set by create_app
    _fanout: Any = None
    printing: Any = None  # spoolers.PrintRuntime while the app runs them

    @property
    def fanout(self) -> Any:
        """PgFanout on PostgreSQL while the app runs: events reach the hub through it, in seq order."""
        return self._fanout

    @fanout.setter
    def fanout(self, fanout: Any) -> None:
        # With a listener to deliver them, events are numbered by the sequencer's thread after
        # the commit, and the answer does not wait for it (db/outbox.py); its first run also
        # numbers whatever a worker that died left unnumbered.
        self._fanout = fanout
        if fanout is not None and self.db.sequencer is not None:
            self.db.sequencer.start()

    def wake_printer(self, printer_id: int | None) -> None:
        """After a commit that queued a print job: the spooler looks now (if this process runs
        it; on PostgreSQL a NOTIFY after the queueing transaction's commit wakes whichever worker does)."""
        if self.printing is not None and printer_id is not None:
            self.printing.wake(printer_id)

    def publish(self, events: list[dict[str, Any]]) -> None:
        """After a commit. On PostgreSQL with a listener, nothing: the events are numbered after
        the commit, and the numbering's NOTIFY has the listener of every worker read and deliver
        them in seq order. Without one (scripts, tests) they were numbered at the commit:
        delivered here (any still unnumbered are left to whoever numbers them)."""
        if not events or self.fanout is not None:
            return
        if self.db.sequencer is not None:
            events = [ev for ev in events if ev["seq"] > 0]
        self.deliver(events)

    def deliver(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            kind = ev["type"]
            if kind == "config.changed":
                self.apply_config_change(ev)
                self.open_windows.forget()
            elif kind.startswith("window."):
                self.open_windows.forget()
        self.hub.publish(events)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n


def _retryable(e: BaseException) -> bool:
    """PostgreSQL deadlock (40P01) or serialization failure (40001): safe to run again."""
    from sqlalchemy.exc import DBAPIError
    return isinstance(e, DBAPIError) and getattr(e.orig, "sqlstate", None) in ("40P01", "40001")


def build(settings: Settings, *, clock: Clock | None = None) -> Container:
    engine = make_engine(settings.server.database_url, base_dir=settings.base_dir,
                         sqlite_synchronous=settings.server.sqlite_synchronous)
    db = Database(engine)
    # SQLite has one writer: batching requests into one transaction shares its fsync. On
    # PostgreSQL, batches of several workers would lock rows in arbitrary orders and deadlock;
    # there each request is its own short transaction, and the server batches the WAL flushes.
    return Container(settings=settings, db=db, clock=clock or SystemClock(),
                     keys=Keys(settings.secret_key, settings.data_key), hub=EventHub(),
                     max_batch=64 if db.is_sqlite else 1,
                     writer=ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer") if db.is_sqlite else None,
                     threads=None if db.is_sqlite else ThreadPoolExecutor(PG_THREADS, thread_name_prefix="txn"))
