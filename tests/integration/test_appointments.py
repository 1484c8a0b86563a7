"""Appointments (预约) on SQLite and PostgreSQL, driven by the fake clock (Mon 2026-11-23, 10:00
in Shanghai): booking, check-in rules, the due-appointment place in the queue, cancel, expiry."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from kiosk_server.db import tables as T
from kiosk_server.domain.errors import Conflict, Invalid, NotFound
from kiosk_server.services import appointments as ap
from kiosk_server.services.context import SYSTEM
from kiosk_server.scheduled import sweep_once
from tests.integration.test_queue_rules import KIOSK, Hall

TODAY = date(2026, 11, 23)


@pytest.fixture
def h(db_url: str):
    hall = Hall(db_url)
    yield hall
    hall.assert_waiting_counts_match_the_tickets()


def book(h: Hall, start: str, end: str, *, zone: str = "A", matter: str | None = None, day: date = TODAY) -> str:
    return h.run(ap.book, actor=SYSTEM, zone=zone, matter=matter, day=day, start=start, end=end, source="web")["code"]


def check_in(h: Hall, code: str, **kw: Any) -> dict[str, Any]:
    return h.c.write(ap.check_in, hall=h.c.hall, clock=h.clock, keys=h.c.keys, actor=KIOSK, code=code, **kw).ticket


def test_a_booking_checks_in_once_within_its_window(h: Hall) -> None:
    code = book(h, "10:15", "10:30", matter="A01")
    assert len(code) == ap.CODE_DIGITS and code.isdigit()
    with pytest.raises(NotFound) as e:
        check_in(h, "99999999" if code != "99999999" else "11111111")
    assert e.value.code == "appointment_not_found"
    with pytest.raises(Conflict) as e:
        check_in(h, code, zone="B")  # the kiosk's zone must be the booking's
    assert e.value.code == "appointment_other_zone"
    t = check_in(h, code)  # 10:00: opens 30 minutes before 10:15
    assert t["number"] == "A001" and t["matter"]["code"] == "A01"
    assert t["appointment"] == {"code": code, "start": "10:15", "end": "10:30"}
    with pytest.raises(Conflict) as e:
        check_in(h, code)
    assert e.value.code == "appointment_used"
    with h.c.db.read() as conn:
        listed = ap.list_day(conn, h.c.hall, TODAY)
    assert [(b["code"], b["status"], b["ticket_id"]) for b in listed] == [(code, "checked_in", t["id"])]


def test_too_early_too_late_other_day_and_cancelled_are_refused_and_change_nothing(h: Hall) -> None:
    early, late, tomorrow = book(h, "11:00", "11:30"), book(h, "09:00", "09:40"), book(h, "10:00", "10:30",
                                                                                        day=TODAY + timedelta(days=1))
    cancelled = book(h, "10:00", "10:30")
    h.run(ap.cancel, actor=SYSTEM, code=cancelled)
    for code, reason in ((early, "appointment_too_early"), (late, "appointment_expired"),
                         (tomorrow, "appointment_not_today"), (cancelled, "appointment_state")):
        with pytest.raises(Conflict) as e:
            check_in(h, code)
        assert e.value.code == reason, code
    with h.c.db.read() as conn:
        assert conn.execute(select(T.tickets.c.id)).all() == []  # no ticket, no number used
    assert h.issue()["number"] == "A001"
    h.clock.advance(minutes=31)  # 10:31: the 11:00 slot opens at 10:30
    assert check_in(h, early)["number"] == "A002"


def test_bad_slots_and_past_days_are_refused(h: Hall) -> None:
    for start, end, day in (("10:30", "10:00", TODAY), ("25:00", "26:00", TODAY), ("10:00", "10:30", TODAY - timedelta(days=1))):
        with pytest.raises(Invalid):
            book(h, start, end, day=day)
    with pytest.raises(NotFound):
        book(h, "10:00", "10:30", zone="ZZ")


def test_a_due_appointment_is_called_before_priority_and_normal_but_not_before_its_slot(h: Hall) -> None:
    clerk = h.open("06", "clerk1")  # window 06 serves zone A
    normal = h.issue("A")
    prio = h.issue("A", priority="priority")
    later_slot = check_in(h, book(h, "10:20", "10:40"))   # checked in at 10:00, due at 10:20
    due_slot = check_in(h, book(h, "09:50", "10:20"))     # due now
    assert h.call("06", clerk)["id"] == due_slot["id"]    # due appointment first
    second = h.run(_call_next_finishing, actor=clerk)
    assert second["id"] == prio["id"]                     # then priority (the 10:20 slot is not due yet)
    h.clock.advance(minutes=20)                            # 10:20: now it is due
    assert h.run(_call_next_finishing, actor=clerk)["id"] == later_slot["id"]
    assert h.run(_call_next_finishing, actor=clerk)["id"] == normal["id"]


def _call_next_finishing(conn: Any, *, hall: Any, clock: Any, actor: Any) -> dict[str, Any]:
    from kiosk_server.services import tickets as svc
    return svc.call_next(conn, hall=hall, clock=clock, actor=actor, window_code="06", finish_current=True).ticket


def test_bookings_not_checked_in_become_missed_after_the_day(h: Hall) -> None:
    code = book(h, "15:00", "15:30")
    h.clock.advance(days=1)
    sweep_once(h.c)
    with h.c.db.read() as conn:
        assert [b["status"] for b in ap.list_day(conn, h.c.hall, TODAY)] == ["missed"]
    with pytest.raises(Conflict):
        check_in(h, code)
