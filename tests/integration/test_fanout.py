"""Fan-out across workers on PostgreSQL: two containers on one database (two workers) each
deliver every event, from both, exactly once and in seq order, through LISTEN/NOTIFY."""
from __future__ import annotations

import asyncio

from kiosk_server import bootstrap
from kiosk_server.db import queries
from kiosk_server.realtime.pg_listener import PgFanout
from kiosk_server.services import tickets as svc
from kiosk_server.services.context import Actor
from tests.support.hall import FakeClock, prepare

KIOSK = Actor("device:K1", frozenset({"kiosk"}), device_id=1)


def test_every_worker_delivers_every_event_in_order(pg_url: str):
    p = prepare(pg_url)
    workers = [bootstrap.build(p.settings, clock=FakeClock()) for _ in range(2)]

    async def run() -> list[list[int]]:
        subs, tasks = [], []
        for c in workers:
            start = c.read(queries.last_seq)
            c.fanout = PgFanout(p.settings.server.database_url,
                                lambda since, n, c=c: c.read(queries.events_since, c.hall, since, n), c.deliver, start)
            tasks.append(asyncio.create_task(c.fanout.run()))
            subs.append(c.hub.subscribe())
        await asyncio.sleep(0.3)  # listeners connected
        jobs = []
        for i in range(40):
            c = workers[i % 2]
            jobs.append(c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK,
                                 zone_code="AB"[i % 2]))
        await asyncio.gather(*jobs)
        got: list[list[int]] = [[], []]
        for _ in range(50):  # bounded wait for delivery
            for i, sub in enumerate(subs):
                while not sub.queue.empty():
                    got[i].append(sub.queue.get_nowait()["seq"])
            if all(len(g) >= 40 for g in got):
                break
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        return got

    try:
        got = asyncio.run(run())
    finally:
        for c in workers:  # their sequencer threads, numbering in the background since `fanout` was set
            c.threads.shutdown()
            c.db.dispose()
    for seqs in got:
        assert len(seqs) == 40
        assert seqs == sorted(seqs) and len(set(seqs)) == 40
        assert seqs == list(range(seqs[0], seqs[0] + 40))  # contiguous: seq follows commit order
    assert got[0] == got[1]
