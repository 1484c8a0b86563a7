"""PostgreSQL: a NOTIFY that carries its events (pg_listener.payload) is delivered by a worker's
listener as if read from the events table, without reading it; and the listener stops at once
when cancelled."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

from kiosk_server import bootstrap
from kiosk_server.db import outbox, queries
from kiosk_server.realtime.pg_listener import PgFanout, conninfo, payload
from kiosk_server.services import tickets as svc
from kiosk_server.services.context import Actor
from tests.support.hall import FakeClock, prepare

KIOSK = Actor("device:K1", frozenset({"kiosk"}), device_id=1)


@pytest.mark.postgres
def test_a_notify_carrying_its_events_is_delivered_without_reading_the_table(pg_url: str):
    p = prepare(pg_url)
    c = bootstrap.build(p.settings, clock=FakeClock())

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]], PgFanout, float]:
        start = c.read(queries.last_seq)
        for i in range(3):
            await c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK, zone_code="AB"[i % 2])
        for _ in range(100):  # numbered (at once, or by a background numbering)
            events = c.read(queries.events_since, c.hall, start, 100)
            if len(events) == 3:
                break
            await asyncio.sleep(0.05)
        assert len(events) == 3
        got: list[dict[str, Any]] = []
        # The table, as this listener sees it, shows nothing new: what it delivers came in the NOTIFY.
        fanout = PgFanout(p.settings.server.database_url, lambda since, n: [], got.extend, start)
        task = asyncio.create_task(fanout.run())
        for _ in range(100):
            if fanout.reads:
                break
            await asyncio.sleep(0.02)  # listening, and caught up once
        async with await psycopg.AsyncConnection.connect(conninfo(p.settings.server.database_url),
                                                         autocommit=True) as aconn:
            await aconn.execute("SELECT pg_notify(%s, %s)", (outbox.CHANNEL, payload(events)))
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        t0 = time.monotonic()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return events, got, fanout, time.monotonic() - t0

    events, got, fanout, stop_s = asyncio.run(run())
    assert got == events  # the same dicts the table gives, in seq order
    assert fanout.from_payload == 1 and fanout.last == events[-1]["seq"]
    assert stop_s < 2.0
    c.db.dispose()
