"""PostgreSQL: issuing a ticket waits on the server four times, not once per statement (six):
BEGIN; the zone, its counter and the matter in one statement (services/tickets.py); the ticket
and its event in one (raw.defer, outbox.flush); COMMIT. Call-next: twelve, not thirteen;
finish-and-call-next fifteen, not twenty-one (the history, the zone's average and the window's
priority streak go with the events).

(psycopg's pipeline mode, tried first, sends the same statements in fewer round trips but
costs more Python and more waits per statement on the client: the statements are merged instead.) On a busy hall each wait is a thread handing over the
interpreter and a server process woken, and the zone's counter row stays locked through them."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select

from kiosk_server import bootstrap
from kiosk_server.db import tables as T
from kiosk_server.services import tickets as svc
from tests.integration.test_event_numbering import KIOSK
from tests.support.hall import FakeClock, prepare

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


@pytest.fixture
def hall(pg_url: str) -> Iterator[bootstrap.Container]:
    c = bootstrap.build(prepare(pg_url).settings, clock=FakeClock())
    c.db.sequencer.committed = lambda conn, buf, notes=(): None  # the numbering's own round trips aside
    try:
        yield c
    finally:
        c.db.dispose()


def _issue(c: bootstrap.Container, **kw: Any) -> dict[str, Any]:
    return c.write(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=KIOSK, zone_code="A",
                   open_windows=c.open_windows, **kw).ticket


def _round_trips(c: bootstrap.Container, tmp_path: Any, fn: Any) -> tuple[Any, list[str]]:
    """fn()'s result, and the server's ReadyForQuery answers meanwhile: one per Sync or simple
    query, each a wait for the server (libpq's protocol trace of the connections used)."""
    path = tmp_path / "trace.txt"
    with open(path, "w", encoding="utf-8") as f:
        def checkout(dbapi_conn: Any, _rec: Any, _proxy: Any) -> None:
            dbapi_conn.pgconn.trace(f.fileno())

        def checkin(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.pgconn.untrace()
        event.listen(c.db.engine, "checkout", checkout)
        event.listen(c.db.engine, "checkin", checkin)
        try:
            out = fn()
        finally:
            event.remove(c.db.engine, "checkout", checkout)
            event.remove(c.db.engine, "checkin", checkin)
    return out, [line for line in path.read_text(encoding="utf-8").splitlines() if "ReadyForQuery" in line]


@pytest.mark.parametrize("last_write, expected", [(True, 4), (False, 5)])
def test_issuing_waits_on_the_server_four_times(hall: bootstrap.Container, tmp_path: Any,
                                                 last_write: bool, expected: int) -> None:
    _issue(hall)  # the pool's connection made, the open windows counted
    t, trips = _round_trips(hall, tmp_path, lambda: _issue(hall, last_write=last_write))
    assert len(trips) == expected, trips
    with hall.db.read() as conn:  # and all of it is there
        row = conn.execute(select(T.tickets.c.id, T.tickets.c.number).where(T.tickets.c.id == t["id"])).one()
        assert tuple(row) == (t["id"], t["number"])
        assert conn.execute(select(func.count()).select_from(T.events).where(
            T.events.c.type == "ticket.issued")).scalar_one() == 2


def test_a_deferred_insert_that_fails_takes_the_whole_issue_back(hall: bootstrap.Container,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The ticket's insert fails with the event, after the number was taken: nothing is left of
    it, the counter included, and the next ticket gets the number."""
    first = _issue(hall, last_write=True)

    def counts() -> tuple[int, int, int]:
        with hall.db.read() as conn:
            return (conn.execute(select(func.count()).select_from(T.tickets)).scalar_one(),
                    conn.execute(select(func.count()).select_from(T.events)).scalar_one(),
                    conn.execute(select(T.counters.c.value).join(T.zones, T.zones.c.id == T.counters.c.zone_id)
                                 .where(T.zones.c.code == "A")).scalar_one())
    before = counts()
    assert before[0] == 1 and before[2] == 1
    monkeypatch.setattr(svc, "public_token", lambda now: first["public_token"])  # a unique column: refused
    with pytest.raises(Exception, match="public_token"):
        _issue(hall, last_write=True)
    monkeypatch.undo()
    assert counts() == before
    assert _issue(hall, last_write=True)["number"] == "A002"


@pytest.mark.parametrize("finish, expected", [(False, 12), (True, 15)])
def test_call_next_waits_on_the_server_twelve_or_fifteen_times(pg_url: str, tmp_path: Any, finish: bool,
                                                            expected: int) -> None:
    """BEGIN | the window | its active ticket | its zones | (the finish | its zone codes | the
    waiting count) | the candidates | the claim | the answer's three reads | the zone's waiting
    count | the history, the zone's average and the events | COMMIT."""
    from tests.integration.test_queue_rules import Hall
    h = Hall(pg_url)
    try:
        clerk = h.open("06", "clerk1")
        for _ in range(4):
            h.issue("A")
        first = h.call("06", clerk)
        assert first is not None
        if not finish:
            h.run(svc.start, actor=clerk, ticket_id=first["id"])
            h.run(svc.finish, actor=clerk, ticket_id=first["id"])
        h.c.db.sequencer.committed = lambda conn, buf, notes=(): None
        out, trips = _round_trips(h.c, tmp_path, lambda: h.run(svc.call_next, actor=clerk, window_code="06",
                                                                finish_current=finish))
        assert len(trips) == expected, trips
        assert out.ticket["number"] == "A002" and out.body["status"] == "called"
        assert h.status(first["id"]) == "served"

        def actions(ticket_id: int) -> list[str]:  # the deferred history is there
            with h.c.db.read() as conn:
                return list(conn.execute(select(T.ticket_history.c.action).where(
                    T.ticket_history.c.ticket_id == ticket_id).order_by(T.ticket_history.c.id)).scalars())
        assert actions(first["id"])[-3:] == ["call", "start", "finish"]
        assert actions(out.ticket["id"])[-1:] == ["call"]
    finally:
        h.c.db.dispose()
