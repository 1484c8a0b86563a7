"""The event hub: one bounded queue per subscriber (a hall screen, a console). A subscriber
that falls behind is cut off, not waited for: it reconnects with `since` and resyncs."""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

WIRE_CACHE = 4096  # encoded events kept: every screen sends the same text

Event = dict[str, Any]


@dataclass(eq=False)
class Subscriber:
    zones: frozenset[str] | None
    session_key: str | None = None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    closed_reason: str | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

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
        self._wire: OrderedDict[int, str] = OrderedDict()

    def subscribe(self, zones: Iterable[str] | None = None, session_key: str | None = None) -> Subscriber:
        sub = Subscriber(frozenset(zones) if zones else None, session_key, asyncio.Queue(maxsize=self.queue_size))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, events: Iterable[Event]) -> None:
        for ev in events:
            self.last_seq = max(self.last_seq, ev["seq"])
            self.published += 1
            for sub in list(self.subscribers):
                if sub.closed_reason is not None or not sub.wants(ev):
                    continue
                try:
                    sub.queue.put_nowait(ev)
                except asyncio.QueueFull:
                    self.dropped_subscribers += 1
                    sub.close("slow")

    def wire(self, ev: Event) -> str:
        """The event as the screens receive it, encoded once for all of them."""
        seq = ev["seq"]
        text = self._wire.get(seq)
        if text is None:
            text = self._wire[seq] = orjson.dumps(ev).decode()
            if len(self._wire) > WIRE_CACHE:
                self._wire.popitem(last=False)
        return text

    def close_session(self, session_key: str) -> int:
        n = 0
        for sub in list(self.subscribers):
            if sub.session_key == session_key:
                sub.close("logout")
                n += 1
        return n
