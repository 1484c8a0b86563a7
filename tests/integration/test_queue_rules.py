"""The queue's rules, driven by a fake clock, on a SQLite file and on PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import select, update

from kiosk_server import bootstrap
from kiosk_server.db import tables as T
from kiosk_server.domain.errors import Conflict, DomainError, Forbidden
from kiosk_server.services import tickets as svc
from kiosk_server.services import windows as wsvc
from kiosk_server.services.context import Actor
from tests.support.hall import FakeClock, prepare

KIOSK = Actor("device:K1", frozenset({"kiosk"}), device_id=1)


class Hall:
    def __init__(self, db_url: str) -> None:
        self.prepared = prepare(db_url)
        self.clock = FakeClock()
        self.c = bootstrap.build(self.prepared.settings, clock=self.clock)

    def clerk(self, name: str) -> Actor:
        return Actor(name, frozenset({"clerk"}), user_id=self.prepared.users[name])

    def run(self, fn: Any, **kw: Any) -> Any:
        return self.c.write(fn, hall=self.c.hall, clock=self.clock, **kw)

    def issue(self, zone: str = "A", **kw: Any) -> dict[str, Any]:
        return self.c.write(svc.issue_ticket, hall=self.c.hall, clock=self.clock, keys=self.c.keys, actor=KIOSK,
                            zone_code=zone, open_windows=self.c.open_windows, **kw).ticket

    def open(self, window: str, clerk: str) -> Actor:
        a = self.clerk(clerk)
        self.run(wsvc.open_window, actor=a, window_code=window)
        return a

    def call(self, window: str, actor: Actor) -> dict[str, Any] | None:
        return self.run(svc.call_next, actor=actor, window_code=window).ticket

    def status(self, ticket_id: int) -> str:
        with self.c.db.read() as conn:
            return conn.execute(select(T.tickets.c.status).where(T.tickets.c.id == ticket_id)).scalar_one()

    def set_hall(self, **values: Any) -> None:
        with self.c.db.write() as conn:
            conn.execute(update(T.halls).values(**values))
        self.c.reload_hall()


    def assert_waiting_counts_match_the_tickets(self) -> None:
        """The waiting count kept by every transition equals a count of the tickets."""
        from sqlalchemy import func
        with self.c.db.read() as conn:
            kept = {(z, d): n for z, d, n in conn.execute(
                select(T.counters.c.zone_id, T.counters.c.business_date, T.counters.c.waiting)) if n}
            actual = {(z, d): n for z, d, n in conn.execute(
                select(T.tickets.c.queue_zone_id, T.tickets.c.business_date, func.count())
                .where(T.tickets.c.status == "waiting").group_by(T.tickets.c.queue_zone_id, T.tickets.c.business_date))}
        assert kept == actual


@pytest.fixture
def h(db_url: str):
    hall = Hall(db_url)
    yield hall
    hall.assert_waiting_counts_match_the_tickets()


def test_numbers_restart_each_business_day_without_a_restart(h: Hall):
    assert [h.issue()["number"] for _ in range(3)] == ["A001", "A002", "A003"]
    assert h.issue("B")["number"] == "B001"
    h.clock.set(datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc))  # next day, 10:00 local
    t = h.issue()
    assert t["number"] == "A001" and str(t["business_date"]) == "2026-11-24"


def test_business_day_turns_at_local_midnight_not_utc(h: Hall):
    h.set_hall(opening_hours=[["00:00", "24:00"]], open_weekdays=[1, 2, 3, 4, 5, 6, 7])
    h.clock.set(datetime(2026, 11, 23, 15, 59, tzinfo=timezone.utc))  # 23:59 local
    assert h.issue()["number"] == "A001"
    h.clock.set(datetime(2026, 11, 23, 16, 1, tzinfo=timezone.utc))  # 00:01 local, next day
    t = h.issue()
    assert t["number"] == "A001" and str(t["business_date"]) == "2026-11-24"


def test_closed_outside_opening_hours_weekends_and_holidays(h: Hall):
    h.clock.set(datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc))  # 12:30 local: lunch break
    with pytest.raises(Conflict) as e:
        h.issue()
    assert e.value.code == "zone_closed"
    h.clock.set(datetime(2026, 11, 23, 5, 30, tzinfo=timezone.utc))  # 13:30: afternoon opens
    assert h.issue()["number"] == "A001"
    h.clock.set(datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc))  # Saturday
    with pytest.raises(Conflict):
        h.issue()
    with h.c.db.write() as conn:  # a make-up working day opens the Saturday
        conn.execute(T.holidays.insert().values(hall_id=h.c.hall.id, date=datetime(2026, 11, 21).date(),
                                                kind="workday", name="调休上班"))
    h.c.reload_hall()  # as a config.changed does
    assert h.issue()["number"] == "A001"


def test_daily_quota_refuses_and_does_not_advance_the_counter(h: Hall):
    with h.c.db.write() as conn:
        conn.execute(update(T.zones).where(T.zones.c.code == "A").values(daily_quota=2))
    h.issue(), h.issue()
    for _ in range(2):
        with pytest.raises(Conflict) as e:
            h.issue()
        assert e.value.code == "quota_reached"
    with h.c.db.read() as conn:
        assert conn.execute(select(T.counters.c.value)).scalars().all() == [2]
    h.clock.advance(days=1)
    assert h.issue()["number"] == "A001"


def test_priority_tickets_first_but_capped_so_normal_never_starves(h: Hall):
    h.set_hall(priority_cap=2)
    clerk = h.open("06", "clerk1")
    normal = h.issue()
    pri = [h.issue(priority="priority") for _ in range(4)]
    called = []
    for _ in range(5):
        t = h.call("06", clerk)
        called.append(t["number"])
        h.run(svc.start, actor=clerk, ticket_id=t["id"])
        h.run(svc.finish, actor=clerk, ticket_id=t["id"])
    n = normal["number"]
    p = [x["number"] for x in pri]
    assert called == [p[0], p[1], n, p[2], p[3]]


def test_window_serves_its_zones_in_preference_order(h: Hall):
    clerk = h.open("01", "clerk1")  # window 01 serves A then B
    b = h.issue("B")
    a = h.issue("A")
    assert h.call("01", clerk)["number"] == a["number"]
    h.run(svc.start, actor=clerk, ticket_id=a["id"])
    h.run(svc.finish, actor=clerk, ticket_id=a["id"])
    assert h.call("01", clerk)["number"] == b["number"]


def test_recall_is_capped(h: Hall):
    clerk = h.open("06", "clerk1")
    h.issue()
    h.call("06", clerk)
    cap = h.c.hall.recall_cap
    for _ in range(cap):
        h.run(svc.recall, actor=clerk, window_code="06")
    with pytest.raises(Conflict) as e:
        h.run(svc.recall, actor=clerk, window_code="06")
    assert e.value.code == "recall_cap_reached"


def test_missed_ticket_requeues_after_k_waiting(h: Hall):
    h.set_hall(requeue_after=2)
    clerk = h.open("06", "clerk1")
    first = h.issue()
    others = [h.issue() for _ in range(4)]
    t = h.call("06", clerk)
    assert t["id"] == first["id"]
    h.run(svc.no_show, actor=clerk, ticket_id=t["id"])
    assert h.status(t["id"]) == "missed"
    with pytest.raises(Conflict):  # a missed ticket cannot be started
        h.run(svc.start, actor=clerk, ticket_id=t["id"])
    h.run(svc.requeue, actor=clerk, ticket_id=t["id"])
    order = []
    for _ in range(5):
        x = h.call("06", clerk)
        order.append(x["id"])
        h.run(svc.no_show, actor=clerk, ticket_id=x["id"])
    assert order == [others[0]["id"], others[1]["id"], first["id"], others[2]["id"], others[3]["id"]]


def test_transfer_to_a_window_goes_ahead_there_with_the_same_number(h: Hall):
    c6, c7 = h.open("06", "clerk1"), h.open("07", "clerk2")
    t = h.issue()
    waiting = [h.issue() for _ in range(3)]
    called = h.call("06", c6)
    assert called["id"] == t["id"]
    h.run(svc.start, actor=c6, ticket_id=t["id"])
    with pytest.raises(Forbidden):  # clerk2 cannot act on a ticket at window 06
        h.run(svc.transfer, actor=c7, ticket_id=t["id"], to_window="08", reason="x")
    h.run(svc.transfer, actor=c6, ticket_id=t["id"], to_window="07", reason="需首席代表审核")
    again = h.call("07", c7)
    assert again["id"] == t["id"] and again["number"] == t["number"]
    assert h.call("06", c6)["id"] == waiting[0]["id"]


def test_transfer_to_a_zone_goes_ahead_of_ordinary_tickets_there(h: Hall):
    c6, c11 = h.open("06", "clerk1"), h.open("11", "clerk2")  # 11 serves B
    b_waiting = h.issue("B")
    t = h.issue("A")
    h.call("06", c6)
    h.run(svc.transfer, actor=c6, ticket_id=t["id"], to_zone="B", reason="不动产业务")
    got = h.call("11", c11)
    assert got["number"] == t["number"]  # A001 keeps its number in zone B's queue
    assert got["id"] != b_waiting["id"]


def test_a_window_never_holds_two_active_tickets(h: Hall):
    clerk = h.open("06", "clerk1")
    h.issue(), h.issue()
    h.call("06", clerk)
    with pytest.raises(Conflict) as e:
        h.call("06", clerk)
    assert e.value.code == "window_busy"


def test_waiting_tickets_expire_at_day_end_idempotently(h: Hall):
    clerk = h.open("06", "clerk1")
    a, b, c = h.issue(), h.issue(), h.issue()
    h.call("06", clerk)
    h.run(svc.no_show, actor=clerk, ticket_id=a["id"])
    assert h.run(svc.expire_past) == []  # same day: nothing
    h.clock.advance(days=1)
    events = h.run(svc.expire_past)
    assert {e["type"] for e in events} == {"ticket.expired", "queue.changed"}
    assert [h.status(x["id"]) for x in (a, b, c)] == ["expired"] * 3
    assert h.run(svc.expire_past) == []


def test_cancel_is_audited_and_finished_tickets_cannot_be_cancelled(h: Hall):
    op = Actor("op", frozenset({"operator"}), user_id=h.prepared.users["op"])
    t = h.issue()
    h.run(svc.cancel, actor=op, ticket_id=t["id"])
    assert h.status(t["id"]) == "cancelled"
    with pytest.raises(DomainError):
        h.run(svc.cancel, actor=op, ticket_id=t["id"])
    with h.c.db.read() as conn:
        actions = conn.execute(select(T.audit_log.c.action)).scalars().all()
    assert "ticket.cancel" in actions


def test_estimated_wait_uses_rolling_service_time_and_open_windows(h: Hall):
    c6 = h.open("06", "clerk1")
    t = h.call("06", c6) or h.issue()
    t = h.call("06", c6)
    h.run(svc.start, actor=c6, ticket_id=t["id"])
    h.clock.advance(seconds=120)
    h.run(svc.finish, actor=c6, ticket_id=t["id"])
    h.issue(), h.issue()
    third = h.issue()
    assert third["waiting_ahead"] == 2
    assert third["estimated_wait_s"] == 240  # 120 s × 2 ahead ÷ 1 open window
    c7 = h.open("07", "clerk2")
    assert h.issue()["estimated_wait_s"] == 180  # 120 × 3 ÷ 2
    h.run(wsvc.pause_window, actor=c7, window_code="07", reason="break")
    assert h.issue()["estimated_wait_s"] == 480  # 120 × 4 ÷ 1: a paused window serves nobody
    h.run(wsvc.resume_window, actor=c7, window_code="07")
    assert h.issue()["estimated_wait_s"] == 300  # 120 × 5 ÷ 2


def test_open_window_counts_are_kept_until_a_window_or_configuration_event(h: Hall):
    """The count of open windows behind each estimate is read once and kept: a window's state
    changed behind the server's back (no event) is not seen, a window event is."""
    c6 = h.open("06", "clerk1")
    h.open("07", "clerk2")
    h.issue()
    assert h.c.open_windows.get("A") == 2
    with h.c.db.write() as conn:  # not through the use cases: no event
        conn.execute(update(T.windows).where(T.windows.c.code == "07").values(state="closed"))
    assert h.issue()["estimated_wait_s"] == round(h.c.hall.default_service_s * 1 / 2)
    h.run(wsvc.pause_window, actor=c6, window_code="06", reason="break")  # an event: counted again
    assert h.c.open_windows.get("A") is None
    assert h.issue()["estimated_wait_s"] == round(h.c.hall.default_service_s * 2 / 1)  # both not open: max(1, 0)
    assert h.c.open_windows.get("A") == 0
    h.c.deliver([{"seq": 0, "type": "config.changed", "what": "windows"}])
    assert h.c.open_windows.get("A") is None


def test_a_count_read_during_a_change_is_not_kept():
    counts = svc.OpenWindowCounts()
    seen = counts.generation
    counts.forget()  # a window event delivered while the count was being read
    counts.put("A", 3, seen)
    assert counts.get("A") is None
    counts.put("A", 2, counts.generation)
    assert counts.get("A") == 2
