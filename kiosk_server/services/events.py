"""The outbox: every state change appends its event inside the same transaction."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from kiosk_server.db import outbox

Event = dict[str, Any]


def append_event(conn: Connection, *, hall_id: int, type: str, at: datetime, payload: dict[str, Any],
                 zone: str | None = None) -> Event:
    """Append an event to the transaction's outbox; it gets its `seq` when the transaction
    commits (see db/outbox.py) and is published after the commit."""
    ev = wire_event(0, type, at, zone, payload)
    outbox.append(conn, {"hall_id": hall_id, "type": type, "at": at, "zone": zone, "payload": payload}, ev)
    return ev


def wire_event(seq: int, type: str, at: datetime, zone: str | None, payload: dict[str, Any]) -> Event:
    ev: Event = {"seq": seq, "type": type, "at": at.isoformat(), **payload}
    if zone is not None:
        ev["zone"] = zone
    return ev
