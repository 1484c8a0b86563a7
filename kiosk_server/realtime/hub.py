"""The event hub: one bounded queue per subscriber (a hall screen, a console). A subscriber
that falls behind is cut off, not waited for: it reconnects with `since` and resyncs.

Delivery has a fast path. A screen whose connection offers a direct frame writer (`direct`, see
realtime/wsprotocol.py) and which is idle (nothing queued, its sender not in the middle of a
send) gets the event written to its socket right here, as one websocket frame built once for
every screen: no task switch and no per-screen encoding, which is most of the cost of a
broadcast to a thousand screens. Otherwise (a backlog, a socket buffer that is full, a test
client) the event goes through the queue and the screen's sender task, in order, as before.
Everything here runs on the event loop's thread."""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

WIRE_CACHE = 4096  # encoded events kept: every screen sends the same text
DIRECT = "hall.direct_frame"  # the ASGI scope extension holding a connection's direct frame writer

Event = dict[str, Any]


@dataclass(eq=False)
class Subscriber:
    zones: frozenset[str] | None
    session_key: str | None = None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    closed_reason: str | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    last: int = 0                                        # the newest seq this screen was sent
    busy: bool = False                                   # its sender task is inside a send
    direct: Callable[[bytes], bool] | None = None        # writes a whole frame now, or refuses

    def wants(self, ev: Event) -> bool:
        if self.zones is None:
            return True
        zone = ev.get("zone")
        return zone is None or zone in self.zones

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            self.closed.set()


class EventHub:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self.last_seq = 0
        self.published = 0
        self.dropped_subscribers = 0
        self.direct_writes = 0
        self._wire: OrderedDict[int, tuple[str, bytes]] = OrderedDict()
        self._later: list[Event] = []
        self._later_scheduled = False

    def subscribe(self, zones: Iterable[str] | None = None, session_key: str | None = None) -> Subscriber:
        sub = Subscriber(frozenset(zones) if zones else None, session_key, asyncio.Queue(maxsize=self.queue_size))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, events: Iterable[Event]) -> None:
        """Hand committed events (in seq order) to every subscriber that wants them: at once to
        those fed through their queue; to those with a direct writer a moment later, once the
        requests whose commit produced the events have had their turn to answer (the
        request's answer does not wait for a thousand socket writes)."""
        events = list(events)
        if not events:
            return
        for ev in events:
            self.last_seq = max(self.last_seq, ev["seq"])
            self.published += 1
        for sub in list(self.subscribers):
            if sub.direct is None and sub.closed_reason is None:
                self._enqueue(sub, events if sub.zones is None else [ev for ev in events if sub.wants(ev)])
        self._later += events
        if not self._later_scheduled:
            self._later_scheduled = True
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # published outside the event loop (a script, a test): no answers to wait for
                self._deliver_later()
                return
            loop.call_soon(loop.call_soon, self._deliver_later)  # behind the answers woken by this commit

    def _deliver_later(self) -> None:
        """An idle screen gets all of its events in one socket write; one that is busy or backed
        up gets them through its queue, behind what is already there."""
        events, self._later, self._later_scheduled = self._later, [], False
        joined: dict[tuple[int, ...], bytes] = {}  # the frames of a run of events, joined once
        for sub in list(self.subscribers):
            if sub.direct is None or sub.closed_reason is not None:
                continue
            wanted = events if sub.zones is None else [ev for ev in events if sub.wants(ev)]
            if not sub.busy and sub.queue.empty():
                wanted = [ev for ev in wanted if ev["seq"] > sub.last]
                if not wanted:
                    continue
                key = tuple(ev["seq"] for ev in wanted)
                data = joined.get(key)
                if data is None:
                    data = joined[key] = b"".join(self._encoded(ev)[1] for ev in wanted)
                if sub.direct(data):
                    sub.last = key[-1]
                    self.direct_writes += 1
                    continue
            self._enqueue(sub, wanted)

    def _enqueue(self, sub: Subscriber, events: list[Event]) -> None:
        for ev in events:
            try:
                sub.queue.put_nowait(ev)
            except asyncio.QueueFull:
                self.dropped_subscribers += 1
                sub.close("slow")
                return

    def wire(self, ev: Event) -> str:
        """The event as the screens receive it, encoded once for all of them."""
        return self._encoded(ev)[0]

    def _encoded(self, ev: Event) -> tuple[str, bytes]:
        seq = ev["seq"]
        enc = self._wire.get(seq)
        if enc is None:
            data = orjson.dumps(ev)
            enc = self._wire[seq] = (data.decode(), text_frame(data))
            if len(self._wire) > WIRE_CACHE:
                self._wire.popitem(last=False)
        return enc

    def close_session(self, session_key: str) -> int:
        n = 0
        for sub in list(self.subscribers):
            if sub.session_key == session_key:
                sub.close("logout")
                n += 1
        return n


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented, uncompressed websocket text frame (RFC 6455 §5.2), as a server sends."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 1 << 16:
        head = b"\x81\x7e" + n.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + n.to_bytes(8, "big")
    return head + payload
