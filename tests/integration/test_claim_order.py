"""call-next's claim reads the head of a window's queue from a few index seeks (services/tickets.py):
here its order is checked, call by call, against the queue's rule sorted in full over every
waiting ticket, on a mixed queue (SQLite and PostgreSQL); its SQLite plan is index seeks only;
and on PostgreSQL heads held locked by other transactions are skipped, past the candidates too."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from kiosk_server.db import tables as T
from kiosk_server.db.engine import make_engine
from kiosk_server.domain.model import QueueRank
from kiosk_server.services import appointments as ap
from kiosk_server.services import tickets as svc
from kiosk_server.services.context import SYSTEM
from tests.integration.test_queue_rules import KIOSK, Hall
from tests.support.hall import prepare

TODAY = date(2026, 11, 23)  # the fake clock's Monday, 10:00 in Shanghai


@pytest.fixture
def h(db_url: str) -> Iterator[Hall]:
    hall = Hall(db_url)
    yield hall
    hall.assert_waiting_counts_match_the_tickets()


def full_sort_head(h: Hall, window_code: str) -> dict[str, Any] | None:
    """The head by the queue's rule over every waiting ticket of today: transfers to the window,
    then effective rank (an appointment before its slot and priority past the cap count as normal),
    the zone's place in the window's list, queue key, id."""
    with h.c.db.read() as conn:
        w = conn.execute(select(T.windows).where(T.windows.c.code == window_code)).mappings().one()
        places = dict(conn.execute(select(T.window_zones.c.zone_id, T.window_zones.c.position)
                                   .where(T.window_zones.c.window_id == w["id"])).all())
        waiting = conn.execute(select(T.tickets).where(T.tickets.c.status == "waiting",
                                                       T.tickets.c.business_date == TODAY)).mappings().all()
    now_key = svc.queue_time(h.clock.now(), h.c.hall) + 0.001
    allow_priority = w["consecutive_priority"] < h.c.hall.priority_cap

    def rank(t: Any) -> int:
        if (t["rank"] == QueueRank.APPOINTMENT and t["queue_key"] > now_key) or (
                t["rank"] == QueueRank.PRIORITY and not allow_priority):
            return QueueRank.NORMAL
        return int(t["rank"])

    mine = [t for t in waiting if t["target_window_id"] == w["id"]
            or (t["target_window_id"] is None and t["queue_zone_id"] in places)]
    head = min(mine, default=None, key=lambda t: (0 if t["target_window_id"] == w["id"] else 1, rank(t),
                                                  places.get(t["queue_zone_id"], 999), t["queue_key"], t["id"]))
    return dict(head) if head else None


def check_in(h: Hall, zone: str, start: str, end: str) -> dict[str, Any]:
    code = h.run(ap.book, actor=SYSTEM, zone=zone, matter=None, day=TODAY, start=start, end=end, source="web")["code"]
    return h.c.write(ap.check_in, hall=h.c.hall, clock=h.clock, keys=h.c.keys, actor=KIOSK, code=code).ticket


def test_claim_order_is_the_full_sort_on_a_mixed_queue(h: Hall) -> None:
    h.set_hall(priority_cap=2)
    c1, c2, c3 = h.open("01", "clerk1"), h.open("06", "clerk2"), h.open("21", "clerk3")  # 01 serves A then B
    first_normal = [h.issue("A"), h.issue("B")]
    priority = [h.issue(z, priority="priority") for z in ("A", "A", "B", "A", "B")]
    due = [check_in(h, "A", "10:00", "10:15"), check_in(h, "B", "09:45", "10:15")]
    later = check_in(h, "A", "10:15", "10:30")  # due from 10:15: a normal ticket with that key until then
    # Window 21 transfers C tickets: to window 01, to zone A, to zone B, to window 07 (never 01's).
    moved = []
    for target in ({"to_window": "01"}, {"to_zone": "A"}, {"to_zone": "B"}, {"to_window": "07"}):
        h.issue("C")
        t = h.run(svc.call_next, actor=c3, window_code="21").ticket
        h.run(svc.transfer, actor=c3, ticket_id=t["id"], reason="x", **target)
        moved.append(t["id"])
    other = [h.issue("C") for _ in range(2)]
    h.clock.advance(minutes=1)
    late_normal = [h.issue(z) for z in ("B", "A", "B", "A")]
    h.run(svc.transfer, actor=c2, ticket_id=h.call("06", c2)["id"], to_window="01", reason="y")

    called = []
    for _ in range(40):
        expected = full_sort_head(h, "01")
        got = h.run(svc.call_next, actor=c1, window_code="01", finish_current=True).ticket
        assert (got and got["id"]) == (expected and expected["id"]), called
        if got is None:
            break
        called.append(got["id"])
        h.clock.advance(minutes=2)
    assert expected is None  # the queue ran dry
    for t in [*first_normal, *priority, *due, later, *late_normal]:
        assert t["id"] in called
    assert set(moved[:3]) <= set(called) and moved[3] not in called and not set(called) & {t["id"] for t in other}
    # Not trivially in issue order: before 10:15 priority went ahead of the appointment of 10:15,
    # from 10:15 it went ahead of every normal ticket; the cap put A001 before the fifth priority.
    assert called.index(priority[1]["id"]) < called.index(later["id"]) < called.index(first_normal[0]["id"])
    assert called.index(first_normal[0]["id"]) < called.index(priority[4]["id"])


TARGET_SEEK = "SEARCH t USING INDEX ix_tickets_waiting_target (target_window_id=? AND business_date=?)"
ZONE_RANK_SEEK = "SEARCH t USING INDEX ix_tickets_waiting (queue_zone_id=? AND business_date=? AND rank=?)"


def test_sqlite_claim_plan_is_index_seeks(sqlite_url: str) -> None:
    prepared = prepare(sqlite_url)
    params = {"window_id": 1, "day": TODAY.isoformat(), "now": "2026-11-23 02:00:00.000000", "now_key": 36000.0,
              "z0": 1, "p0": 0, "z1": 2, "p1": 1, "z2": 3, "p2": 2}
    try:
        with prepared.db.engine.connect() as conn:
            cur = conn.connection.driver_connection.cursor()
            for zones, allow_priority in ((1, True), (3, False)):
                sql = svc._claim_sql(zones, allow_priority)
                plan = {row[0]: (row[1], row[3]) for row in cur.execute(f"EXPLAIN QUERY PLAN {sql}", params)}
                reads = [d for _, d in plan.values() if d.startswith(("SEARCH t", "SCAN t"))]  # t, tickets
                assert reads == ["SEARCH tickets USING INTEGER PRIMARY KEY (rowid=?)", TARGET_SEEK,
                                 *[ZONE_RANK_SEEK] * (4 * zones)], plan
                # One sort, of the candidates (the head's subquery), none of tickets themselves.
                sorts = [parent for parent, d in plan.values() if d.startswith("USE TEMP B-TREE")]
                assert len(sorts) == 1 and plan[sorts[0]][1].startswith("SCALAR SUBQUERY"), plan
    finally:
        prepared.db.dispose()


@pytest.mark.postgres
def test_postgres_claim_skips_locked_heads_even_past_its_candidates(pg_url: str) -> None:
    """Another transaction holds heads locked (as racing windows do): the claim takes the first
    free ticket in queue order. Past the 16 candidates a seek reads, the full sort finds it: a
    normal ticket behind those 16 priority ones must not come first."""
    h = Hall(pg_url)
    h.set_hall(priority_cap=100)
    clerk = h.open("06", "clerk1")  # serves A only
    priority = [h.issue("A", priority="priority")["id"] for _ in range(svc.PG_CANDIDATES + 2)]
    for _ in range(3):
        h.issue("A")
    other = make_engine(pg_url)
    try:
        for held, expected in ((priority[:3], priority[3]), (priority[:svc.PG_CANDIDATES + 1], priority[-1])):
            with other.begin() as conn:
                conn.execute(select(T.tickets.c.id).where(T.tickets.c.id.in_(held), T.tickets.c.status == "waiting")
                             .with_for_update())
                got = h.run(svc.call_next, actor=clerk, window_code="06", finish_current=True).ticket
                assert got["id"] == expected
        with other.begin() as conn:  # everything left locked by others: nobody to call here
            conn.execute(select(T.tickets.c.id).where(T.tickets.c.status == "waiting").with_for_update())
            assert h.run(svc.call_next, actor=clerk, window_code="06", finish_current=True).ticket is None
        assert h.run(svc.call_next, actor=clerk, window_code="06", finish_current=True).ticket["id"] == priority[0]
    finally:
        other.dispose()
        h.assert_waiting_counts_match_the_tickets()


@pytest.mark.postgres
def test_postgres_claim_plans_hold_with_statistics_of_an_empty_queue(pg_url: str) -> None:
    """Statistics taken when nobody waited (the night's VACUUM): the claim still finds its rows by
    primary key, not by a scan of every ticket waiting today (a partial index believed empty)."""
    import psycopg

    h = Hall(pg_url)
    clerk = h.open("06", "clerk1")  # serves A only
    conninfo = pg_url.replace("postgresql+psycopg://", "postgresql://")
    template = h.issue("A")["id"]
    with psycopg.connect(conninfo, autocommit=True) as c:  # 5,000 served tickets of past days, then VACUUM
        c.execute("INSERT INTO tickets (hall_id, zone_id, queue_zone_id, business_date, seq, number, priority, status, "
                  "rank, queue_key, issued_at, call_count, miss_count, public_token) SELECT hall_id, zone_id, "
                  "queue_zone_id, business_date - g, seq, number, priority, 'served', rank, queue_key, issued_at, 1, 0, "
                  "md5(g::text) FROM tickets, generate_series(1, 5000) g WHERE id = %s", (template,))
        c.execute("UPDATE tickets SET status = 'served' WHERE id = %s", (template,))
        c.execute("VACUUM ANALYZE tickets")
    for _ in range(40):
        h.issue("A")
    try:
        with h.c.db.engine.connect() as conn:
            cur = conn.connection.driver_connection.cursor()
            cur.execute("SELECT w.id, wz.zone_id, wz.position FROM windows w JOIN window_zones wz "
                        "ON wz.window_id = w.id WHERE w.code = '06'")
            window_id, zone_id, pos = cur.fetchone()
            params = {"window_id": window_id, "day": TODAY, "now": h.clock.now(), "now_key": 36000.0,
                      "z0": zone_id, "p0": pos}
            cur.execute(svc._candidates_sql("postgresql", 1, True, svc.PG_CANDIDATES), params)
            ids = svc._takeable(cur.fetchall())
            assert len(ids) == svc.PG_CANDIDATES
            cur.execute("EXPLAIN " + svc._claim_candidate_pg(1), {**params, "ids": ids})
            claim = [r[0] for r in cur.fetchall()]
            conn.rollback()
    finally:
        h.c.db.dispose()
    scans = [line.strip() for line in claim if " Scan " in line or line.strip().startswith(("Seq Scan", "Bitmap"))]
    assert len(scans) == 2 and all("using pk_tickets" in s for s in scans), claim
    assert clerk is not None
