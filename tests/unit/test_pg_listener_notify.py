"""What a worker's listener does with one NOTIFY (realtime/pg_listener.py): nothing when it has
the announced events already; deliver the payload's events when they follow on from the last
it delivered; read the table otherwise. Each event once, in seq order, whichever way."""
from __future__ import annotations

from typing import Any

import pytest

from kiosk_server.realtime import pg_listener
from kiosk_server.realtime.pg_listener import PgFanout, parse, payload


def ev(seq: int, **extra: Any) -> dict[str, Any]:
    return {"seq": seq, "type": "ticket.issued", "zone": "A", "ticket": {"number": f"A{seq:04d}"}, **extra}


class Table:
    """The events table as the listener's fetch sees it."""

    def __init__(self, upto: int) -> None:
        self.rows = [ev(s) for s in range(1, upto + 1)]
        self.reads = 0

    def fetch(self, since: int, n: int) -> list[dict[str, Any]]:
        self.reads += 1
        return [e for e in self.rows if e["seq"] > since][:n]


def fanout(table: Table, start: int) -> tuple[PgFanout, list[int]]:
    got: list[int] = []
    f = PgFanout("postgresql://h/db", table.fetch, lambda evs: got.extend(e["seq"] for e in evs), start)
    return f, got


def test_a_notify_for_events_already_delivered_reads_nothing():
    table = Table(5)
    f, got = fanout(table, 3)
    assert f.notified("5") == 2 and got == [4, 5] and table.reads == 1
    assert f.notified("4") == 0 and f.notified("5") == 0  # an earlier read went past them
    assert table.reads == 1 and got == [4, 5]


def test_events_carried_in_the_payload_are_delivered_without_reading_the_table():
    table = Table(7)
    f, got = fanout(table, 4)
    assert f.notified(payload([ev(5), ev(6)])) == 2
    assert got == [5, 6] and table.reads == 0 and f.last == 6 and f.from_payload == 1
    assert f.notified(payload([ev(6), ev(7)])) == 1  # overlapping what it has: only the new one
    assert got == [5, 6, 7] and table.reads == 0


@pytest.mark.parametrize("text", [
    payload([ev(6), ev(7)]),          # a gap: 5 is missing
    payload([ev(5), ev(7)]),          # a hole inside
    '{"seq": 7, "events": "x"}',      # events it cannot use
    '{"seq": 7}',                     # no events
    "{not json",                      # unreadable
    "7",                              # a bare seq
])
def test_anything_but_a_run_that_follows_on_is_read_from_the_table(text: str):
    table = Table(7)
    f, got = fanout(table, 4)
    f.notified(text)
    assert got == [5, 6, 7] and table.reads == 1 and f.last == 7


def test_a_payload_that_would_be_too_large_carries_the_seq_only(monkeypatch: pytest.MonkeyPatch):
    small = payload([ev(1), ev(2)])
    assert parse(small) == (2, [ev(1), ev(2)])
    big = [ev(s, note="x" * 400) for s in range(1, 40)]
    assert payload(big) == "39" and parse("39") == (39, None)
    monkeypatch.setattr(pg_listener, "PAYLOAD_MAX", 10)
    assert payload([ev(1), ev(2)]) == "2"


def test_a_long_catch_up_reads_in_batches(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pg_listener, "BATCH", 4)
    table = Table(10)
    f, got = fanout(table, 0)
    assert f.notified("10") == 10 and got == list(range(1, 11)) and table.reads == 3
