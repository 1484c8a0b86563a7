"""Spooler throughput to the printer simulator over loopback TCP: N ticket jobs queued at once,
one spooler thread, real ESC/POS rendering, status polled before each job.

    python bench/spool_bench.py [--jobs 1000]

The job store is the in-memory one of the tests (the database store adds one short
transaction per claim and per completion)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from printer_driver.profiles import PAPER_80MM  # noqa: E402
from printer_driver.render import Renderer  # noqa: E402
from printer_driver.simulator import PrinterSimulator  # noqa: E402
from printer_driver.spooler import Spooler, SpoolerConfig  # noqa: E402
from printer_driver.transports import NetworkTransport  # noqa: E402
from tests.printer.conftest import FakeJobStore, ticket_data  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000)
    a = ap.parse_args()
    sim = PrinterSimulator("127.0.0.1", 0, profile=PAPER_80MM)
    sim.start()
    store = FakeJobStore()
    for n in range(a.jobs):
        store.add("ticket", ticket_data(n + 1))
    sp = Spooler("P1", store, NetworkTransport("127.0.0.1", sim.port), Renderer(PAPER_80MM),
                 config=SpoolerConfig(poll_s=0.05))
    t0 = time.perf_counter()
    sp.start()
    sim.wait_for_slips(a.jobs, timeout=120)
    took = time.perf_counter() - t0
    sp.stop()
    sim.stop()
    print(f"spooler: {a.jobs} tickets printed in {took:.2f} s = {a.jobs / took:.0f} tickets/s "
          f"(render + send + status poll per job, one printer)")


if __name__ == "__main__":
    main()
