#!/usr/bin/env python3
"""Benchmark the real hall queue server (`python -m kiosk_server serve`) on loopback.

For each configuration (SQLite with 1 worker; PostgreSQL with 2 and 4 workers) it measures:
  * issuing (POST /api/v1/tickets by kiosk K1, clients cycling over zones A..F) at 1, 16, 64 clients;
  * call-next (POST /api/v1/windows/{code}/call-next?finish_current=true) with 32 windows racing,
    each window's clerk looping on its own window, over a prefilled queue that never runs dry;
  * the same issue(16)/call-next(32) after 1,000,000 past tickets (+1 history row and 1 event each)
    were bulk-inserted, and the ratio of their latencies to the empty database;
  * peak server RSS (sum over the uvicorn process group), server/PostgreSQL/load-generator CPU,
    and status-code counts (any 5xx or connection error is a failure).
Every measured run starts from an empty queue for today (today's tickets are deleted between
runs, as at a day rollover), so the empty and the 1M-row runs see the same queue depths.

    python bench/run.py [--db sqlite|postgres|all] [--workers 2,4] [--quick] [--json out.json]

Bench-only choices, all outside the measured paths: the 32 clerk accounts get argon2 hashes with
minimal parameters (as tests/support does; a default hash costs ~0.5 s here to make and to check,
which would add ~30 s of setup and sign-in per database). The server otherwise runs with its
production defaults (sqlite_synchronous = "full", sweep every 30 s, access log off).

RSS is reported two ways: the sum of each process's VmHWM (the kernel's peak, which includes
transients at start-up) and the highest sum of VmRSS sampled every 0.2 s while load was running.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Keep the module top light: the load generator's workers are spawned and re-import this file.
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _p in (str(BENCH), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from loadgen import Request, Result, Scenario, run_load

HOST = "127.0.0.1"
HALL_TZ = "Asia/Shanghai"
N_WINDOWS = 32
CLERK_PASSWORD = "Bench-Clerk-2026!x"
MB = 1024 * 1024
CONTENDED = 0.5  # cores used by processes outside the bench during a run: its figures are then pessimistic
MIN_SAMPLES = 100  # fewer completed requests than this make a latency ratio meaningless
CLK_TCK = os.sysconf("SC_CLK_TCK")
PY_SPY_DIR: Path | None = None  # --py-spy: record every server run's stacks there (raw collapsed format)

TARGETS: dict[str, Any] = {
    "sqlite": {"issue_tps": 2500, "issue_p99": 15.0},
    "postgres": {"issue_tps": 2000, "issue_p99": 40.0},
    "call_tps": 1000, "call_p99": 20.0, "growth_ratio": 1.25, "rss_mb": 150,
}

PROFILES: dict[str, dict[str, Any]] = {
    # issue: clients -> (request budget, max seconds); calls: call-next budget; past: growth rows
    "full": {"issue": {1: (1500, 5), 16: (15000, 7), 64: (15000, 7)}, "calls": (8000, 7),
             "prefill_max_s": 12, "grown_max_s": 12, "past": 1_000_000, "warmup": 256},
    "quick": {"issue": {1: (200, 2), 16: (1500, 3), 64: (1500, 3)}, "calls": (800, 3),
              "prefill_max_s": 5, "grown_max_s": 8, "past": 50_000, "warmup": 128},
}

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def http_json(port: int, method: str, path: str, token: str | None = None, body: Any = None,
              timeout: float = 30.0) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    finally:
        conn.close()


# ------------------------------------------------------------------ /proc helpers

def _stat_fields(pid: int) -> list[str] | None:
    try:
        s = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()  # state ppid pgrp session tty tpgid flags minflt ... utime(11) stime(12)


def group_pids(pgid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = _stat_fields(int(d))
            if f and int(f[2]) == pgid and f[0] not in ("Z", "X"):
                out.append(int(d))
    return out


def children_pids(ppid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = _stat_fields(int(d))
            if f and int(f[1]) == ppid and f[0] not in ("Z", "X"):
                out.append(int(d))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        f = _stat_fields(pid)
        if f:
            total += int(f[11]) + int(f[12])
    return total / CLK_TCK


def system_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs from /proc/stat (busy excludes idle and iowait)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(v[:8])
    return total - v[3] - v[4], total


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssMonitor(threading.Thread):
    """Samples the summed VmRSS of a process group every 0.2 s; remembers each pid's VmHWM."""

    def __init__(self, pgid: int) -> None:
        super().__init__(daemon=True)
        self.pgid = pgid
        self.peak_sum_kb = 0
        self.peak_load_kb = 0  # highest summed VmRSS while `measuring` (load running)
        self.measuring = False
        self.hwm_kb: dict[int, int] = {}
        self.nproc = 0
        self._halt = threading.Event()

    def sample(self) -> None:
        pids = group_pids(self.pgid)
        total = 0
        for pid in pids:
            total += status_kb(pid, "VmRSS")
            hwm = status_kb(pid, "VmHWM")
            if hwm:
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), hwm)
        self.nproc = max(self.nproc, len(pids))
        self.peak_sum_kb = max(self.peak_sum_kb, total)
        if self.measuring:
            self.peak_load_kb = max(self.peak_load_kb, total)

    def run(self) -> None:
        while not self._halt.wait(0.2):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._halt.set()
        self.join(timeout=2)

    @property
    def hwm_sum_mb(self) -> float:
        return sum(self.hwm_kb.values()) / 1024

    @property
    def peak_sum_mb(self) -> float:
        return self.peak_sum_kb / 1024


# ------------------------------------------------------------------ the server process

class Server:
    def __init__(self, config: Path, env: dict[str, str], port: int, workers: int, log_file: Path,
                 prefix: list[str] | None = None) -> None:
        self.config, self.env, self.port, self.workers, self.log_file = config, env, port, workers, log_file
        self.prefix = prefix or []  # a command the server runs under (bench/instructions.py: valgrind)
        self.proc: subprocess.Popen[bytes] | None = None
        self.monitor: RssMonitor | None = None
        self.start_s = 0.0
        self.stop_s = 0.0
        self.killed = False
        self.spy: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        cmd = [*self.prefix, sys.executable, "-m", "kiosk_server", "serve", "--config", str(self.config),
               "--workers", str(self.workers)]
        env = {**os.environ, **self.env, **CODE.env(), "PYTHONUNBUFFERED": "1"}
        env.pop("HALL_CONFIG_FILE", None)
        t0 = time.monotonic()
        with open(self.log_file, "ab") as lf:
            lf.write(f"\n===== {' '.join(cmd)}\n".encode())
            lf.flush()
            self.proc = subprocess.Popen(cmd, cwd=CODE.dir, env=env, stdin=subprocess.DEVNULL, stdout=lf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.monitor = RssMonitor(self.proc.pid)
        self.monitor.start()
        deadline = t0 + timeout
        last = "no answer"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                code, body = http_json(self.port, "GET", "/healthz", timeout=2)
                if code == 200 and body and body.get("status") == "ok":
                    break
                last = f"{code} {body}"
            except OSError as e:
                last = repr(e)
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not healthy after {timeout:.0f}s ({last}):\n{self.log_tail()}")
            time.sleep(0.1)
        if self.workers > 1:  # every worker answers before we measure
            end = time.monotonic() + 30
            while len(group_pids(self.proc.pid)) < self.workers + 1 and time.monotonic() < end:
                time.sleep(0.1)
            time.sleep(1.0)
        self.start_s = time.monotonic() - t0
        if PY_SPY_DIR is not None:  # from here on: the runs, not the start-up
            out = PY_SPY_DIR / f"{self.log_file.stem}.txt"
            self.spy = subprocess.Popen(["py-spy", "record", "-r", "200", "-f", "raw", "-s", "--nonblocking", "-o", str(out),
                                         "-p", str(self.proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pids(self) -> list[int]:
        return group_pids(self.proc.pid) if self.proc else []

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def errors(self) -> dict[str, int]:
        """Error/critical lines of the server log, by message and exception (last line)."""
        out: dict[str, int] = {}
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return out
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("level") not in ("error", "critical"):
                continue
            exc = (rec.get("exc") or "").strip().splitlines()
            last = next((x for x in reversed(exc) if x and not x.startswith("(Background")), "")
            first_exc = next((x for x in exc if x.startswith(("sqlalchemy.", "psycopg.", "sqlite3."))), last)
            msg = str(rec.get("msg", "")).split(" on ")[0].strip()
            key = f"{msg}: {first_exc[:160]}" if first_exc else msg
            out[key] = out.get(key, 0) + 1
        return out

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.monitor is not None:
                self.monitor.stop()
            if self.spy is not None:
                self.spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                self.spy.wait(timeout=30)
        finally:
            self._terminate()

    def _terminate(self, grace: float = 7.0) -> None:
        """SIGTERM the group; SIGKILL whatever is left after `grace` s (uvicorn's own graceful
        shutdown timeout is 5 s)."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.killed = False
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        end = t0 + grace
        while group_pids(self.proc.pid) and time.monotonic() < end:
            time.sleep(0.05)
        if group_pids(self.proc.pid):
            self.killed = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            end = time.monotonic() + 10
            while group_pids(self.proc.pid) and time.monotonic() < end:
                time.sleep(0.05)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.stop_s = time.monotonic() - t0
        self.proc = None


# ------------------------------------------------------------------ configuration and hall

def make_hall_toml() -> str:
    hall = subprocess.run([sys.executable, str(BENCH / "make_hall.py")], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    lines = []
    for line in hall.splitlines():
        if line.startswith("opening_hours = ") and not line.startswith("  "):
            lines += ['opening_hours = [["00:00", "24:00"]]', "open_weekdays = [1, 2, 3, 4, 5, 6, 7]"]
        elif line.strip() == "daily_quota = 999":
            lines.append("daily_quota = 9999")
        else:
            lines.append(line)
    text = "\n".join(lines)
    assert text.count("open_weekdays") == 1 and "daily_quota = 999\n" not in text, "make_hall.py output changed"
    return text + '\n[[devices]]\ncode = "K1"\nname = "bench kiosk"\nrole = "kiosk"\ntoken_env = "HALL_TOKEN_K1"\n'


def write_config(path: Path, hall_toml: str, database_url: str, port: int, workers: int) -> None:
    server = (f'[server]\nbind = "{HOST}"\nport = {port}\nworkers = {workers}\ndatabase_url = "{database_url}"\n'
              f'log_level = "info"\nsqlite_synchronous = "full"\nsweep_interval_s = 30\n\n'
              '[security]\nsecret_key_env = "HALL_SECRET_KEY"\ndata_key_env = "HALL_DATA_KEY"\n'
              'session_idle_minutes = 30\nsession_absolute_hours = 12\nlockout_failures = 5\n'
              'lockout_minutes = 5\npassword_min_length = 10\n\n')
    path.write_text(server + hall_toml, encoding="utf-8")


class Hall:
    """What the bench needs to know about the generated hall layout."""

    def __init__(self, hall_toml: str) -> None:
        data = tomllib.loads(hall_toml)
        self.zones = [z["code"] for z in data["zones"]]
        self.prefix = {z["code"]: z["prefix"] for z in data["zones"]}
        self.windows = [(w["code"], w["name"], w["zones"]) for w in data["windows"]]
        self.bench_windows = [w[0] for w in self.windows[:N_WINDOWS]]
        self.home_count = {z: 0 for z in self.zones}
        for _code, _name, zs in self.windows[:N_WINDOWS]:
            self.home_count[zs[0]] += 1


# ------------------------------------------------------------------ database access for the bench

class BenchDB:
    """Direct database access for setup, clearing today's queue and the bulk insert."""

    def __init__(self, url: str, sqlite_path: Path | None) -> None:
        self.url = url
        self.sqlite_path = sqlite_path
        self.is_sqlite = sqlite_path is not None

    def pg_conninfo(self) -> str:
        return self.url.replace("postgresql+psycopg://", "postgresql://")

    def connect(self) -> Any:
        if self.sqlite_path is not None:
            c = sqlite3.connect(self.sqlite_path, timeout=60, isolation_level=None)
            c.execute("PRAGMA busy_timeout=60000")
            return c
        import psycopg
        return psycopg.connect(self.pg_conninfo())

    def _run(self, statements: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        out = []
        c = self.connect()
        try:
            if self.is_sqlite:
                c.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    cur = c.execute(sql, params)
                    out.append(cur.fetchall() if cur.description else cur.rowcount)
                c.execute("COMMIT")
            else:
                with c.cursor() as cur:
                    for sql, params in statements:
                        cur.execute(sql.replace("?", "%s"), params)
                        out.append(cur.fetchall() if cur.description else cur.rowcount)
                c.commit()
        finally:
            c.close()
        return out

    def clear_today(self, since: date) -> int:
        """Delete the bench's tickets (business_date >= since), their history and counters."""
        for attempt in range(5):
            try:
                return self._clear_today(since)
            except Exception as e:  # a straggling server transaction: deadlock / database locked
                if attempt == 4 or not any(w in str(e).lower() for w in ("deadlock", "locked", "could not serialize")):
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def _clear_today(self, since: date) -> int:
        d = since.isoformat() if self.is_sqlite else since
        n = self._run([
            ("DELETE FROM ticket_history WHERE ticket_id IN (SELECT id FROM tickets WHERE business_date >= ?)", (d,)),
            ("DELETE FROM tickets WHERE business_date >= ?", (d,)),
            ("DELETE FROM counters WHERE business_date >= ?", (d,)),
            ("UPDATE windows SET consecutive_priority = 0", ()),
        ])[1]
        if not self.is_sqlite:
            self.vacuum(["tickets", "ticket_history", "counters"])
        return n

    def vacuum(self, tables: list[str]) -> None:
        import psycopg
        with psycopg.connect(self.pg_conninfo(), autocommit=True) as c:
            c.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")

    def server_transactions(self) -> int:
        """PostgreSQL: the server's sessions running a statement or inside a transaction."""
        if self.is_sqlite:
            return 0
        sql = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
               "AND (state = 'active' OR state LIKE 'idle in transaction%%') AND query NOT ILIKE 'LISTEN%%'")
        return self._run([(sql, ())])[0][0][0]

    def waiting_by_zone(self, since: date) -> dict[str, int]:
        d = since.isoformat() if self.is_sqlite else since
        sql = ("SELECT z.code, count(t.id) FROM zones z LEFT JOIN tickets t ON t.queue_zone_id = z.id "
               "AND t.status = 'waiting' AND t.business_date >= ? GROUP BY z.code")
        rows = self._run([(sql, (d,))])[0]
        return {code: n for code, n in rows}

    def counts(self) -> dict[str, int]:
        rows = self._run([(f"SELECT count(*) FROM {t}", ()) for t in ("tickets", "ticket_history", "events")])
        return {t: r[0][0] for t, r in zip(("tickets", "ticket_history", "events"), rows)}


def setup_database(cfg: Path, env: dict[str, str], db: BenchDB) -> dict[str, int]:
    """migrate + import-config through the CLI, then 32 clerk accounts through create_user."""
    full_env = {**os.environ, **env, **CODE.env()}
    for cmd in ("migrate", "import-config"):
        done = subprocess.run([sys.executable, "-m", "kiosk_server", cmd, "--config", str(cfg)], cwd=CODE.dir,
                              env=full_env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kiosk_server {cmd} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    from unittest import mock

    from argon2 import PasswordHasher

    from kiosk_server.config import load_settings
    from kiosk_server.db.engine import Database, make_engine
    from kiosk_server.services.auth import create_user
    from kiosk_server.services.context import SYSTEM

    settings = load_settings(cfg, env=full_env)
    engine = make_engine(settings.server.database_url, base_dir=settings.base_dir)
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    users: dict[str, int] = {}
    try:
        with mock.patch("kiosk_server.services.auth.hash_password", cheap.hash), Database(engine).write() as conn:
            now = datetime.now(UTC)
            for i in range(1, N_WINDOWS + 1):
                u = create_user(conn, username=f"clerk{i:03d}", display_name=f"窗口人员{i:03d}",
                                password=CLERK_PASSWORD, roles=["clerk"], actor=SYSTEM, now=now,
                                security=settings.security)
                users[u["username"]] = u["id"]
    finally:
        engine.dispose()
    return users


def open_windows(port: int, hall: Hall) -> list[tuple[str, str]]:
    """Sign in each clerk over HTTP and open its window; returns [(window code, token)]."""
    out = []
    for i, code in enumerate(hall.bench_windows, start=1):
        st, body = http_json(port, "POST", "/api/v1/auth/login", body={"username": f"clerk{i:03d}",
                                                                         "password": CLERK_PASSWORD})
        if st != 200:
            raise RuntimeError(f"login clerk{i:03d}: {st} {body}")
        tok = body["token"]
        st, body = http_json(port, "POST", f"/api/v1/windows/{code}/open", token=tok)
        if st != 200:
            raise RuntimeError(f"open window {code}: {st} {body}")
        out.append((code, tok))
    return out


# ------------------------------------------------------------------ bulk insert of past tickets

TICKET_COLS = ("id", "hall_id", "zone_id", "queue_zone_id", "matter_id", "business_date", "seq", "number",
               "priority", "status", "rank", "queue_key", "window_id", "issued_at", "called_at", "started_at",
               "served_at", "closed_at", "call_count", "miss_count", "public_token", "issued_by")
HISTORY_COLS = ("id", "ticket_id", "at", "action", "from_status", "to_status", "window_id", "actor")
EVENT_COLS = ("seq", "hall_id", "type", "at", "zone", "payload")
PER_DAY = 2000  # tickets a day over the 6 zones
FK_CHECKS = [  # anti-joins over the new rows, standing in for the foreign-key triggers skipped during COPY
    ("unknown zone, queue zone, hall, matter or window",
     ("SELECT count(*) FROM tickets t WHERE t.id > %(t)s AND (t.zone_id NOT IN (SELECT id FROM zones)"
      " OR t.queue_zone_id NOT IN (SELECT id FROM zones) OR t.hall_id NOT IN (SELECT id FROM halls)"
      " OR t.matter_id NOT IN (SELECT id FROM matters) OR t.window_id NOT IN (SELECT id FROM windows))")),
    ("history of no ticket or window",
     ("SELECT count(*) FROM ticket_history x WHERE x.id > %(h)s AND (NOT EXISTS (SELECT 1 FROM tickets t"
      " WHERE t.id = x.ticket_id) OR x.window_id NOT IN (SELECT id FROM windows))")),
    ("event of no hall", "SELECT count(*) FROM events e WHERE e.seq > %(e)s AND e.hall_id NOT IN (SELECT id FROM halls)"),
]


def _layout_ids(db: BenchDB) -> dict[str, Any]:
    rows = db._run([("SELECT id FROM halls", ()), ("SELECT id, code, prefix FROM zones", ()),
                    ("SELECT id, zone_id FROM matters ORDER BY id", ()),
                    (("SELECT w.id, w.code, w.name, wz.zone_id FROM windows w JOIN window_zones wz "
                      "ON wz.window_id = w.id AND wz.position = 0 ORDER BY w.id"), ()),
                    ("SELECT coalesce(max(id), 0) FROM tickets", ()),
                    ("SELECT coalesce(max(id), 0) FROM ticket_history", ()),
                    ("SELECT coalesce(max(seq), 0) FROM events", ())])
    hall_id = rows[0][0][0]
    zones = sorted(rows[1], key=lambda r: r[1])
    matters: dict[int, list[int]] = {}
    for mid, zid in rows[2]:
        matters.setdefault(zid, []).append(mid)
    windows: dict[int, list[tuple[int, str, str]]] = {}
    for wid, code, name, zid in rows[3]:
        windows.setdefault(zid, []).append((wid, code, name))
    return {"hall_id": hall_id, "zones": zones, "matters": matters, "windows": windows,
            "max_ticket": rows[4][0][0], "max_hist": rows[5][0][0], "max_event": rows[6][0][0]}


def _times_of_day(base: datetime) -> list[tuple[str, ...]]:
    """For each ticket j of a day: UTC time-of-day strings of issued, called, started, served
    (all within the UTC day of `base`, the day's 09:00 local opening)."""
    step = 8 * 3600 / PER_DAY
    out = []
    for j in range(PER_DAY):
        issued = base + timedelta(seconds=j * step)
        ts = (issued, issued + timedelta(seconds=600), issued + timedelta(seconds=630), issued + timedelta(seconds=930))
        assert all(t.date() == base.date() for t in ts)
        out.append(tuple(t.strftime("%H:%M:%S.%f") for t in ts))
    return out


def past_rows(ids: dict[str, Any], n: int, newest: date, batch: int, pg: bool) -> Any:
    """Yield batches of (tickets, history, events, counters) rows for n served tickets of past
    days, newest first: PER_DAY a day spread over the zones, issued 09:00-17:00 local time.
    SQLite rows are tuples; PostgreSQL rows are lines of COPY text."""
    from zoneinfo import ZoneInfo
    tz = ZoneInfo(HALL_TZ)
    hall_id, zones = ids["hall_id"], ids["zones"]
    nz = len(zones)
    tid, hid, eid = ids["max_ticket"], ids["max_hist"], ids["max_event"]
    step = 8 * 3600 / PER_DAY
    tods_cache: dict[Any, list[tuple[str, ...]]] = {}
    suffix = "+00" if pg else ""
    per_zone = [(zid, zcode, prefix, ids["windows"][zid], ids["matters"][zid]) for zid, zcode, prefix in zones]
    tk: list[Any] = []
    hs: list[Any] = []
    ev: list[Any] = []
    counters: list[Any] = []
    for i in range(n):
        d_idx, j = divmod(i, PER_DAY)
        if j == 0:
            day = newest - timedelta(days=d_idx)
            base = datetime(day.year, day.month, day.day, 9, 0, tzinfo=tz).astimezone(UTC)
            key = (base.time(), base.date() - day)
            if key not in tods_cache:
                tods_cache[key] = _times_of_day(base)
            tods = tods_cache[key]
            day_s, utc_day = day.isoformat(), base.date().isoformat()
            left = min(PER_DAY, n - i)
            for zi, (zid, _c, _p, _w, _m) in enumerate(per_zone):
                v = left // nz + (1 if zi < left % nz else 0)
                counters.append(f"{zid}\t{day_s}\t{v}\n" if pg else (zid, day_s, v))
        zid, zcode, prefix, wins, ms = per_zone[j % nz]
        seq = j // nz + 1
        wid, wcode, wname = wins[seq % len(wins)]
        mid = ms[seq % len(ms)]
        t0, t1, t2, t3 = (f"{utc_day} {x}{suffix}" for x in tods[j])
        tid += 1
        hid += 1
        eid += 1
        number = f"{prefix}{seq:04d}"
        qk = 32400.0 + j * step + seq * 1e-7
        token = secrets.token_urlsafe(16)
        actor = f"clerk{wid % 999:03d}"
        payload = (f'{{"ticket": {{"id": {tid}, "number": "{number}", "zone": "{zcode}"}}, '
                   f'"window": {{"code": "{wcode}", "name": "{wname}"}}, "waiting": {{"{zcode}": 0}}}}')
        if pg:
            tk.append(f"{tid}\t{hall_id}\t{zid}\t{zid}\t{mid}\t{day_s}\t{seq}\t{number}\tnormal\tserved\t3\t{qk!r}"
                      f"\t{wid}\t{t0}\t{t1}\t{t2}\t{t3}\t{t3}\t1\t0\t{token}\tdevice:K1\n")
            hs.append(f"{hid}\t{tid}\t{t3}\tfinish\tserving\tserved\t{wid}\t{actor}\n")
            ev.append(f"{eid}\t{hall_id}\tticket.served\t{t3}\t{zcode}\t{payload}\n")
        else:
            tk.append((tid, hall_id, zid, zid, mid, day_s, seq, number, "normal", "served", 3, qk, wid, t0, t1, t2,
                       t3, t3, 1, 0, token, "device:K1"))
            hs.append((hid, tid, t3, "finish", "serving", "served", wid, actor))
            ev.append((eid, hall_id, "ticket.served", t3, zcode, payload))
        if len(tk) >= batch:
            yield tk, hs, ev, counters
            tk, hs, ev, counters = [], [], [], []
    if tk or counters:
        yield tk, hs, ev, counters


BULK_TABLES = ("tickets", "ticket_history", "events")


def insert_past(db: BenchDB, n: int, newest: date) -> dict[str, Any]:
    """Bulk-insert n served past tickets with one history row and one event each. The plain
    (non-constraint) indexes of the three tables are dropped first and rebuilt from their saved
    definitions afterwards; primary keys and unique constraints are maintained row by row."""
    t0 = time.monotonic()
    ids = _layout_ids(db)
    spent: dict[str, float] = {}
    if db.is_sqlite:
        c = db.connect()
        try:
            c.execute("PRAGMA synchronous=OFF")
            c.execute("PRAGMA cache_size=-400000")
            c.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(BULK_TABLES))
            indexes = c.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                f"AND tbl_name IN ({marks})", BULK_TABLES).fetchall()
            for name, _sql in indexes:
                c.execute(f'DROP INDEX "{name}"')
            tg = time.monotonic()
            for tk, hs, ev, counters in past_rows(ids, n, newest, 50_000, pg=False):
                ti = time.monotonic()
                spent["generate"] = spent.get("generate", 0.0) + ti - tg
                c.executemany(f"INSERT INTO tickets ({','.join(TICKET_COLS)}) VALUES "
                              f"({','.join('?' * len(TICKET_COLS))})", tk)
                c.executemany(f"INSERT INTO ticket_history ({','.join(HISTORY_COLS)}) VALUES "
                              f"({','.join('?' * len(HISTORY_COLS))})", hs)
                c.executemany(f"INSERT INTO events ({','.join(EVENT_COLS)}) VALUES "
                              f"({','.join('?' * len(EVENT_COLS))})", ev)
                c.executemany("INSERT INTO counters (zone_id, business_date, value) VALUES (?,?,?)", counters)
                tg = time.monotonic()
                spent["insert"] = spent.get("insert", 0.0) + tg - ti
            ti = time.monotonic()
            for _name, sql in indexes:
                c.execute(sql)
            spent["reindex"] = time.monotonic() - ti
            c.execute("COMMIT")
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            ti = time.monotonic()
            bad = [r for t in BULK_TABLES for r in c.execute(f"PRAGMA foreign_key_check({t})").fetchall()]
            spent["fk_check"] = time.monotonic() - ti
            if bad:
                raise RuntimeError(f"bulk insert broke {len(bad)} foreign keys, e.g. {bad[:3]}")
        finally:
            c.close()
        how = (f"sqlite3 executemany in one transaction, {len(indexes)} plain indexes rebuilt after;"
               " foreign keys checked; no ANALYZE (the server never runs it)")
    else:
        import psycopg

        with psycopg.connect(db.pg_conninfo()) as c:
            c.execute("SET synchronous_commit = off")
            c.execute("SET maintenance_work_mem = '256MB'")
            # Bulk load without the per-row foreign-key triggers (rows are valid by construction;
            # checked below with anti-joins), as pg_restore --disable-triggers does.
            c.execute("SET session_replication_role = replica")
            with c.cursor() as cur:
                indexes = cur.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s) "
                    "AND indexname NOT IN (SELECT conname FROM pg_constraint)", (list(BULK_TABLES),)).fetchall()
                for name, _sql in indexes:
                    cur.execute(f'DROP INDEX "{name}"')
                tg = time.monotonic()
                for tk, hs, ev, counters in past_rows(ids, n, newest, 50_000, pg=True):
                    spent["generate"] = spent.get("generate", 0.0) + time.monotonic() - tg
                    for table, cols, rows in (("tickets", TICKET_COLS, tk), ("ticket_history", HISTORY_COLS, hs),
                                              ("events", EVENT_COLS, ev),
                                              ("counters", ("zone_id", "business_date", "value"), counters)):
                        if not rows:
                            continue
                        tc = time.monotonic()
                        with cur.copy(f"COPY {table} ({','.join(cols)}) FROM STDIN") as cp:
                            cp.write("".join(rows))
                        spent[table] = spent.get(table, 0.0) + time.monotonic() - tc
                    tg = time.monotonic()
                ti = time.monotonic()
                for _name, sql in indexes:
                    cur.execute(sql)
                spent["reindex"] = time.monotonic() - ti
                for table, col in (("tickets", "id"), ("ticket_history", "id"), ("events", "seq")):
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{col}'), "
                                f"(SELECT max({col}) FROM {table}))")
                c.execute("SET session_replication_role = origin")
                ti = time.monotonic()
                for what, q in FK_CHECKS:
                    row = cur.execute(q, {"t": ids["max_ticket"], "h": ids["max_hist"], "e": ids["max_event"]}).fetchone()
                    if row and row[0]:
                        raise RuntimeError(f"bulk insert broke a foreign key: {row[0]} rows with {what}")
                spent["fk_check"] = time.monotonic() - ti
            c.commit()
        ti = time.monotonic()
        db.vacuum(list(BULK_TABLES) + ["counters"])
        spent["vacuum"] = time.monotonic() - ti
        how = (f"psycopg COPY in one transaction, FK triggers off and checked after, {len(indexes)} plain indexes"
               " rebuilt after; VACUUM (ANALYZE) as autovacuum would")
    log("  " + ", ".join(f"{k} {v:.1f}s" for k, v in spent.items()))
    took = time.monotonic() - t0
    return {"rows": n, "seconds": round(took, 1), "how": how, "counts": db.counts(),
            "phases_s": {k: round(v, 1) for k, v in spent.items()}}


# ------------------------------------------------------------------ measurements

def issue_scenario(hall: Hall, kiosk_token: str) -> Scenario:
    auth = {"Authorization": f"Bearer {kiosk_token}"}
    reqs = [Request("POST", "/api/v1/tickets", auth, json={"zone": z}) for z in hall.zones]
    n = len(reqs)
    return Scenario.cycles([reqs[k:] + reqs[:k] for k in range(n)])  # client i starts at zone i % 6


def call_scenario(windows: list[tuple[str, str]]) -> Scenario:
    return Scenario.per_client([Request("POST", f"/api/v1/windows/{code}/call-next?finish_current=true",
                                        {"Authorization": f"Bearer {tok}"}) for code, tok in windows])


class Measurer:
    def __init__(self, server: Server, db: BenchDB, hall: Hall, kiosk_token: str, windows: list[tuple[str, str]],
                 since: date, pg_pid: int | None) -> None:
        self.server, self.db, self.hall = server, db, hall
        self.issue = issue_scenario(hall, kiosk_token)
        self.calls = call_scenario(windows)
        self.since = since
        self.pg_pid = pg_pid

    def _pg_pids(self) -> list[int]:
        return [self.pg_pid, *children_pids(self.pg_pid)] if self.pg_pid else []

    def load(self, scenario: Scenario, clients: int, n: int, max_s: float) -> dict[str, Any]:
        spids, ppids = self.server.pids(), self._pg_pids()
        s0, p0, (b0, t0), w0 = cpu_seconds(spids), cpu_seconds(ppids), system_cpu(), time.monotonic()
        mon = self.server.monitor
        if mon is not None:
            mon.measuring = True
        try:
            r: Result = run_load(HOST, self.server.port, scenario, clients, processes=1 if clients == 1 else 2,
                                 total_requests=n, max_seconds=max_s)
        finally:
            if mon is not None:
                mon.sample()
                mon.measuring = False
        s1, p1, (b1, t1), w1 = cpu_seconds(self.server.pids()), cpu_seconds(self._pg_pids()), system_cpu(), time.monotonic()
        d = r.to_dict()
        dur = r.duration_s or 1e-9
        d["server_cpu_s"] = round(s1 - s0, 2)
        d["server_cores"] = round((s1 - s0) / dur, 2)
        d["pg_cpu_s"] = round(p1 - p0, 2) if ppids else None
        d["pg_cores"] = round((p1 - p0) / dur, 2) if ppids else None
        d["generator_cpu_s"] = round(r.cpu_user_s + r.cpu_sys_s, 2)
        # Everything else on the machine over the same wall time (other users' work included).
        busy_cores = (b1 - b0) / max(1, t1 - t0) * (os.cpu_count() or 1)
        ours = ((s1 - s0) + (p1 - p0) + r.cpu_user_s + r.cpu_sys_s) / (w1 - w0)
        d["machine_busy_cores"] = round(busy_cores, 2)
        d["other_cores"] = round(max(0.0, busy_cores - ours), 2)
        d["five_xx"] = sum(v for k, v in r.statuses.items() if k >= 500)
        d["settle_s"] = round(self.quiesce(), 1)
        return d

    def quiesce(self, timeout: float = 30.0) -> float:
        """Wait until the server has finished requests the load generator gave up on (cancelled
        at its time limit): no new event for 0.5 s and, on PostgreSQL, no server transaction
        open. Returns the seconds waited."""
        t0 = time.monotonic()
        last, since = None, t0
        while time.monotonic() - t0 < timeout:
            try:
                _st, body = http_json(self.server.port, "GET", "/healthz", timeout=timeout)
                seq = body.get("seq") if isinstance(body, dict) else None
            except OSError:
                seq = None
            busy = self.db.server_transactions()
            now = time.monotonic()
            if seq is None or seq != last or busy:
                last, since = seq, now
            elif now - since >= 0.5:
                break
            time.sleep(0.1)
        return time.monotonic() - t0

    def warmup(self, n: int) -> float:
        """Warm the server (caches, pools, sessions); returns the call-next rate it saw."""
        self.db.clear_today(self.since)
        self.load(self.issue, 16, n, 6)
        r = self.load(self.calls, N_WINDOWS, n // 4, 6)
        self.db.clear_today(self.since)
        return float(r["throughput"])

    def issue_run(self, clients: int, n: int, max_s: float) -> dict[str, Any]:
        self.db.clear_today(self.since)
        d = self.load(self.issue, clients, n, max_s)
        d["queue_depth_end"] = d["statuses"].get(201, 0)
        return d

    def call_run(self, calls: int, max_s: float, prefill: int | None, prefill_max_s: float) -> dict[str, Any]:
        """Prefill the queue (untimed), then 32 windows call-next racing. Without `prefill`, it is
        sized so each zone holds 1.3x the calls its home windows can make."""
        self.db.clear_today(self.since)
        share = max(self.hall.home_count.values()) / N_WINDOWS
        if prefill is None:
            prefill = len(self.hall.zones) * (math.ceil(calls * share * 1.3) + 40)
        pre = self.load(self.issue, 16, prefill, prefill_max_s)
        waiting = self.db.waiting_by_zone(self.since)
        # never let a zone run dry: each home window takes ~1/32 of the calls
        cap = min(math.floor(waiting[z] * N_WINDOWS / max(1, self.hall.home_count[z]) / 1.15)
                  for z in self.hall.zones if self.hall.home_count[z])
        budget = min(calls, cap)
        d = self.load(self.calls, N_WINDOWS, budget, max_s)
        d["prefill"] = {"requested": prefill, "issued": pre["statuses"].get(201, 0), "waiting_by_zone": waiting,
                        "seconds": round(pre["duration_s"], 1),
                        "five_xx": pre["five_xx"], "errors": pre["errors"], "throughput": round(pre["throughput"])}
        d["call_budget"] = budget
        d["empty_204"] = d["statuses"].get(204, 0)
        d["waiting_after"] = self.db.waiting_by_zone(self.since)
        return d


def run_phase_empty(m: Measurer, prof: dict[str, Any]) -> dict[str, Any]:
    warm_rate = m.warmup(prof["warmup"])
    out: dict[str, Any] = {}
    for clients, (n, max_s) in prof["issue"].items():
        out[f"issue_{clients}"] = r = m.issue_run(clients, n, max_s)
        log(f"  issue {clients:>2} clients: {r['throughput']:7.0f}/s p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} ms")
    n, max_s = prof["calls"]
    # Prefill for what the server can call in max_s (rate seen at warm-up, with room), not more.
    n = min(n, max(400, math.ceil(warm_rate * max_s * 2)))
    out["call_32"] = r = m.call_run(n, max_s, None, prof["prefill_max_s"])
    log(f"  call-next 32 windows: {r['throughput']:7.0f}/s p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} ms")
    return out


def run_phase_grown(m: Measurer, prof: dict[str, Any], empty: dict[str, Any]) -> dict[str, Any]:
    """Same request counts as the empty runs (so the same queue depths), with generous time."""
    m.warmup(prof["warmup"])
    e16 = empty["issue_16"]
    n16 = e16["completed"]
    cap = prof["grown_max_s"]
    out: dict[str, Any] = {"issue_16": m.issue_run(16, n16, min(cap, 1.5 * e16["duration_s"] + 3))}
    r = out["issue_16"]
    log(f"  issue 16 clients: {r['throughput']:7.0f}/s p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} ms")
    ec = empty["call_32"]
    out["call_32"] = r = m.call_run(ec["completed"], min(cap, 1.5 * ec["duration_s"] + 3),
                                    ec["prefill"]["issued"], min(cap, 1.5 * ec["prefill"]["seconds"] + 3))
    log(f"  call-next 32 windows: {r['throughput']:7.0f}/s p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} ms")
    return out


# ------------------------------------------------------------------ configurations

class Env:
    def __init__(self, tmp: Path, prof: dict[str, Any]) -> None:
        self.tmp = tmp
        self.prof = prof
        self.secrets = {"HALL_SECRET_KEY": secrets.token_urlsafe(48), "HALL_DATA_KEY": secrets.token_hex(32),
                        "HALL_TOKEN_K1": secrets.token_urlsafe(32)}
        self.hall_toml = make_hall_toml()
        self.hall = Hall(self.hall_toml)
        from zoneinfo import ZoneInfo
        self.since = datetime.now(ZoneInfo(HALL_TZ)).date()  # everything the bench issues is >= this day
        self.newest_past = self.since - timedelta(days=2)


def new_config(result: dict[str, Any], name: str, db: str, workers: int) -> dict[str, Any]:
    result[name] = {"db": db, "workers": workers,
                    "rss": {"hwm_sum_mb": 0.0, "peak_sampled_mb": 0.0, "load_sampled_mb": 0.0, "processes": 0},
                    "server_start_s": []}
    return result[name]


def record_rss(cfg: dict[str, Any], server: Server) -> None:
    mon = server.monitor
    assert mon is not None
    rss = cfg["rss"]
    if mon.hwm_sum_mb >= rss["hwm_sum_mb"]:
        rss["per_process_mb"] = sorted((round(v / 1024, 1) for v in mon.hwm_kb.values()), reverse=True)
    rss["hwm_sum_mb"] = round(max(rss["hwm_sum_mb"], mon.hwm_sum_mb), 1)
    rss["peak_sampled_mb"] = round(max(rss["peak_sampled_mb"], mon.peak_sum_mb), 1)
    rss["load_sampled_mb"] = round(max(rss["load_sampled_mb"], mon.peak_load_kb / 1024), 1)
    rss["processes"] = max(rss["processes"], mon.nproc)
    cfg["server_start_s"].append(round(server.start_s, 1))


def run_sqlite(env: Env, results: dict[str, Any]) -> None:
    name = "sqlite-1w"
    cfg = new_config(results, name, "sqlite", 1)
    d = env.tmp / "sqlite"
    d.mkdir()
    dbfile = d / "hall.db"
    port = free_port()
    cfg_path = d / "hall.toml"
    write_config(cfg_path, env.hall_toml, f"sqlite:///{dbfile}", port, 1)
    db = BenchDB(f"sqlite:///{dbfile}", dbfile)
    log(f"{name}: migrate, import hall, create {N_WINDOWS} clerks")
    setup_database(cfg_path, env.secrets, db)
    _run_config(env, cfg_path, db, port, [(1, cfg)], pg_pid=None)


def run_postgres(env: Env, results: dict[str, Any], workers: list[int]) -> None:
    from tests.support.postgres import PostgresServer
    log("postgres: starting a throwaway PostgreSQL server")
    pg = PostgresServer(max_connections=200).start()
    try:
        url = pg.create_database("hallbench")
        pg_pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        d = env.tmp / "postgres"
        d.mkdir()
        port = free_port()
        cfg_path = d / "hall.toml"
        write_config(cfg_path, env.hall_toml, url, port, max(workers))
        db = BenchDB(url, None)
        log(f"postgres: migrate, import hall, create {N_WINDOWS} clerks")
        setup_database(cfg_path, env.secrets, db)
        cfgs = [(w, new_config(results, f"postgres-{w}w", "postgres", w)) for w in workers]
        _run_config(env, cfg_path, db, port, cfgs, pg_pid=pg_pid)
    finally:
        pg.stop()


def _run_config(env: Env, cfg_path: Path, db: BenchDB, port: int,
                cfgs: list[tuple[int, dict[str, Any]]], pg_pid: int | None) -> None:
    """Empty phase for each worker count, one bulk insert, grown phase for each worker count
    (the PostgreSQL configurations share one database and one insert)."""
    windows: list[tuple[str, str]] | None = None
    for phase in ("empty", "grown"):
        if phase == "grown":
            n = env.prof["past"]
            log(f"{cfgs[0][1]['db']}: inserting {n:,} past tickets (+history, +events), server stopped")
            ins = insert_past(db, n, env.newest_past)
            log(f"  inserted in {ins['seconds']}s: {ins['counts']}")
            for _w, cfg in cfgs:
                cfg["growth_insert"] = ins
        for workers, cfg in cfgs:
            log_file = cfg_path.with_name(f"server-{workers}w-{phase}.log")
            server = Server(cfg_path, env.secrets, port, workers, log_file)
            log(f"{cfg['db']} {workers} worker(s), {phase} database: starting server")
            try:
                server.start()
                log(f"  healthy after {server.start_s:.1f}s")
                if windows is None:
                    windows = open_windows(port, env.hall)
                m = Measurer(server, db, env.hall, env.secrets["HALL_TOKEN_K1"], windows, env.since, pg_pid)
                if phase == "empty":
                    cfg["empty"] = run_phase_empty(m, env.prof)
                else:
                    cfg["grown"] = run_phase_grown(m, env.prof, cfg["empty"])
                if server.proc is not None and server.proc.poll() is not None:
                    raise RuntimeError(f"server died during the run:\n{server.log_tail()}")
            finally:
                server.stop()
                log(f"  server stopped in {server.stop_s:.1f}s" + (" (SIGKILL: SIGTERM did not end it)" if server.killed else ""))
                cfg.setdefault("server_stops", []).append({"phase": phase, "seconds": round(server.stop_s, 1),
                                                          "sigkill_needed": server.killed})
                if server.monitor is not None:
                    record_rss(cfg, server)
                errs = server.errors()
                if errs:
                    cfg.setdefault("server_errors", {})[phase] = errs
        db.clear_today(env.since)


# ------------------------------------------------------------------ report

def _fmt_statuses(st: dict[Any, int]) -> str:
    parts = []
    for k, v in sorted(st.items(), key=lambda kv: int(kv[0])):
        mark = "!!" if int(k) >= 500 else ""
        parts.append(f"{mark}{k}:{v}{mark}")
    return " ".join(parts) or "-"


def _row(label: str, r: dict[str, Any]) -> str:
    err = f" errors={r['errors']}" if r["errors"] else ""
    unf = f" unfinished={r['unfinished']}" if r.get("unfinished") else ""
    pg = f"/{r['pg_cores']:.2f}" if r.get("pg_cores") is not None else "/-  "
    return (f"  {label:<22} {r['throughput']:8.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['max_ms']:8.1f}"
            f"  {r['completed']:>6} in {r['duration_s']:5.1f}s ({r['stopped_by']})"
            f"  {r['server_cores']:.2f}{pg} other={r['other_cores']:.2f}{'!' if r['other_cores'] > CONTENDED else ' '}"
            f"  gen {r['generator_cpu_fraction']:.2f}/{r['generator_cpu_s']:.1f}s"
            f"  [{_fmt_statuses(r['statuses'])}]{err}{unf}")


def report_config(name: str, cfg: dict[str, Any], prof_name: str) -> list[str]:
    out = [f"=== {name}: {cfg['db']}, {cfg['workers']} worker(s)"
           + (" (sqlite_synchronous=full, WAL)" if cfg["db"] == "sqlite" else "") + " ==="]
    hdr = (f"  {'run':<22} {'req/s':>8} {'p50ms':>7} {'p99ms':>7} {'max ms':>8}  {'done':>6}"
           "                  cores: server/pg other   generator_cpu_fraction/cpu-s  [statuses]")
    e = cfg.get("empty")
    if e:
        out.append("  -- empty database (every run starts with an empty queue for today)")
        out.append(hdr)
        for k in ("issue_1", "issue_16", "issue_64"):
            if k in e:
                out.append(_row(f"issue {k.split('_')[1]:>2} clients", e[k]))
        c = e["call_32"]
        out.append(_row("call-next 32 windows", c))
        out.append(f"     prefill {c['prefill']['issued']} tickets (waiting by zone {c['prefill']['waiting_by_zone']}),"
                   f" call budget {c['call_budget']}, 204 'nobody waits' answers: {c['empty_204']}"
                   f" (still waiting after the run: {sum(c['waiting_after'].values())},"
                   f" least in a zone {min(c['waiting_after'].values())})")
    g = cfg.get("grown")
    if g and e:
        ins = cfg["growth_insert"]
        out.append(f"  -- after {ins['rows']:,} past tickets inserted in {ins['seconds']}s ({ins['how']});"
                   f" rows now {ins['counts']}")
        out.append(hdr)
        for k, label in (("issue_16", "issue 16 clients"), ("call_32", "call-next 32 windows")):
            r = g[k]
            out.append(_row(label, r))
            tput = r["throughput"] / e[k]["throughput"] if e[k]["throughput"] else math.inf
            if min(r["completed"], e[k]["completed"]) < MIN_SAMPLES:
                out.append(f"     ratio to empty: n/a, only {r['completed']} (grown) / {e[k]['completed']} (empty) requests"
                           f" completed; throughput {tput:.2f}x, i.e. a closed-loop latency of about"
                           f" {r['clients'] / max(r['throughput'], 1e-9) * 1000:,.0f} ms per request (clients / rate)")
            else:
                out.append(f"     ratio to empty: p50 {r['p50_ms'] / e[k]['p50_ms']:.2f}x  p99 {r['p99_ms'] / e[k]['p99_ms']:.2f}x"
                           f"  max {r['max_ms'] / e[k]['max_ms']:.2f}x  throughput {tput:.2f}x")
    rss = cfg["rss"]
    out.append(f"  server RSS: peak {rss['hwm_sum_mb']:.1f} MB = sum of VmHWM over {rss['processes']} process(es) of the"
               f" uvicorn group {rss.get('per_process_mb', [])}; under load (highest sampled sum of VmRSS)"
               f" {rss['load_sampled_mb']:.1f} MB; server start {cfg['server_start_s']} s")
    for phase, errs in (cfg.get("server_errors") or {}).items():
        out.append(f"  !! server log errors ({phase} database):")
        out += [f"     {n:>5} x {k}" for k, n in sorted(errs.items(), key=lambda kv: -kv[1])]
    return out


def summary(results: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    names = list(results)

    def add(target: str, per: dict[str, tuple[str, bool] | None]) -> None:
        rows.append({"target": target, **{n: per.get(n) for n in names}})

    t = TARGETS
    per_tps: dict[str, Any] = {}
    per_p99: dict[str, Any] = {}
    per_ctps: dict[str, Any] = {}
    per_cp99: dict[str, Any] = {}
    growth: dict[str, dict[str, Any]] = {k: {} for k in ("ip50", "ip99", "cp50", "cp99")}
    per_rss: dict[str, Any] = {}
    per_rss_load: dict[str, Any] = {}
    per_err: dict[str, Any] = {}
    for n, cfg in results.items():
        e, g = cfg.get("empty"), cfg.get("grown")
        tt = t[cfg["db"]]
        if e:
            i16, c = e["issue_16"], e["call_32"]
            per_tps[n] = (f"{i16['throughput']:.0f}/s", i16["throughput"] >= tt["issue_tps"])
            per_p99[n] = (f"{i16['p99_ms']:.1f} ms", i16["p99_ms"] <= tt["issue_p99"])
            per_ctps[n] = (f"{c['throughput']:.0f}/s", c["throughput"] >= t["call_tps"])
            per_cp99[n] = (f"{c['p99_ms']:.1f} ms", c["p99_ms"] <= t["call_p99"])
        if e and g:
            for key, run, q in (("ip50", "issue_16", "p50_ms"), ("ip99", "issue_16", "p99_ms"),
                                ("cp50", "call_32", "p50_ms"), ("cp99", "call_32", "p99_ms")):
                few = min(g[run]["completed"], e[run]["completed"])
                if few < MIN_SAMPLES:
                    rate = g[run]["throughput"] / e[run]["throughput"] if e[run]["throughput"] else 0.0
                    growth[key][n] = (f"n/a {few} done {rate:.2f}x/s", False)
                    continue
                ratio = g[run][q] / e[run][q] if e[run][q] else math.inf
                growth[key][n] = (f"{ratio:.2f}x", ratio <= t["growth_ratio"])
        per_rss[n] = (f"{cfg['rss']['hwm_sum_mb']:.0f} MB", 0 < cfg["rss"]["hwm_sum_mb"] <= t["rss_mb"])
        per_rss_load[n] = (f"{cfg['rss']['load_sampled_mb']:.0f} MB", 0 < cfg["rss"]["load_sampled_mb"] <= t["rss_mb"])
        runs = [r for ph in ("empty", "grown") for r in (cfg.get(ph) or {}).values()]
        bad = sum(r["five_xx"] + r["errors"] + r["prefill"]["five_xx"] + r["prefill"]["errors"]
                  if "prefill" in r else r["five_xx"] + r["errors"] for r in runs)
        dry = sum(r.get("empty_204", 0) for r in runs)
        per_err[n] = (f"{bad} 5xx/err, {dry} 204", bad == 0 and dry == 0)
    add(f"issue 16 clients >= {t['sqlite']['issue_tps']}/s sqlite, {t['postgres']['issue_tps']}/s pg", per_tps)
    add(f"issue 16 clients p99 <= {t['sqlite']['issue_p99']:.0f} ms sqlite, {t['postgres']['issue_p99']:.0f} ms pg",
        per_p99)
    add(f"call-next 32 windows >= {t['call_tps']}/s", per_ctps)
    add(f"call-next 32 windows p99 <= {t['call_p99']:.0f} ms", per_cp99)
    add(f"growth: issue p50 <= {t['growth_ratio']}x empty", growth["ip50"])
    add(f"growth: issue p99 <= {t['growth_ratio']}x empty", growth["ip99"])
    add(f"growth: call-next p50 <= {t['growth_ratio']}x empty", growth["cp50"])
    add(f"growth: call-next p99 <= {t['growth_ratio']}x empty", growth["cp99"])
    add(f"server RSS <= {t['rss_mb']} MB: sum of VmHWM", per_rss)
    add(f"server RSS <= {t['rss_mb']} MB: sampled under load", per_rss_load)
    add("no 5xx / conn. errors; no 204 from a full queue", per_err)
    w0 = max(len(r["target"]) for r in rows)
    lines = ["=== summary ===", f"  {'target':<{w0}}  " + "  ".join(f"{n:<24}" for n in names)]
    for r in rows:
        cells = []
        for n in names:
            v = r[n]
            cells.append(f"{'-':<24}" if v is None else f"{('PASS' if v[1] else 'FAIL') + ' ' + v[0]:<24}")
        lines.append(f"  {r['target']:<{w0}}  " + "  ".join(cells))
    fails = sum(1 for r in rows for n in names if r[n] is not None and not r[n][1])
    if not names:
        lines.append("  nothing was measured")
    else:
        lines.append(f"  {fails} FAIL(s)" if fails else "  all targets PASS")
    return lines, rows


# ------------------------------------------------------------------ main

def code_version() -> str:
    """The commit of the working tree, and whether kiosk_server/ or migrations/ differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *CodeSnapshot.PACKAGES], cwd=ROOT,
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        return f"{head or 'unknown'}{' + uncommitted changes' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class CodeSnapshot:
    """A copy of kiosk_server/ and migrations/ taken when the bench starts. Every server, CLI
    call and in-process import uses it, so one run measures one version of the code even while
    the working tree is being edited."""

    def __init__(self) -> None:
        self.dir = ROOT
        self.version = "working tree"
        self.hash = ""

    PACKAGES = ("kiosk_server", "migrations", "display_client", "printer_driver")

    @classmethod
    def digest(cls, root: Path) -> str:
        import hashlib
        h = hashlib.sha1()
        for pkg in cls.PACKAGES:
            for f in sorted((root / pkg).rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                    h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
        return h.hexdigest()[:10]

    def take(self, dest: Path, source: str = "tree") -> None:
        """Copy the working tree's packages (source "tree") or those of the last commit ("head")."""
        dest.mkdir()
        if source == "head":
            import io
            import tarfile
            head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
            tar = subprocess.run(["git", "archive", "--format=tar", "HEAD", *self.PACKAGES], cwd=ROOT,
                                 capture_output=True, timeout=60, check=True).stdout
            with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
                tf.extractall(dest, filter="data")
            self.version = f"{head} (committed code only)"
        else:
            self.version = code_version()
            for pkg in self.PACKAGES:
                shutil.copytree(ROOT / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.dir = dest
        self.hash = self.digest(dest)
        self.version += f", snapshot {self.hash}"
        sys.path.insert(0, str(dest))
        code = "import kiosk_server, migrations; print(kiosk_server.__file__); print(migrations.__file__)"
        probe = subprocess.run([sys.executable, "-c", code],
                               cwd=dest, env={**os.environ, **self.env()}, capture_output=True, text=True,
                               timeout=60, check=False)
        paths = probe.stdout.split()
        if probe.returncode != 0 or len(paths) != 2 or not all(p.startswith(str(dest)) for p in paths):
            raise RuntimeError(f"the code snapshot is not the one imported: {probe.stdout}{probe.stderr}")

    def env(self) -> dict[str, str]:
        if self.dir == ROOT:
            return {}
        return {"PYTHONPATH": os.pathsep.join([str(self.dir), *filter(None, [os.environ.get("PYTHONPATH")])])}


CODE = CodeSnapshot()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres", "all"), default="all")
    ap.add_argument("--workers", default="2,4", help="PostgreSQL worker counts, comma-separated (default 2,4)")
    ap.add_argument("--quick", action="store_true", help="smaller counts for a smoke run (~1 min per database; ~3 min for all)")
    ap.add_argument("--json", metavar="OUT", help="write every figure as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (databases, logs)")
    ap.add_argument("--py-spy", metavar="DIR", help="record each server run with py-spy (raw stacks, one file per run)")
    ap.add_argument("--code", choices=("tree", "head"), default="tree",
                    help="measure a snapshot of the working tree (default) or of the last commit")
    a = ap.parse_args(argv)
    try:
        workers = [int(w) for w in a.workers.split(",") if w.strip()]
    except ValueError:
        ap.error("--workers takes a comma-separated list of integers")
    if not workers or any(w < 1 or w > 64 for w in workers):
        ap.error("--workers: 1..64")
    prof_name = "quick" if a.quick else "full"
    if a.py_spy:
        global PY_SPY_DIR
        PY_SPY_DIR = Path(a.py_spy).resolve()
        PY_SPY_DIR.mkdir(parents=True, exist_ok=True)
    prof = PROFILES[prof_name]
    tmp = Path(tempfile.mkdtemp(prefix="hallbench-"))
    results: dict[str, Any] = {}
    started = datetime.now(UTC)
    failed: str | None = None
    try:
        CODE.take(tmp / "code", a.code)
        log(f"measuring code {CODE.version}")
        env = Env(tmp, prof)
        if a.keep:  # the secrets, to run the kept databases again (temp dir, owner-only)
            (tmp / "env.json").write_text(json.dumps(env.secrets))
            (tmp / "env.json").chmod(0o600)
        log(f"profile {prof_name}; temp dir {tmp}; hall: {len(env.hall.zones)} zones, {len(env.hall.windows)} windows;"
            f" bench windows {env.hall.bench_windows[0]}..{env.hall.bench_windows[-1]} home zones {env.hall.home_count}")
        if a.db in ("sqlite", "all"):
            run_sqlite(env, results)
            print("\n".join(report_config("sqlite-1w", results["sqlite-1w"], prof_name)) + "\n", flush=True)
        if a.db in ("postgres", "all"):
            run_postgres(env, results, workers)
            for w in workers:
                print("\n".join(report_config(f"postgres-{w}w", results[f"postgres-{w}w"], prof_name)) + "\n",
                      flush=True)
    except Exception as exc:  # noqa: BLE001 - report what was measured, then fail
        import traceback
        failed = "".join(traceback.format_exception(exc))
        print(f"BENCHMARK ABORTED: {exc!r}", flush=True)
        print(failed, file=sys.stderr)
    finally:
        if a.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    wall = time.monotonic() - T0
    lines, rows = summary({k: v for k, v in results.items() if v.get("empty")})
    changed = (" (the working tree has changed since)"
               if a.code == "tree" and CODE.hash and CodeSnapshot.digest(ROOT) != CODE.hash else "")
    print(f"code {CODE.version}{changed}; profile {prof_name}; {os.cpu_count()} CPUs shared by server, PostgreSQL, load generator"
          f" (and anything else running: see other=); wall time {wall:.0f}s")
    runs = [r for c in results.values() for ph in ("empty", "grown") for r in (c.get(ph) or {}).values()]
    busy = [r["other_cores"] for r in runs if r["other_cores"] > CONTENDED]
    if busy:
        lines.append(f"  note: {len(busy)} of {len(runs)} measured runs shared the machine with more than {CONTENDED} cores"
                     f" of other processes (other=…!, up to {max(busy):.2f} cores): their figures are pessimistic")
    print("\n".join(lines), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"started": started.isoformat(), "code": CODE.version, "profile": prof_name, "wall_s": round(wall, 1),
                                            "targets": TARGETS, "configs": results, "summary": rows,
                                            "aborted": failed}, indent=2, default=str), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
