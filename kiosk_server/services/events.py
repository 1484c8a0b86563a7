"""The outbox: every state change appends its event inside the same transaction.

Events go to every hall screen, LED strip and loudspeaker: an event whose text holds a phone or
ID number (typed into a pause reason, a window name …) is refused, and with it the change."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from kiosk_server.db import outbox
from kiosk_server.domain.errors import Invalid
from kiosk_server.domain.privacy import personal_number

Event = dict[str, Any]


def append_event(conn: Connection, *, hall_id: int, type: str, at: datetime, payload: dict[str, Any],
                 zone: str | None = None) -> Event:
    """Append an event to the transaction's outbox; it gets its `seq` when the transaction
    commits (see db/outbox.py) and is published after the commit."""
    check_public(payload)
    ev = wire_event(0, type, at, zone, payload)
    outbox.append(conn, {"hall_id": hall_id, "type": type, "at": at, "zone": zone, "payload": payload}, ev)
    return ev


def wire_event(seq: int, type: str, at: datetime, zone: str | None, payload: dict[str, Any]) -> Event:
    ev: Event = {"seq": seq, "type": type, "at": at.isoformat(), **payload}
    if zone is not None:
        ev["zone"] = zone
    return ev


def check_public(payload: dict[str, Any]) -> None:
    """Refuse a payload with a phone or ID number in any of its texts. A cheap look for eleven
    digits in a row (or any full-width character) first: almost every payload stops there."""
    raw = orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS)
    if _ELEVEN_DIGITS.search(raw) is None and _FULL_WIDTH not in raw:
        return
    kind = personal_number(raw.decode())
    if kind is not None:
        raise Invalid("personal_data_in_event", kind=kind)


_ELEVEN_DIGITS = re.compile(rb"[0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}")
_FULL_WIDTH = b"\xef\xbc"  # UTF-8 of U+FF00-FF3F: full-width digits and letters
