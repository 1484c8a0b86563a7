from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from printer_driver.decode import Slip, decode_slips
from printer_driver.layouts import ticket_slip
from printer_driver.profiles import PAPER_58MM
from printer_driver.render import Renderer, render
from printer_driver.simulator import PrinterSimulator
from printer_driver.spooler import Spooler, SpoolerConfig
from printer_driver.status import READY, PrinterStatus
from printer_driver.transports import CaptureTransport, NetworkTransport
from tests.printer.conftest import STATUS_URL, FakeClock, FakeJobStore, ticket_data

PAPER_OUT = PrinterStatus(online=False, paper_out=True, error="paper_out")


def spooler(store: FakeJobStore, transport: Any, clock: FakeClock | None = None, **config: Any) -> Spooler:
    return Spooler("P1", store, transport, Renderer(PAPER_58MM), config=SpoolerConfig(**config),
                   clock=clock or FakeClock())


# ---------------------------------------------------------------------- the loop, step by step


def test_prints_queued_jobs_in_order_and_records_the_status_once(store: FakeJobStore) -> None:
    t = CaptureTransport()
    for n in (1, 2, 3):
        store.add("ticket", ticket_data(n))
    store.add("ticket", ticket_data(9), printer="P2")  # another printer's
    s = spooler(store, t)
    assert [s.step() for _ in range(4)] == ["printed", "printed", "printed", "idle"]
    assert t.data == b"".join(render(ticket_slip(ticket_data(n)), PAPER_58MM) for n in (1, 2, 3))
    assert store.count("done") == 3 and store.count("queued") == 1
    assert store.statuses == [READY]


def test_a_printer_that_cannot_print_spends_no_attempts(store: FakeJobStore) -> None:
    t = CaptureTransport(PAPER_OUT)
    job = store.add("ticket", ticket_data(1))
    s = spooler(store, t)
    assert [s.step(), s.step()] == ["not_ready", "not_ready"]
    t.refuse, t.is_open = True, False
    assert s.step() == "not_ready"
    assert store.rows[job].job.attempts == 0 and store.claims == []
    t.refuse, t.status = False, READY
    assert s.step() == "printed"
    assert [st.error for st in store.statuses] == ["paper_out", "unreachable", None]


def test_a_slip_cut_mid_send_is_printed_again_with_the_reprint_marker_after_a_backoff(store: FakeJobStore) -> None:
    clock = FakeClock()
    t = CaptureTransport(fail_after=100)
    job = store.add("ticket", ticket_data(1))
    s = spooler(store, t, clock)
    assert s.step() == "retry"
    row = store.rows[job]
    assert (row.status, row.job.reprint, row.next_attempt) == ("queued", True, clock.now + _seconds(2))
    assert s.step() == "idle"  # not due yet
    clock.advance(2)
    assert s.step() == "printed"
    first = render(ticket_slip(ticket_data(1)), PAPER_58MM)
    again = render(ticket_slip(ticket_data(1), reprint=True), PAPER_58MM)
    assert t.data == first[:100] + again
    assert decode_slips(again)[0].lines[0].text == "【补打】"
    assert [st.error for st in store.statuses] == [None, "unreachable", None]


def test_a_job_nothing_of_was_sent_is_retried_plain(store: FakeJobStore) -> None:
    clock = FakeClock()
    t = CaptureTransport(fail_after=0)
    job = store.add("ticket", ticket_data(1))
    s = spooler(store, t, clock)
    assert s.step() == "retry"
    assert store.rows[job].job.reprint is False
    clock.advance(2)
    assert s.step() == "printed"
    assert t.data == render(ticket_slip(ticket_data(1)), PAPER_58MM)


def test_backoff_doubles_up_to_its_cap_and_the_last_attempt_raises_the_alarm(store: FakeJobStore) -> None:
    clock = FakeClock()
    t = CaptureTransport()
    job = store.add("ticket", ticket_data(1))
    s = spooler(store, t, clock, max_attempts=4, backoff_s=2, backoff_max_s=5)
    delays = []
    for _ in range(4):
        t.fail_after = len(t.data) + 10
        s.step()
        row = store.rows[job]
        if row.next_attempt is not None:
            delays.append((row.next_attempt - clock.now).total_seconds())
            clock.now = row.next_attempt
    assert delays == [2, 4, 5]
    assert store.rows[job].status == "failed" and store.rows[job].job.attempts == 4
    assert store.alarms == [(job, store.rows[job].errors[-1])] and len(store.rows[job].errors) == 4


def test_a_fault_reported_right_after_the_slip_means_a_reprint(store: FakeJobStore) -> None:
    class Scripted(CaptureTransport):
        def __init__(self, answers: list[PrinterStatus]) -> None:
            super().__init__()
            self.answers = answers

        def read_status(self) -> PrinterStatus:
            return self.answers.pop(0) if self.answers else READY

    clock = FakeClock()
    job = store.add("ticket", ticket_data(1))
    s = spooler(store, Scripted([READY, PAPER_OUT, PAPER_OUT]), clock)
    assert s.step() == "retry"
    assert store.rows[job].job.reprint and store.rows[job].errors == ["printer: paper_out"]
    clock.advance(2)
    assert s.step() == "not_ready"
    assert s.step() == "printed"
    assert [st.error for st in store.statuses] == [None, "paper_out", None]


def test_a_job_that_cannot_be_rendered_fails_at_once(store: FakeJobStore) -> None:
    t = CaptureTransport()
    bad = ticket_data(1)
    del bad["number"]
    job = store.add("ticket", bad)
    assert spooler(store, t).step() == "failed"
    assert store.rows[job].status == "failed" and store.alarms == [(job, "render: 'number'")]
    assert t.data == b""


def test_cancelled_jobs_are_not_printed(store: FakeJobStore) -> None:
    t = CaptureTransport()
    first = store.add("ticket", ticket_data(1))
    store.add("ticket", ticket_data(2))
    store.cancel(first)
    s = spooler(store, t)
    assert [s.step(), s.step()] == ["printed", "idle"]
    assert [q.data for slip in decode_slips(t.data) for q in slip.qr_codes] == [STATUS_URL.format(token="tok00002")]


def test_jobs_left_printing_by_a_crash_are_reprinted_and_wake_skips_the_wait(store: FakeJobStore) -> None:
    t = CaptureTransport()
    job = store.add("ticket", ticket_data(1))
    store.claim_next("P1", FakeClock()())  # the process died while printing it
    s = Spooler("P1", store, t, Renderer(PAPER_58MM), config=SpoolerConfig(poll_s=60))
    s.start()
    try:
        store.wait(lambda st: st.count("done") == 1, timeout=5)
        assert store.rows[job].job.reprint
        second = store.add("ticket", ticket_data(2))
        started = time.monotonic()
        s.wake()
        store.wait(lambda st: st.rows[second].status == "done", timeout=5)
        assert time.monotonic() - started < 5
    finally:
        s.stop()
    assert [slip.lines[0].text for slip in decode_slips(t.data)] == ["【补打】", "衡阳市政务服务中心"]


def _seconds(n: float) -> Any:
    from datetime import timedelta
    return timedelta(seconds=n)


# ---------------------------------------------------------------------- against the simulator

JOBS = 200
TICKET_BYTES = len(render(ticket_slip(ticket_data(1)), PAPER_58MM))
PER_JOB = 9 + TICKET_BYTES + 9  # status query before, the slip, status query after


def mid_send(job: int) -> int:
    """Bytes the simulator receives before the middle of job `job`'s slip (all tickets are equally long)."""
    return (job - 1) * PER_JOB + 9 + TICKET_BYTES // 2


def job_of(slip: Slip) -> int:
    (qr,) = slip.qr_codes
    return int(qr.data.rsplit("tok", 1)[1])


def run_through_fault(sim: PrinterSimulator, store: FakeJobStore, fault: Callable[[], None],
                      waits_for: set[str]) -> Spooler:
    """Queue JOBS tickets, start the fault, run the spooler until it saw the fault, recover, print all."""
    for n in range(1, JOBS + 1):
        store.add("ticket", ticket_data(n))
    transport = NetworkTransport("127.0.0.1", sim.port, connect_timeout=0.5, write_timeout=0.5, status_timeout=0.3)
    s = Spooler("P1", store, transport, Renderer(PAPER_58MM),
                config=SpoolerConfig(backoff_s=0.01, backoff_max_s=0.05, poll_s=0.02))
    fault()
    s.start()
    try:
        store.wait(lambda st: bool(waits_for & set(st.status_errors())), timeout=30)
        time.sleep(0.3)  # a few polls while it is down
        sim.recover()
        store.wait(lambda st: st.count("done") == JOBS, timeout=60)
    finally:
        s.stop()
    assert store.alarms == []
    return s


def copies(sim: PrinterSimulator) -> Counter[tuple[int, bool]]:
    """(job, has the 补打 marker) → complete slips printed."""
    return Counter((job_of(slip), slip.lines[0].text == "【补打】") for slip in sim.slips)


def test_offline_while_200_jobs_are_queued_then_back(sim: PrinterSimulator, store: FakeJobStore) -> None:
    run_through_fault(sim, store, lambda: sim.go_offline("refuse"), {"unreachable"})
    sim.wait_for_slips(JOBS)
    assert copies(sim) == Counter({(n, False): 1 for n in range(1, JOBS + 1)})
    assert [job_of(slip) for slip in sim.slips] == list(range(1, JOBS + 1))  # in order
    assert sim.torn == []
    assert store.status_errors() == ["unreachable", None]


@pytest.mark.parametrize("mode", ["refuse", "close"])
def test_connection_dropped_mid_send(sim: PrinterSimulator, store: FakeJobStore, mode: str) -> None:
    run_through_fault(sim, store, lambda: sim.go_offline(mode, after_bytes=mid_send(51)),  # type: ignore[arg-type]
                      {"unreachable", "no_response"})
    sim.wait_for_slips(JOBS)
    expected = Counter({(n, False): 1 for n in range(1, JOBS + 1) if n != 51}) + Counter({(51, True): 1})
    assert copies(sim) == expected
    assert len(sim.torn) == 1 and "A051" in sim.torn[0].text and sim.torn[0].qr_codes == []  # the first half
    errors = store.status_errors()
    assert errors[0] is None and errors[-1] is None and len(errors) >= 3
    assert set(errors[1:-1]) <= {"unreachable", "no_response"}


def test_paper_out_mid_slip(sim: PrinterSimulator, store: FakeJobStore) -> None:
    run_through_fault(sim, store, lambda: sim.paper_out(after_bytes=mid_send(31)), {"paper_out"})
    sim.wait_for_slips(JOBS)
    assert copies(sim) == Counter({(n, False): 1 for n in range(1, JOBS + 1) if n != 31}) + Counter({(31, True): 1})
    assert len(sim.torn) == 1 and "A031" in sim.torn[0].text
    assert store.status_errors() == [None, "paper_out", None]


def test_stalled_printer_mid_slip(sim: PrinterSimulator, store: FakeJobStore) -> None:
    run_through_fault(sim, store, lambda: sim.stall(after_bytes=mid_send(21)), {"no_response"})
    # the stalled connection still held the rest of job 21: once reading again the printer finishes it
    sim.wait_for_slips(JOBS + 1)
    assert copies(sim) == Counter({(n, False): 1 for n in range(1, JOBS + 1)}) + Counter({(21, True): 1})
    assert sim.torn == []
    errors = store.status_errors()
    assert errors[0] is None and errors[-1] is None and "no_response" in errors
    assert set(errors[1:-1]) <= {"unreachable", "no_response"}
