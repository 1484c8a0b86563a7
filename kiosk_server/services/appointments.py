"""Appointments (预约): a booking for a slot of a day, checked in at the kiosk with its code.

Bookings come from elsewhere (the online platform, the phone line) through the API; the hall
keeps the slot, the zone and matter, and a numeric code the citizen types on the kiosk's
keypad, never who booked. Checked in, a booking becomes a ticket of the appointment class:

  - check-in opens EARLY_MIN minutes before the slot and closes LATE_MIN minutes after its end
    (409 with the reason otherwise: another day, too early, expired, used, cancelled);
  - the ticket waits as a normal ticket issued at the slot's start would until the slot starts,
    then is *due* and called before priority and normal tickets (DESIGN: transfers, due
    appointments, priority, oldest first); due appointments go by slot, then by check-in.
"""
from __future__ import annotations

import re
import secrets
from datetime import date, time
from typing import Any

from sqlalchemy import Connection, insert, select, update

from kiosk_server.db import tables as T
from kiosk_server.domain.calendar import business_date
from kiosk_server.domain.errors import Conflict, Invalid, NotFound
from kiosk_server.services import audit, tickets
from kiosk_server.services.context import Actor, Clock, Hall

EARLY_MIN = 30
LATE_MIN = 15
CODE_DIGITS = 8
SLOT = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
ap = T.appointments


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def public(row: Any, zone_code: str, matter_code: str | None) -> dict[str, Any]:
    return {"code": row["code"], "zone": zone_code, "matter": matter_code, "date": row["day"],
            "start": row["slot_start"], "end": row["slot_end"], "status": row["status"], "source": row["source"],
            "ticket_id": row["ticket_id"], "checked_in_at": row["checked_in_at"]}


def _codes(conn: Connection, hall: Hall) -> tuple[dict[int, str], dict[int, str]]:
    zones = dict(conn.execute(select(T.zones.c.id, T.zones.c.code).where(T.zones.c.hall_id == hall.id)).all())
    matters = dict(conn.execute(select(T.matters.c.id, T.matters.c.code)
                                .where(T.matters.c.zone_id.in_(list(zones) or [0]))).all())
    return zones, matters


def book(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, zone: str, matter: str | None, day: date,
         start: str, end: str, source: str | None = None) -> dict[str, Any]:
    """Book a slot; returns the booking with its new code."""
    now = clock.now()
    if not (SLOT.match(start) and SLOT.match(end)) or _minutes(start) >= _minutes(end):
        raise Invalid("appointment_slot_invalid")
    if day < business_date(now, hall.tz):
        raise Invalid("appointment_in_past")
    z = conn.execute(select(T.zones.c.id, T.zones.c.enabled).where(T.zones.c.hall_id == hall.id,
                                                                    T.zones.c.code == zone)).first()
    if z is None:
        raise NotFound("zone_not_found", zone=zone)
    matter_id = None
    if matter is not None:
        matter_id = conn.execute(select(T.matters.c.id).where(T.matters.c.zone_id == z.id,
                                                              T.matters.c.code == matter)).scalar()
        if matter_id is None:
            raise NotFound("matter_not_found", matter=matter)
    for _ in range(20):  # 10^8 codes: a collision is rare, twenty in a row never happen
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        if conn.execute(select(ap.c.id).where(ap.c.hall_id == hall.id, ap.c.code == code)).first() is None:
            break
    else:  # pragma: no cover
        raise Conflict("appointment_code_exhausted")
    conn.execute(insert(ap).values(hall_id=hall.id, code=code, zone_id=z.id, matter_id=matter_id, day=day,
                                   slot_start=start, slot_end=end, status="booked", source=source, created_at=now))
    audit.record(conn, actor=actor, action="appointment.book", at=now, object_type="appointment", object_id=code,
                 detail={"zone": zone, "matter": matter, "date": day.isoformat(), "start": start, "end": end})
    row = conn.execute(select(ap).where(ap.c.hall_id == hall.id, ap.c.code == code)).mappings().one()
    return public(row, zone, matter)


def list_day(conn: Connection, hall: Hall, day: date) -> list[dict[str, Any]]:
    zones, matters = _codes(conn, hall)
    rows = conn.execute(select(ap).where(ap.c.hall_id == hall.id, ap.c.day == day)
                        .order_by(ap.c.slot_start, ap.c.id)).mappings().all()
    return [public(r, zones[r["zone_id"]], matters.get(r["matter_id"])) for r in rows]


def _booking(conn: Connection, hall: Hall, code: str, *, lock: bool = True) -> Any:
    q = select(ap).where(ap.c.hall_id == hall.id, ap.c.code == code)
    row = conn.execute(q.with_for_update() if lock else q).mappings().first()
    if row is None:
        raise NotFound("appointment_not_found", booking=code)
    return row


def cancel(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, code: str) -> dict[str, Any]:
    now = clock.now()
    row = _booking(conn, hall, code)
    if row["status"] != "booked":
        raise Conflict("appointment_state", booking=code, status=row["status"])
    conn.execute(update(ap).where(ap.c.id == row["id"]).values(status="cancelled"))
    audit.record(conn, actor=actor, action="appointment.cancel", at=now, object_type="appointment", object_id=code)
    zones, matters = _codes(conn, hall)
    return public({**row, "status": "cancelled"}, zones[row["zone_id"]], matters.get(row["matter_id"]))


def check_in(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, code: str, zone: str | None = None,
             **issue: Any) -> tickets.Outcome:
    """The booking `code` becomes a ticket (see the module's rules). `zone`, when given (a
    kiosk that asked for it), must be the booking's. `issue` goes on to tickets.issue_ticket."""
    now = clock.now()
    row = _booking(conn, hall, code)
    if row["status"] == "checked_in":
        raise Conflict("appointment_used", booking=code)
    if row["status"] != "booked":
        raise Conflict("appointment_state", booking=code, status=row["status"])
    local = now.astimezone(hall.tz)
    if row["day"] != local.date():
        raise Conflict("appointment_not_today", booking=code, date=row["day"].isoformat())
    minute = local.hour * 60 + local.minute
    if minute < _minutes(row["slot_start"]) - EARLY_MIN:
        raise Conflict("appointment_too_early", start=row["slot_start"], minutes=EARLY_MIN)
    if minute > _minutes(row["slot_end"]) + LATE_MIN:
        raise Conflict("appointment_expired", end=row["slot_end"])
    zones, matters = _codes(conn, hall)
    if zone is not None and zone != zones[row["zone_id"]]:
        raise Conflict("appointment_other_zone", booking=code)
    slot = time.fromisoformat(row["slot_start"])
    out = tickets.issue_ticket(conn, hall=hall, clock=clock, actor=actor, zone_code=zones[row["zone_id"]],
                               matter_code=matters.get(row["matter_id"]), appointment_code=code,
                               appointment_slot_s=float(slot.hour * 3600 + slot.minute * 60), **issue)
    assert out.ticket is not None
    conn.execute(update(ap).where(ap.c.id == row["id"]).values(status="checked_in", ticket_id=out.ticket["id"],
                                                               checked_in_at=now))
    out.ticket["appointment"] = {"code": code, "start": row["slot_start"], "end": row["slot_end"]}
    return out


def expire_past(conn: Connection, *, hall: Hall, clock: Clock) -> int:
    """Bookings of past days never checked in become `missed` (the day-end sweep)."""
    today = business_date(clock.now(), hall.tz)
    return conn.execute(update(ap).where(ap.c.hall_id == hall.id, ap.c.day < today, ap.c.status == "booked")
                        .values(status="missed")).rowcount

