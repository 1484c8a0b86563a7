"""The event hub: one bounded queue per subscriber (a hall screen, a console). A subscriber
that falls behind is cut off, not waited for: it reconnects with `since` and resyncs.

Delivery has a fast path. A screen whose connection offers a direct frame writer (`direct`, see
realtime/wsprotocol.py) and which is idle (nothing queued, its sender not in the middle of a
send) gets the event written to its socket right here, as one websocket frame built once for
every screen: no task switch and no per-screen encoding, which is most of the cost of a
broadcast to a thousand screens. Otherwise (a backlog, a socket buffer that is full, a test
client) the event goes through the queue and the screen's sender task, in order, as before.

The direct writes go in rounds, a slice of SLICE screens per turn of the event loop, so that
the requests arriving during a broadcast to a thousand screens are served between slices
instead of behind the whole of it (a thousand socket writes take 10-20 ms). Events committed
during a round join it: the screens it has not reached yet get them in the same write; those
it has get them in the next round. A screen's `handed` (the newest seq written to it or queued
for it) keeps every event to one delivery, in seq order, whichever way it goes.

A round costs a socket write per screen whatever it carries, so the events that only move the
waiting counts (LAZY: a ticket issued, 50 a second from a hall's kiosks) do not start one: they
wait up to LAZY_S for company, and go in the same write as the next call, or in a round of
their own when LAZY_S is up. Nothing is merged or left out: each is still its own frame with its
own seq, in seq order, and the screens fed through their queue get them at once as before. On
1,000 screens, a round for every ticket kept the event loop writing nearly all the time, and
every issuing request waited behind a slice at each of its loop turns (p99 5 -> 41 ms).
Everything here runs on the event loop's thread."""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

WIRE_CACHE = 4096  # encoded events kept: every screen sends the same text
SLICE = 128        # direct writes per turn of the event loop (see EventHub._begin)
LAZY = frozenset({"ticket.issued"})  # events that may wait LAZY_S for a round (see the module's text)
LAZY_S = 0.25      # a screen's waiting count may lag this much; every call still goes at once
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
    handed: int = 0                                      # the newest seq written to it or queued for it
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


class _Round:
    """One pass of direct writes over the screens that were subscribed when it began."""
    __slots__ = ("events", "late", "pos", "subs", "whole")

    def __init__(self, events: list[Event], subs: list[Subscriber]) -> None:
        self.events = events            # in seq order; grows when events arrive during the round
        self.late: list[Event] = []     # those that arrived during it: the next round takes them
        self.subs = subs
        self.pos = 0                    # the next screen to write
        self.whole: bytes | None = None  # the frames of all its events, joined once


class EventHub:
    slice = SLICE
    lazy_s = LAZY_S

    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self.last_seq = 0
        self.published = 0
        self.dropped_subscribers = 0
        self.direct_writes = 0
        self.rounds = 0
        self.slices = 0
        self._wire: OrderedDict[int, tuple[str, bytes]] = OrderedDict()
        self._pending: list[Event] = []
        self._urgent = False  # an event in _pending that is not LAZY: the next round starts now
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None  # the round for LAZY events only, LAZY_S after the first
        self._round: _Round | None = None

    @property
    def broadcasting(self) -> bool:
        """A round of direct writes is under way (it goes on between the loop's other work)."""
        return self._round is not None

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
        request's answer does not wait for a thousand socket writes), or up to LAZY_S later if
        they are all LAZY. Urgent events published while a round of direct writes is under way
        join it, with the LAZY ones before them (see `_step`)."""
        events = list(events)
        if not events:
            return
        for ev in events:
            self.last_seq = max(self.last_seq, ev["seq"])
            self.published += 1
        for sub in list(self.subscribers):
            if sub.direct is None and sub.closed_reason is None:
                self._enqueue(sub, events if sub.zones is None else [ev for ev in events if sub.wants(ev)])
        self._pending += events
        if not self._urgent and any(ev["type"] not in LAZY for ev in events):
            self._urgent = True
        self._wake()

    def _wake(self) -> None:
        """Have a round start for the pending events, unless one is under way (it takes them
        when it ends): now if one of them is urgent, else LAZY_S later."""
        if self._round is not None or self._scheduled or not self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # published outside the event loop (a script, a test): no answers to wait for
            self._begin(slicing=False)
            return
        if self._urgent:
            self._scheduled = True
            loop.call_soon(loop.call_soon, self._begin)  # behind the answers woken by this commit
        elif self._timer is None:
            self._timer = loop.call_later(self.lazy_s, self._begin)

    def _begin(self, slicing: bool = True) -> None:
        """A round over every screen with a direct writer, `slice` screens per turn of the event
        loop: the requests that arrive meanwhile are served between slices instead of waiting
        for a thousand socket writes."""
        self._scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._round is not None or not self._pending:
            return
        events, self._pending, self._urgent = self._pending, [], False
        self._round = _Round(events, [s for s in self.subscribers if s.direct is not None])
        self.rounds += 1
        if slicing:
            self._step()
        else:
            while self._round is not None:
                self._step(slicing=False)

    def _step(self, slicing: bool = True) -> None:
        r = self._round
        assert r is not None
        if self._urgent:  # arrived since the last slice: the screens not yet written get them in the same write
            r.events += self._pending
            r.late += self._pending
            r.whole = None
            self._pending, self._urgent = [], False
        end = r.pos + self.slice if slicing else len(r.subs)
        for sub in r.subs[r.pos:end]:
            self._deliver(sub, r)
        r.pos = min(end, len(r.subs))
        self.slices += 1
        if r.pos < len(r.subs):
            asyncio.get_running_loop().call_soon(self._step)
            return
        # The screens written before some events joined the round still need those (urgent ones
        # among them: only those make events join): another round now. LAZY ones alone wait.
        self._round = None
        if r.late:
            self._pending = r.late + self._pending
            self._urgent = True
        if not self._pending:
            return
        if not slicing:
            self._begin(slicing=False)
        elif self._urgent:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._begin)
        else:
            self._wake()

    def _deliver(self, sub: Subscriber, r: _Round) -> None:
        """An idle screen gets all its new events of the round in one socket write; one that is
        busy or backed up gets them through its queue, behind what is already there. Each event
        is handed to a screen once (`handed`), whichever way."""
        if sub.closed_reason is not None or sub.direct is None or sub not in self.subscribers:
            return
        events = r.events
        floor = sub.handed if sub.handed > sub.last else sub.last
        if events[-1]["seq"] <= floor:
            return
        data = None
        if sub.zones is None and events[0]["seq"] > floor:  # a hall-wide screen that has none of them: the usual case
            wanted = events
            data = r.whole
        else:
            wanted = [ev for ev in events if ev["seq"] > floor and sub.wants(ev)]
            if not wanted:
                return
        if not sub.busy and sub.queue.empty():
            if data is None:
                data = b"".join(self._encoded(ev)[1] for ev in wanted)
                if wanted is events:
                    r.whole = data
            if sub.direct(data):
                sub.handed = sub.last = wanted[-1]["seq"]
                self.direct_writes += 1
                return
        self._enqueue(sub, wanted)

    def _enqueue(self, sub: Subscriber, events: list[Event]) -> None:
        for ev in events:
            try:
                sub.queue.put_nowait(ev)
            except asyncio.QueueFull:
                self.dropped_subscribers += 1
                sub.close("slow")
                return
            if ev["seq"] > sub.handed:
                sub.handed = ev["seq"]

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
