"""The hall as a screen sees it, and the pure reducer that moves it along the stream.

`reduce(state, message) -> state` never mutates its input and does no I/O. It keeps the windows
(state and the number each one holds), the recent calls (newest first), the tickets waiting per
zone and the last applied seq.

Gaps. The server numbers every event; on an unfiltered stream each event's seq is the last one
plus one. Anything else (or an event before the first snapshot, or a layout change) sets
`needs_resync`, and the client asks for a snapshot; the event itself is still applied, so the
screen stays as fresh as it can until the snapshot arrives. A zone-filtered stream skips the other
zones' seqs by design, so there `gap_check` is off (the server cuts a subscriber it drops events
for, and the reconnect with `since` replays what was missed). An event whose seq is not above the
last one is a duplicate (a replay overlapping a snapshot) and changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from display_client.protocol import Event, Message, Snapshot, TicketRef

MAX_CALLS = 10


@dataclass(frozen=True)
class WindowView:
    code: str
    name: str = ""
    state: str = "closed"          # open | paused | closed (the server's words)
    number: str | None = None      # the ticket called to or served at this window
    ticket_id: int | None = None
    serving: bool = False
    reason: str | None = None      # why it is paused
    call_seq: int | None = None    # seq of the latest call or recall of its ticket here

    def holds(self, t: TicketRef) -> bool:
        if self.ticket_id is not None and t.id is not None:
            return self.ticket_id == t.id
        return self.number is not None and self.number == t.number


@dataclass(frozen=True)
class CallView:
    seq: int
    at: str
    number: str
    ticket_id: int | None
    window: str
    window_name: str
    zone: str | None
    recall: bool
    text: str


@dataclass(frozen=True)
class HallState:
    seq: int | None = None                 # last applied seq; None before the first snapshot
    hall_name: str = ""
    windows: Mapping[str, WindowView] = field(default_factory=dict)
    calls: tuple[CallView, ...] = ()       # newest first, one per ticket
    waiting: Mapping[str, int] = field(default_factory=dict)
    needs_resync: bool = False
    resync_reason: str = ""
    zones: frozenset[str] | None = None    # the zones the stream was opened for (None: all)
    gap_check: bool = True

    def is_current(self, window: str, number: str) -> bool:
        """Whether `number` is still the ticket at `window` (called or being served)."""
        w = self.windows.get(window)
        return w is not None and w.number == number


def initial(zones: frozenset[str] | None = None, gap_check: bool | None = None) -> HallState:
    """An empty state; gap detection defaults to on for an unfiltered stream only."""
    return HallState(zones=zones, gap_check=zones is None if gap_check is None else gap_check)


def reduce(state: HallState, message: Message) -> HallState:
    if isinstance(message, Snapshot):
        return _snapshot(state, message)
    if isinstance(message, Event):
        return _event(state, message)
    return state


def _snapshot(state: HallState, snap: Snapshot) -> HallState:
    calls = _dedupe(tuple(_call_view(ev) for ev in snap.calls if ev.is_call and ev.ticket and ev.window))
    windows = {}
    for w in snap.windows:
        call = next((c for c in calls if c.window == w.code and c.number == w.current_number), None)
        windows[w.code] = WindowView(w.code, w.name, w.state, w.current_number,
                                     call.ticket_id if call else None, call_seq=call.seq if call else None)
    return replace(state, seq=snap.seq, hall_name=snap.hall_name or state.hall_name, windows=windows,
                   calls=calls, waiting=_ours(state, snap.waiting), needs_resync=False, resync_reason="")


def _event(state: HallState, ev: Event) -> HallState:
    if state.seq is not None and ev.seq <= state.seq:
        return state
    needs, reason = state.needs_resync, state.resync_reason
    if not needs:
        if state.seq is None:
            needs, reason = True, "event before the first snapshot"
        elif state.gap_check and ev.seq != state.seq + 1:
            needs, reason = True, f"gap: expected seq {state.seq + 1}, got {ev.seq}"
    handler = _HANDLERS.get(ev.type)
    new = handler(state, ev) if handler else state
    waiting = {**new.waiting, **_ours(state, ev.waiting)} if ev.waiting else new.waiting
    if ev.type == "config.changed" and not needs:
        needs, reason = True, "layout changed"
    return replace(new, seq=ev.seq, waiting=waiting, needs_resync=needs, resync_reason=reason)


def _ours(state: HallState, waiting: Mapping[str, int] | None) -> dict[str, int]:
    if not waiting:
        return {}
    return {z: n for z, n in waiting.items() if state.zones is None or z in state.zones}


def _call_view(ev: Event) -> CallView:
    assert ev.ticket is not None and ev.window is not None
    text = ev.announcement.text if ev.announcement else ""
    return CallView(ev.seq, ev.at, ev.ticket.number, ev.ticket.id, ev.window.code, ev.window.name,
                    ev.ticket.zone or ev.zone, ev.type == "ticket.recalled", text)


def _same_ticket(a: CallView, b: CallView) -> bool:
    if a.ticket_id is not None and b.ticket_id is not None:
        return a.ticket_id == b.ticket_id
    return a.number == b.number


def _dedupe(calls: tuple[CallView, ...]) -> tuple[CallView, ...]:
    out: list[CallView] = []
    for c in calls:
        if not any(_same_ticket(c, o) for o in out):
            out.append(c)
    return tuple(out[:MAX_CALLS])


def _with_window(state: HallState, w: WindowView) -> HallState:
    return replace(state, windows={**state.windows, w.code: w})


def _vacant(w: WindowView) -> WindowView:
    return replace(w, number=None, ticket_id=None, serving=False, call_seq=None)


def _release(state: HallState, t: TicketRef) -> HallState:
    """The ticket left its window (served, missed, cancelled, requeued, transferred, expired)."""
    windows = {code: _vacant(w) if w.holds(t) else w for code, w in state.windows.items()}
    return replace(state, windows=windows)


def _called(state: HallState, ev: Event) -> HallState:
    if ev.ticket is None or ev.window is None:
        return state
    t, ref = ev.ticket, ev.window
    state = _release(state, t)
    w = state.windows.get(ref.code) or WindowView(ref.code, ref.name, "open")
    state = _with_window(state, replace(w, name=ref.name or w.name, number=t.number, ticket_id=t.id, serving=False,
                                        call_seq=ev.seq))
    return replace(state, calls=_dedupe((_call_view(ev), *state.calls)))


def _started(state: HallState, ev: Event) -> HallState:
    if ev.ticket is None:
        return state
    t = ev.ticket
    code = ev.window.code if ev.window else next((c for c, w in state.windows.items() if w.holds(t)), None)
    w = state.windows.get(code) if code else None
    if w is None:
        return state
    return _with_window(state, replace(w, number=t.number, ticket_id=t.id, serving=True))


def _released(state: HallState, ev: Event) -> HallState:
    return _release(state, ev.ticket) if ev.ticket else state


_WINDOW_STATES = {"window.opened": "open", "window.resumed": "open", "window.paused": "paused",
                  "window.closed": "closed"}


def _window_changed(state: HallState, ev: Event) -> HallState:
    ref = ev.window
    if ref is None:
        return state
    w = state.windows.get(ref.code)
    if w is None:
        if state.zones is not None:
            return state  # a window of other zones: the snapshot listed ours
        w = WindowView(ref.code, ref.name)
    new_state = ref.state or _WINDOW_STATES[ev.type]
    w = replace(w, name=ref.name or w.name, state=new_state,
                reason=ref.reason if new_state == "paused" else None)
    if ev.type != "window.resumed":
        w = _vacant(w)
    return _with_window(state, w)


_HANDLERS: dict[str, Callable[[HallState, Event], HallState]] = {
    "ticket.called": _called,
    "ticket.recalled": _called,
    "ticket.started": _started,
    "ticket.served": _released,
    "ticket.missed": _released,
    "ticket.cancelled": _released,
    "ticket.requeued": _released,
    "ticket.transferred": _released,
    "ticket.expired": _released,
    **{t: _window_changed for t in _WINDOW_STATES},
}
