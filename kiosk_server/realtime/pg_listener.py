"""Fan-out across workers on PostgreSQL: every worker LISTENs on a dedicated connection and,
on each NOTIFY (and at least once a second, and after any reconnect), reads the events after
the last one it delivered, in seq order, from the events table. Events get their seq after
their commit, from numbering transactions that become visible in the order they number (one
at a time under an advisory lock, which sends the NOTIFY: db/outbox.py), and an event not yet
numbered is invisible to `seq > last`; so reading `seq > last` never skips an event."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from kiosk_server.db import outbox

log = logging.getLogger("kiosk_server.realtime")
POLL_S = 1.0
BATCH = 1000


def conninfo(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgFanout:
    """Delivers committed events to the local hub in seq order, whichever worker wrote them."""

    def __init__(self, url: str, fetch: Callable[[int, int], list[dict[str, Any]]],
                 deliver: Callable[[list[dict[str, Any]]], None], start_seq: int) -> None:
        self.url = conninfo(url)
        self.fetch = fetch
        self.deliver = deliver
        self.last = start_seq
        self.poke = asyncio.Event()
        self.reconnects = 0

    def catch_up(self) -> int:
        n = 0
        while True:
            events = self.fetch(self.last, BATCH)
            if not events:
                return n
            self.last = events[-1]["seq"]
            self.deliver(events)
            n += len(events)
            if len(events) < BATCH:
                return n

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as aconn:
                    await aconn.execute(f"LISTEN {outbox.CHANNEL}")
                    backoff = 0.2
                    self.catch_up()  # whatever was committed while we were not listening
                    while True:
                        waiter = asyncio.create_task(self.poke.wait())
                        notified = asyncio.create_task(self._next_notify(aconn))
                        try:
                            done, _ = await asyncio.wait({waiter, notified}, timeout=POLL_S,
                                                         return_when=asyncio.FIRST_COMPLETED)
                        finally:  # also on cancellation: nothing may keep using the connection
                            for task in (waiter, notified):
                                task.cancel()
                            await asyncio.gather(waiter, notified, return_exceptions=True)
                        if notified in done and notified.exception() is not None:
                            raise notified.exception()  # type: ignore[misc]
                        self.poke.clear()
                        self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.reconnects += 1
                log.warning("event listener lost its connection (%s); reconnecting", e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    @staticmethod
    async def _next_notify(aconn: psycopg.AsyncConnection) -> None:
        async for _n in aconn.notifies(stop_after=1):
            return
