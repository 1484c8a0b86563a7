"""The display stream's wire messages, as this client reads them.

Our own models of the server's contract (`WS /api/v1/display/stream`), so the client can run on
another machine without the server's code. Parsing is tolerant: an unknown event type, an
unknown field or a missing optional field is not an error; the fields this client uses are
typed and checked, and the raw message is kept for anything else. A message that is not a JSON
object, or an event without an integer `seq` and a `type`, raises `ProtocolError`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CALL_TYPES = frozenset({"ticket.called", "ticket.recalled"})


class ProtocolError(ValueError):
    """A message this client cannot read at all."""


@dataclass(frozen=True)
class TicketRef:
    id: int | None
    number: str
    zone: str | None = None


@dataclass(frozen=True)
class WindowRef:
    code: str
    name: str = ""
    state: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Announcement:
    text: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    at: str = ""
    zone: str | None = None
    ticket: TicketRef | None = None
    window: WindowRef | None = None
    from_window: WindowRef | None = None
    announcement: Announcement | None = None
    waiting: Mapping[str, int] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_call(self) -> bool:
        return self.type in CALL_TYPES


@dataclass(frozen=True)
class WindowSnapshot:
    code: str
    name: str
    state: str
    current_number: str | None = None


@dataclass(frozen=True)
class Snapshot:
    seq: int
    hall_name: str = ""
    calls: tuple[Event, ...] = ()  # newest first, as the server sends them
    windows: tuple[WindowSnapshot, ...] = ()
    waiting: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Ping:
    """A heartbeat (`ping`, or `pong` in answer to ours): the link is alive, nothing changed."""

    type: str = "ping"


@dataclass(frozen=True)
class Other:
    """A message without a seq that this client does not know: ignored."""

    type: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


Message = Snapshot | Event | Ping | Other

SNAPSHOT_REQUEST = '{"type":"snapshot"}'


def parse(text: str | bytes) -> Message:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"not JSON: {e}") from None
    return from_wire(data)


def from_wire(data: Any) -> Message:
    if not isinstance(data, dict):
        raise ProtocolError("a message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("a message needs a type")
    if kind == "snapshot":
        return _snapshot(data)
    if kind in ("ping", "pong"):
        return Ping(kind)
    if "seq" not in data:
        return Other(kind, data)
    return _event(data)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{what} must be an integer")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ticket(value: Any) -> TicketRef | None:
    if not isinstance(value, dict) or _str(value.get("number")) is None:
        return None
    tid = value.get("id")
    return TicketRef(tid if isinstance(tid, int) and not isinstance(tid, bool) else None,
                     value["number"], _str(value.get("zone")))


def _window(value: Any) -> WindowRef | None:
    if not isinstance(value, dict) or _str(value.get("code")) is None:
        return None
    return WindowRef(value["code"], _str(value.get("name")) or "", _str(value.get("state")),
                     _str(value.get("reason")))


def _announcement(value: Any) -> Announcement | None:
    if not isinstance(value, dict):
        return None
    tokens = value.get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        return None
    return Announcement(_str(value.get("text")) or "", tuple(tokens))


def _waiting(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    return {k: v for k, v in value.items()
            if isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0}


def _event(data: dict[str, Any]) -> Event:
    return Event(
        seq=_int(data.get("seq"), "seq"), type=data["type"], at=_str(data.get("at")) or "",
        zone=_str(data.get("zone")), ticket=_ticket(data.get("ticket")), window=_window(data.get("window")),
        from_window=_window(data.get("from_window")), announcement=_announcement(data.get("announcement")),
        waiting=_waiting(data.get("waiting")), raw=data,
    )


def _snapshot(data: dict[str, Any]) -> Snapshot:
    hall = data.get("hall")
    calls = []
    for c in data.get("calls") or []:
        if isinstance(c, dict) and isinstance(c.get("seq"), int) and isinstance(c.get("type"), str):
            calls.append(_event(c))
    windows = []
    for w in data.get("windows") or []:
        if isinstance(w, dict) and _str(w.get("code")) is not None:
            windows.append(WindowSnapshot(w["code"], _str(w.get("name")) or "", _str(w.get("state")) or "closed",
                                          _str(w.get("current_number"))))
    return Snapshot(
        seq=_int(data.get("seq"), "seq"),
        hall_name=(_str(hall.get("name")) or "") if isinstance(hall, dict) else "",
        calls=tuple(calls), windows=tuple(windows), waiting=_waiting(data.get("waiting")) or {},
    )
