"""Ports and the per-call context the use cases receive."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from kiosk_server.db import tables as T
from kiosk_server.domain.errors import NotFound


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user or a device; `name` goes into history and the audit log."""

    name: str
    roles: frozenset[str]
    user_id: int | None = None
    device_id: int | None = None
    session_id: int | None = None
    client_addr: str | None = None
    zones: tuple[str, ...] | None = None  # a display device's zone filter
    printer_id: int | None = None  # a kiosk's printer: the tickets it issues are printed there

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


SYSTEM = Actor(name="system", roles=frozenset())


@dataclass(frozen=True)
class Hall:
    id: int
    code: str
    name: str
    tz: ZoneInfo
    opening_hours: list[list[str]]
    open_weekdays: frozenset[int]
    hotline: str | None
    priority_cap: int
    recall_cap: int
    requeue_after: int
    default_service_s: int
    holidays: frozenset[date] = frozenset()   # closed although a weekday
    workdays: frozenset[date] = frozenset()   # make-up working days (调休) open although a weekend
    row: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def load_hall(conn: Connection, hall_id: int | None = None) -> Hall:
    q = select(T.halls)
    q = q.where(T.halls.c.id == hall_id) if hall_id is not None else q.order_by(T.halls.c.id).limit(1)
    r = conn.execute(q).mappings().first()
    if r is None:
        raise NotFound("not_found")
    days = conn.execute(select(T.holidays.c.date, T.holidays.c.kind).where(T.holidays.c.hall_id == r["id"])).all()
    return Hall(id=r["id"], code=r["code"], name=r["name"], tz=ZoneInfo(r["timezone"]),
                holidays=frozenset(d for d, k in days if k == "holiday"),
                workdays=frozenset(d for d, k in days if k == "workday"),
                opening_hours=r["opening_hours"], open_weekdays=frozenset(r["open_weekdays"]),
                hotline=r["hotline"], priority_cap=r["priority_cap"], recall_cap=r["recall_cap"],
                requeue_after=r["requeue_after"], default_service_s=r["default_service_s"], row=dict(r))
