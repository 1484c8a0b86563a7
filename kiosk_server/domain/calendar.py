"""Business days and opening hours in the hall's time zone. Standard library only."""
from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo


def business_date(now: datetime, tz: ZoneInfo) -> date:
    if now.tzinfo is None:
        raise ValueError("aware datetime required")
    return now.astimezone(tz).date()


@lru_cache(maxsize=256)  # read on every ticket issued; a hall has a handful of opening times
def parse_hhmm(value: str) -> time:
    if value == "24:00":
        return time(23, 59, 59, 999999)
    hh, mm = value.split(":")
    return time(int(hh), int(mm))


def is_open(now: datetime, tz: ZoneInfo, hours: list[list[str]] | None, closed_dates: set[date] | None = None,
            open_weekdays: set[int] | None = None, extra_open_dates: set[date] | None = None) -> bool:
    """True when `now` falls inside one of the opening periods on a day the hall opens.

    `open_weekdays` uses ISO numbers (1 = Monday). A date in `closed_dates` (holiday) is closed; a
    date in `extra_open_dates` (调休 make-up working day) is open whatever its weekday.
    """
    local = now.astimezone(tz)
    d = local.date()
    if closed_dates and d in closed_dates:
        return False
    if open_weekdays is not None and local.isoweekday() not in open_weekdays:
        if not (extra_open_dates and d in extra_open_dates):
            return False
    if not hours:
        return True
    t = local.time()
    return any(parse_hhmm(a) <= t < parse_hhmm(b) for a, b in hours)
