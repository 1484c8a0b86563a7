import json

import pytest

from display_client.protocol import (
    Event,
    Other,
    Ping,
    ProtocolError,
    Snapshot,
    from_wire,
    parse,
)
from display_client.state import MAX_CALLS, HallState, initial, reduce
from tests.display import wire

OPEN = {"06": ("open", None), "07": ("open", None), "11": ("paused", None), "01": ("closed", None)}


def run(messages, state: HallState | None = None) -> HallState:
    state = state or initial()
    for m in messages:
        state = reduce(state, from_wire(m))
    return state


# ---------------------------------------------------------------- wire models

def test_parse_reads_every_kind_of_message():
    assert isinstance(parse(json.dumps(wire.snapshot(5, OPEN))), Snapshot)
    assert parse('{"type":"ping"}') == Ping("ping")
    assert parse(b'{"type":"pong"}') == Ping("pong")
    ev = parse(json.dumps(wire.called(6, 1, "A007", "06")))
    assert isinstance(ev, Event) and ev.is_call
    assert (ev.seq, ev.zone, ev.ticket.number, ev.window.code, ev.waiting) == (6, "A", "A007", "06", {"A": 3})
    assert ev.announcement.tokens == ("请", "A", "0", "0", "7", "号", "到", "0", "6", "号窗口", "办理")


def test_parse_is_tolerant_of_unknown_types_and_fields():
    ev = from_wire({"seq": 9, "type": "hall.renamed", "at": "x", "new_field": [1, 2], "ticket": "not an object"})
    assert isinstance(ev, Event) and ev.ticket is None and ev.raw["new_field"] == [1, 2]
    assert isinstance(from_wire({"type": "hello", "anything": 1}), Other)
    snap = from_wire({"type": "snapshot", "seq": 3, "extra": True, "windows": [{"code": "06"}, {"bad": 1}],
                      "calls": [{"seq": "x"}], "waiting": {"A": 2, "B": "many", "C": -1}})
    assert snap.windows[0].state == "closed" and len(snap.windows) == 1 and snap.calls == ()
    assert snap.waiting == {"A": 2}
    window = from_wire(wire.window_event(4, "paused", "06", "paused", "午休"))
    assert window.window.reason == "午休"


@pytest.mark.parametrize("bad", ["not json", "[1,2]", '{"seq":1}', '{"type":"ticket.called","seq":"7"}',
                                 '{"type":"snapshot"}', '{"type":"ticket.called","seq":true}'])
def test_unreadable_messages_raise_protocol_error(bad):
    with pytest.raises(ProtocolError):
        parse(bad)


# ---------------------------------------------------------------- reducer

def test_snapshot_sets_the_whole_hall():
    calls = [wire.called(3, 10, "A001", "06"), wire.called(4, 11, "B001", "07"),
             wire.called(5, 10, "A001", "06", recall=True)]
    s = run([wire.snapshot(5, {**OPEN, "06": ("open", "A001"), "07": ("open", "B001")}, calls, {"A": 4, "B": 1})])
    assert s.seq == 5 and s.hall_name == "衡阳市政务服务中心" and not s.needs_resync
    assert s.windows["06"].number == "A001" and s.windows["06"].ticket_id == 10
    assert s.windows["11"].state == "paused" and s.windows["01"].number is None
    assert [(c.number, c.recall) for c in s.calls] == [("A001", True), ("B001", False)]  # one per ticket, newest first
    assert s.waiting == {"A": 4, "B": 1}


def test_call_recall_start_serve_move_the_window():
    s = run([wire.snapshot(1, OPEN)])
    s = reduce(s, from_wire(wire.called(2, 10, "A007", "06", waiting=5)))
    assert (s.windows["06"].number, s.windows["06"].serving, s.waiting["A"]) == ("A007", False, 5)
    assert s.calls[0].number == "A007" and s.calls[0].window == "06"
    s = reduce(s, from_wire(wire.called(3, 10, "A007", "06", recall=True)))
    assert len(s.calls) == 1 and s.calls[0].recall
    s = reduce(s, from_wire(wire.ticket_event(4, "started", 10, "A007", "06")))
    assert s.windows["06"].serving and s.is_current("06", "A007")
    s = reduce(s, from_wire(wire.ticket_event(5, "served", 10, "A007", "06", waiting=4)))
    assert s.windows["06"].number is None and not s.is_current("06", "A007") and s.waiting["A"] == 4
    assert s.seq == 5 and not s.needs_resync


@pytest.mark.parametrize("kind", ["missed", "cancelled", "requeued", "transferred", "expired"])
def test_a_ticket_leaving_its_window_clears_it(kind):
    s = run([wire.snapshot(1, OPEN), wire.called(2, 10, "A007", "06"), wire.called(3, 11, "A008", "07")])
    ev = wire.ticket_event(4, kind, 10, "A007", None)
    if kind == "transferred":
        ev["from_window"] = wire.window_ref("06")
    s = reduce(s, from_wire(ev))
    assert s.windows["06"].number is None and s.windows["07"].number == "A008"


def test_window_states_and_pause_reason():
    s = run([wire.snapshot(1, OPEN), wire.window_event(2, "paused", "06", "paused", "午休")])
    assert (s.windows["06"].state, s.windows["06"].reason) == ("paused", "午休")
    s = reduce(s, from_wire(wire.window_event(3, "resumed", "06", "open")))
    assert (s.windows["06"].state, s.windows["06"].reason) == ("open", None)
    s = reduce(s, from_wire(wire.window_event(4, "closed", "06", "closed")))
    s = reduce(s, from_wire(wire.window_event(5, "opened", "01", "open")))
    assert s.windows["06"].state == "closed" and s.windows["01"].state == "open"


def test_windows_of_other_zones_are_not_added_to_a_filtered_state():
    snap = wire.snapshot(1, {"06": ("open", None)}, waiting={"A": 2})
    s = run([snap, wire.window_event(2, "opened", "21", "open")], initial(frozenset({"A"})))
    assert set(s.windows) == {"06"}
    s = run([snap, wire.window_event(2, "opened", "21", "open")])
    assert set(s.windows) == {"06", "21"}


def test_waiting_merges_and_queue_changed_replaces_per_zone():
    s = run([wire.snapshot(1, OPEN, waiting={"A": 1, "B": 2}), wire.issued(2, 10, "A001", 2),
             {"seq": 3, "type": "queue.changed", "at": wire.AT, "waiting": {"A": 0, "B": 0, "C": 7}}])
    assert s.waiting == {"A": 0, "B": 0, "C": 7}
    only_a = initial(frozenset({"A"}))
    s = run([wire.snapshot(1, OPEN, waiting={"A": 1}),
             {"seq": 2, "type": "queue.changed", "at": wire.AT, "waiting": {"A": 0, "C": 7}}], only_a)
    assert s.waiting == {"A": 0}


def test_recent_calls_are_bounded():
    s = run([wire.snapshot(0, OPEN)] + [wire.called(i + 1, i, f"A{i:03d}", "06") for i in range(1, 15)])
    assert len(s.calls) == MAX_CALLS and s.calls[0].number == "A014"


def test_a_gap_in_seq_asks_for_a_resync_and_a_snapshot_clears_it():
    s = run([wire.snapshot(10, OPEN), wire.called(11, 1, "A001", "06")])
    assert not s.needs_resync
    s = reduce(s, from_wire(wire.called(13, 2, "A002", "07")))  # 12 is missing
    assert s.needs_resync and "expected seq 12, got 13" in s.resync_reason
    assert s.seq == 13 and s.windows["07"].number == "A002"  # applied all the same
    s = reduce(s, from_wire(wire.called(14, 3, "A003", "06")))
    assert s.needs_resync and "12" in s.resync_reason  # stays until a snapshot
    s = reduce(s, from_wire(wire.snapshot(14, {**OPEN, "06": ("open", "A003")})))
    assert not s.needs_resync and s.resync_reason == ""


def test_duplicates_change_nothing():
    s = run([wire.snapshot(10, OPEN), wire.called(11, 1, "A001", "06")])
    assert reduce(s, from_wire(wire.called(11, 1, "A001", "06"))) is s
    assert reduce(s, from_wire(wire.called(9, 5, "A009", "07"))) is s


def test_an_event_before_any_snapshot_or_a_layout_change_needs_a_resync():
    s = run([wire.called(5, 1, "A001", "06")])
    assert s.needs_resync and s.windows["06"].number == "A001"
    s = run([wire.snapshot(1, OPEN), {"seq": 2, "type": "config.changed", "at": wire.AT, "what": "layout"}])
    assert s.needs_resync and s.resync_reason == "layout changed"


def test_a_filtered_stream_does_not_treat_skipped_seqs_as_gaps():
    s = run([wire.snapshot(10, {"06": ("open", None)}), wire.called(14, 1, "A001", "06")], initial(frozenset({"A"})))
    assert not s.needs_resync and s.seq == 14
    forced = initial(frozenset({"A"}), gap_check=True)
    assert run([wire.snapshot(10, OPEN), wire.called(14, 1, "A001", "06")], forced).needs_resync


def test_unknown_events_advance_seq_only():
    s = run([wire.snapshot(1, OPEN)])
    s2 = reduce(s, from_wire({"seq": 2, "type": "hall.future", "at": wire.AT, "window": {"code": "06"}}))
    assert s2.seq == 2 and s2.windows == s.windows and not s2.needs_resync
    assert reduce(s2, Ping()) is s2
