"""The group-commit writer: requests that arrive together share one transaction, each in its
own savepoint; a refused one changes nothing; events go out in seq order after the commit."""
from __future__ import annotations

import asyncio
import threading
import time

from sqlalchemy import func, select

from kiosk_server import bootstrap
from kiosk_server.db import tables as T
from kiosk_server.domain.errors import NotFound
from kiosk_server.services import tickets as svc
from kiosk_server.services.context import Actor
from tests.support.hall import FakeClock, prepare

KIOSK = Actor("device:K1", frozenset({"kiosk"}), device_id=1)


def test_a_batch_commits_together_and_a_refused_request_changes_nothing(db_url: str):
    p = prepare(db_url)
    c = bootstrap.build(p.settings, clock=FakeClock())
    # PostgreSQL serves one request a transaction on its thread pool; the batch mechanism holds on both
    c.max_batch, c.threads = 64, None
    received: list[dict] = []

    async def run() -> list:
        sub = c.hub.subscribe()
        jobs = [c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK,
                         zone_code="Z" if i == 4 else "A") for i in range(10)]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        while not sub.queue.empty():
            received.append(sub.queue.get_nowait())
        return results

    results = asyncio.run(run())
    assert isinstance(results[4], NotFound)
    numbers = [r.ticket["number"] for i, r in enumerate(results) if i != 4]
    assert numbers == [f"A{n:03d}" for n in range(1, 10)]
    assert c.batches == 1 and c.batched_jobs == 10
    assert [e["ticket"]["number"] for e in received] == numbers
    seqs = [e["seq"] for e in received]
    assert seqs == sorted(seqs) and len(set(seqs)) == 9
    with c.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(T.tickets)).scalar_one() == 9
        assert conn.execute(select(T.counters.c.value, T.counters.c.waiting)).one() == (9, 9)


def test_an_unexpected_error_undoes_only_its_own_request(sqlite_url: str):
    p = prepare(sqlite_url)
    c = bootstrap.build(p.settings, clock=FakeClock())

    def boom(conn, **kw):  # noqa: ANN001
        svc.issue_ticket(conn, **kw)
        raise OSError("disk full")  # after the work: the whole transaction must go

    async def run() -> list:
        ok = c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK, zone_code="A")
        bad = c.submit(boom, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK, zone_code="A")
        return await asyncio.gather(ok, bad, return_exceptions=True)

    results = asyncio.run(run())
    assert not isinstance(results[0], Exception)  # savepoint: the good one stays
    assert isinstance(results[1], OSError)
    with c.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(T.tickets)).scalar_one() == 1


def test_postgres_runs_requests_concurrently_on_its_thread_pool(pg_url: str):
    """PostgreSQL: each request its own transaction on the worker's thread pool; concurrent
    requests get distinct numbers, a refused one changes nothing, the loop is never blocked."""
    p = prepare(pg_url)
    c = bootstrap.build(p.settings, clock=FakeClock())
    assert c.threads is not None

    async def run() -> list:
        ticks = 0

        async def ticker() -> None:  # runs while the transactions wait: the loop is free
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.create_task(ticker())
        jobs = [c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK,
                         zone_code="Z" if i == 4 else "A") for i in range(20)]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        t.cancel()
        assert ticks > 20
        return results

    results = asyncio.run(run())
    assert isinstance(results[4], NotFound)
    numbers = sorted(r.ticket["number"] for i, r in enumerate(results) if i != 4)
    assert numbers == [f"A{n:03d}" for n in range(1, 20)]
    with c.db.read() as conn:
        assert conn.execute(select(T.counters.c.value, T.counters.c.waiting)).one() == (19, 19)
    c.threads.shutdown()
    c.db.dispose()


def test_sqlite_commits_on_its_writer_thread_while_the_loop_gathers_the_next_batch(sqlite_url: str):
    """SQLite: a batch's COMMIT (its fsync) runs on the writer thread; the loop keeps running
    meanwhile, and what arrives during the commit goes in the next batch, in order."""
    from sqlalchemy import event

    p = prepare(sqlite_url)
    c = bootstrap.build(p.settings, clock=FakeClock())
    assert c.writer is not None and c.threads is None
    assert c.hall is not None  # read now: a read's COMMIT is not the one this test slows down
    committing = threading.Event()
    loop_thread = threading.get_ident()
    commit_threads: list[int] = []

    @event.listens_for(c.db.engine, "commit")
    def slow_disk(_conn) -> None:  # noqa: ANN001 - before the driver's COMMIT: a slow fsync
        commit_threads.append(threading.get_ident())
        if len(commit_threads) == 1:
            committing.set()
            time.sleep(0.3)

    async def run() -> tuple[list, int, list]:
        sub = c.hub.subscribe()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        t = asyncio.create_task(ticker())
        first = asyncio.ensure_future(c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys,
                                               actor=KIOSK, zone_code="A"))
        while not committing.is_set():
            await asyncio.sleep(0.001)
        later = [c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK, zone_code="A")
                 for _ in range(5)]
        results = await asyncio.gather(first, *later)
        t.cancel()
        got = []
        while not sub.queue.empty():
            got.append(sub.queue.get_nowait())
        return results, ticks, got

    results, ticks, events = asyncio.run(run())
    assert ticks >= 20, ticks  # the loop ran on through the 0.3 s commit
    assert commit_threads and all(tid != loop_thread for tid in commit_threads)
    assert [r.ticket["number"] for r in results] == [f"A{n:03d}" for n in range(1, 7)]
    assert (c.batches, c.batched_jobs) == (2, 6)  # the five that came during the commit: one batch
    assert [e["ticket"]["number"] for e in events] == [f"A{n:03d}" for n in range(1, 7)]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    c.writer.shutdown()
    c.db.dispose()


def test_more_requests_than_one_batch_holds_all_get_their_answer(sqlite_url: str):
    """Past max_batch the rest go in the next batches, with the writer thread and without."""
    p = prepare(sqlite_url)
    for writer in (True, False):
        c = bootstrap.build(p.settings, clock=FakeClock())
        c.max_batch = 3
        if not writer:
            c.writer.shutdown()
            c.writer = None

        async def run() -> list:
            jobs = [c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK, zone_code="B")
                    for _ in range(10)]
            return await asyncio.wait_for(asyncio.gather(*jobs), timeout=10)

        results = asyncio.run(run())
        assert len({r.ticket["number"] for r in results}) == 10
        assert c.batches >= 4
        if c.writer is not None:
            c.writer.shutdown()
        c.db.dispose()


def test_a_commit_that_fails_on_the_writer_thread_fails_its_batch_and_the_next_batch_runs(sqlite_url: str):
    """The writer thread hands the COMMIT's outcome to the loop itself (call_soon_threadsafe):
    a failure there still reaches every request of the batch, publishes nothing, and does not
    leave the writer stuck."""
    from sqlalchemy import event

    p = prepare(sqlite_url)
    c = bootstrap.build(p.settings, clock=FakeClock())
    assert c.writer is not None and c.hall is not None
    fail = [True]

    @event.listens_for(c.db.engine, "commit")
    def broken_disk(_conn) -> None:  # noqa: ANN001
        if fail[0]:
            fail[0] = False
            raise OSError("disk I/O error")

    async def run() -> tuple[list, list]:
        sub = c.hub.subscribe()
        issue = lambda: c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys,  # noqa: E731
                                 actor=KIOSK, zone_code="A")
        first = await asyncio.gather(issue(), issue(), return_exceptions=True)
        after = await issue()
        got = []
        while not sub.queue.empty():
            got.append(sub.queue.get_nowait())
        return [*first, after], got

    results, events = asyncio.run(asyncio.wait_for(run(), 10))  # a lost outcome would hang its requests
    assert [type(r).__name__ for r in results[:2]] == ["OSError", "OSError"]
    assert results[2].ticket["number"] == "A001"  # the failed batch numbered nothing
    assert [e["ticket"]["number"] for e in events] == ["A001"]
    c.writer.shutdown()
    c.db.dispose()


def test_during_a_broadcast_a_batch_commits_on_the_loop_not_through_the_writer_thread(sqlite_url: str,
                                                                                     monkeypatch):  # noqa: ANN001
    """While the loop writes a call to every screen, a thread waits for the interpreter lock
    (twice a commit): the batch then commits where it ran. Outside a broadcast, the thread."""
    p = prepare(sqlite_url)
    c = bootstrap.build(p.settings, clock=FakeClock())
    assert c.writer is not None
    handed: list[object] = []
    real_submit = c.writer.submit
    monkeypatch.setattr(c.writer, "submit", lambda fn, *a, **k: handed.append(fn) or real_submit(fn, *a, **k))
    broadcasting = [True]
    monkeypatch.setattr(type(c.hub), "broadcasting", property(lambda _hub: broadcasting[0]))

    async def issue(n: int) -> list:
        return await asyncio.gather(*(c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys,
                                               actor=KIOSK, zone_code="A") for _ in range(n)))

    during = asyncio.run(issue(3))
    assert handed == [] and [r.ticket["number"] for r in during] == ["A001", "A002", "A003"]
    broadcasting[0] = False
    after = asyncio.run(issue(2))
    assert len(handed) == 1 and [r.ticket["number"] for r in after] == ["A004", "A005"]
    with c.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(T.tickets)).scalar_one() == 5
