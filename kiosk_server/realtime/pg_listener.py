"""Fan-out across workers on PostgreSQL: every worker LISTENs on a dedicated connection and,
on each NOTIFY (and at least once a second, and after any reconnect), reads the events after
the last one it delivered, in seq order, from the events table. Events get their seq after
their commit, from numbering transactions that become visible in the order they number (one
at a time under an advisory lock, which sends the NOTIFY: db/outbox.py), and an event not yet
numbered is invisible to `seq > last`; so reading `seq > last` never skips an event.

A NOTIFY's payload says how far the committed events go: the newest seq (as text), or that seq
and the events themselves (`payload`, JSON). A listener that already has every event up to the
announced seq reads nothing; one whose announced events follow on from the last it delivered
delivers them from the payload and reads nothing either; otherwise (a gap, a payload too large
to carry the events, a payload it cannot parse, a reconnect, the once-a-second check) it reads
`seq > last` from the table. Either way it delivers each event once, in seq order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg
from sqlalchemy.engine import make_url

from kiosk_server.db import outbox

log = logging.getLogger("kiosk_server.realtime")
POLL_S = 1.0
BATCH = 1000
PAYLOAD_MAX = 7900  # bytes: PostgreSQL refuses a NOTIFY payload of 8000 or more


def conninfo(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def payload(events: Sequence[dict[str, Any]]) -> str:
    """The NOTIFY payload for committed events (in seq order, as the screens receive them, i.e.
    as queries.events_since reads them back): the events themselves when they fit, else just
    the newest seq, which has the listeners read them from the table."""
    last = events[-1]["seq"]
    text = orjson.dumps({"seq": last, "events": list(events)}).decode()
    return text if len(text.encode()) <= PAYLOAD_MAX else str(last)


def parse(text: str) -> tuple[int, list[dict[str, Any]] | None]:
    """(newest seq announced, the events carried or None); (-1, None) if unreadable: then the
    listener reads the table."""
    text = text.strip()
    try:
        if not text.startswith("{"):
            return int(text), None
        doc = orjson.loads(text)
        events = doc.get("events")
        if not isinstance(events, list) or not all(isinstance(e, dict) and isinstance(e.get("seq"), int)
                                                   for e in events):
            events = None
        return int(doc["seq"]), events or None
    except (ValueError, TypeError, KeyError, AttributeError, orjson.JSONDecodeError):
        return -1, None


class PgFanout:
    """Delivers committed events to the local hub in seq order, whichever worker wrote them."""

    def __init__(self, url: str, fetch: Callable[[int, int], list[dict[str, Any]]],
                 deliver: Callable[[list[dict[str, Any]]], None], start_seq: int) -> None:
        self.url = conninfo(url)
        self.fetch = fetch
        self.deliver = deliver
        self.last = start_seq
        self.reconnects = 0
        self.notifies = 0
        self.reads = 0               # reads of the table
        self.from_payload = 0        # notifies whose events were delivered from the payload

    def catch_up(self) -> int:
        n = 0
        while True:
            self.reads += 1
            events = self.fetch(self.last, BATCH)
            if not events:
                return n
            self.last = events[-1]["seq"]
            self.deliver(events)
            n += len(events)
            if len(events) < BATCH:
                return n

    def notified(self, text: str) -> int:
        """One NOTIFY: deliver what it announces that this worker has not delivered yet; returns
        the number of events delivered."""
        self.notifies += 1
        upto, events = parse(text)
        if 0 <= upto <= self.last:
            return 0  # delivered already (an earlier read went past it)
        if events is not None:
            fresh = [e for e in events if e["seq"] > self.last]
            if (fresh and fresh[0]["seq"] == self.last + 1 and fresh[-1]["seq"] == upto
                    and all(b["seq"] == a["seq"] + 1 for a, b in zip(fresh, fresh[1:]))):
                self.last = upto
                self.from_payload += 1
                self.deliver(fresh)
                return len(fresh)
        return self.catch_up()  # a gap, a bare seq, or an unreadable payload: the table has them

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as aconn:
                    await aconn.execute(f"LISTEN {outbox.CHANNEL}")
                    backoff = 0.2
                    self.catch_up()  # whatever was committed while we were not listening
                    while True:
                        # Notifies for POLL_S, then the check.
                        async for n in aconn.notifies(timeout=POLL_S):
                            self.notified(n.payload)
                        self.catch_up()  # missed nothing, normally: reads nothing
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.reconnects += 1
                log.warning("event listener lost its connection (%s); reconnecting", e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
