"""The outbox: every state change appends its event inside the same transaction."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from kiosk_server.db import tables as T

Event = dict[str, Any]
_INSERT_EVENT = insert(T.events).returning(T.events.c.seq)


def append_event(conn: Connection, *, hall_id: int, type: str, at: datetime, payload: dict[str, Any],
                 zone: str | None = None) -> Event:
    seq = conn.execute(_INSERT_EVENT, {"hall_id": hall_id, "type": type, "at": at, "zone": zone,
                                       "payload": payload}).scalar_one()
    ev = wire_event(seq, type, at, zone, payload)
    collected = conn.info.get("events")  # the writer publishes these after commit
    if collected is not None:
        collected.append(ev)
    return ev


def wire_event(seq: int, type: str, at: datetime, zone: str | None, payload: dict[str, Any]) -> Event:
    ev: Event = {"seq": seq, "type": type, "at": at.isoformat(), **payload}
    if zone is not None:
        ev["zone"] = zone
    return ev
