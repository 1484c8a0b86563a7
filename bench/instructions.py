#!/usr/bin/env python3
"""Machine instructions per request: the real server (SQLite, one worker) under valgrind's
callgrind, driven over loopback HTTP by the same load generator and scenarios as bench/run.py.

Requests per second on a shared virtual machine move with whatever else the host runs (steal
of 60 % of a core has been seen here, and a run's figures then halve); the number of
instructions the server executes to answer a request does not. This counts them, for issuing
(16 kiosks' clients cycling over the zones) and for call-next with finish (32 windows racing),
over the whole server process: its event loop, the SQLite writer thread, sqlite3 and the
kernel-facing C code alike (not the kernel itself). Compare two versions of the code with it;
bench/run.py still gives the rates.

Repeatability here: issuing 0.889-0.896 M instructions a request over five runs; call-next
2.2-2.8 M (its queue, WAL and checkpoints differ from run to run): compare call-next over
several runs, or with more requests.

    python bench/instructions.py [--issues 400] [--calls 200] [--code tree|head] [--out DIR]

Instrumentation is off while the server starts, warms up and the queue is prefilled, and on
only around the measured requests (callgrind_control -i on/off, then a dump read for its
totals); the server's idle rate (timers, counted over IDLE_S with no request) times each
run's wall time is taken off. Needs Debian's valgrind. `--out DIR` keeps the dumps for callgrind_annotate.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import run as B  # bench/run.py: the server, the hall, the scenarios
from loadgen import run_load

IDLE_S = 10.0  # seconds of the idle server counted, for the rate of its clock-driven work


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120)


def counted(server: B.Server, out: Path, label: str, work: Callable[[], Any]) -> tuple[int, float, Any]:
    """Instructions of the whole server process while `work` runs: (count, wall seconds, its result)."""
    pid = server.proc.pid  # type: ignore[union-attr]
    control(pid, "--zero")
    control(pid, "--instr=on")
    t0 = time.monotonic()
    result = work()
    wall = time.monotonic() - t0
    control(pid, "--instr=off")
    before = set(out.glob("callgrind.out*"))
    control(pid, f"--dump={label}")
    deadline = time.monotonic() + 60
    total = None
    while total is None and time.monotonic() < deadline:
        for f in set(out.glob("callgrind.out*")) - before:
            m = re.search(r"^totals:\s+(\d+)", f.read_text(errors="replace"), re.MULTILINE)
            if m:
                total = int(m.group(1))
        time.sleep(0.2)
    if total is None:
        raise RuntimeError(f"no callgrind dump for {label}")
    return total, wall, result


def measured(server: B.Server, out: Path, label: str, scenario: B.Scenario, clients: int, n: int,
             idle_rate: float) -> dict[str, float]:
    """Instructions a request over `n` requests of `scenario`, less the server's idle work (its
    timers run by the clock, and a request under callgrind takes ~100 times as long)."""
    total, wall, r = counted(server, out, label, lambda: run_load(B.HOST, server.port, scenario, clients, processes=1,
                                                                    total_requests=n, max_seconds=600))
    ok = sum(v for k, v in r.statuses.items() if k < 300)
    if ok != n or r.errors:
        raise RuntimeError(f"{label}: {ok} of {n} requests succeeded ({dict(r.statuses)}, {r.errors} errors)")
    return {"requests": n, "instructions": total, "per_request": (total - idle_rate * wall) / n,
            "idle_share": idle_rate * wall / total, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--issues", type=int, default=400, help="issuing requests measured (16 clients)")
    ap.add_argument("--calls", type=int, default=200, help="call-next requests measured (32 windows)")
    ap.add_argument("--code", choices=("tree", "head"), default="tree")
    ap.add_argument("--out", help="keep the callgrind dumps here")
    a = ap.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("needs valgrind (Debian package valgrind)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="hallinstr-"))
    out = Path(a.out).resolve() if a.out else tmp / "callgrind"
    out.mkdir(parents=True, exist_ok=True)
    try:
        B.CODE.take(tmp / "code", a.code)
        env = B.Env(tmp, B.PROFILES["quick"])
        d = tmp / "sqlite"
        d.mkdir()
        dbfile = d / "hall.db"
        port = B.free_port()
        cfg = d / "hall.toml"
        B.write_config(cfg, env.hall_toml, f"sqlite:///{dbfile}", port, 1)
        db = B.BenchDB(f"sqlite:///{dbfile}", dbfile)
        B.log("migrate, import the hall, create the clerks")
        B.setup_database(cfg, env.secrets, db)
        server = B.Server(cfg, env.secrets, port, 1, d / "server.log",
                          prefix=["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                  f"--callgrind-out-file={out}/callgrind.out.%p"])
        B.log(f"starting the server under callgrind (code {B.CODE.version})")
        server.start(timeout=600)
        try:
            windows = B.open_windows(port, env.hall)
            m = B.Measurer(server, db, env.hall, env.secrets["HALL_TOKEN_K1"], windows, env.since, None)
            B.log("warming up (not counted)")
            run_load(B.HOST, port, m.issue, 16, processes=1, total_requests=200, max_seconds=600)
            run_load(B.HOST, port, m.calls, B.N_WINDOWS, processes=1, total_requests=64, max_seconds=600)
            db.clear_today(env.since)
            idle, idle_wall, _ = counted(server, out, "idle", lambda: time.sleep(IDLE_S))
            idle_rate = idle / idle_wall
            B.log(f"idle: {idle_rate / 1e6:.2f} M instructions a second")
            B.log(f"issuing: {a.issues} requests, 16 clients")
            issue = measured(server, out, "issue", m.issue, 16, a.issues, idle_rate)
            db.clear_today(env.since)
            prefill = a.calls + 6 * 40
            run_load(B.HOST, port, m.issue, 16, processes=1, total_requests=prefill, max_seconds=600)
            B.log(f"call-next: {a.calls} requests, {B.N_WINDOWS} windows (queue prefilled with {prefill})")
            call = measured(server, out, "call", m.calls, B.N_WINDOWS, a.calls, idle_rate)
        finally:
            server.stop()
        print(f"code {B.CODE.version}; instructions of the server process (callgrind), SQLite one worker")
        for name, r in (("issue", issue), ("call-next", call)):
            print(f"  {name:10s} {r['per_request'] / 1e6:8.3f} M instructions a request"
                  f"  ({r['requests']} requests, {r['instructions'] / 1e9:.2f} G in {r['wall_s']:.0f}s under callgrind,"
                  f" {100 * r['idle_share']:.1f} % of it the idle rate, taken off)")
        return 0
    finally:
        if a.out is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(tmp / "code", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
