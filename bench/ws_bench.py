#!/usr/bin/env python3
"""Benchmark the hall-screen stream of a real server (`python -m kiosk_server serve`) on loopback.

For SQLite with one worker and PostgreSQL with four workers, and for 100 and 1,000 connected
websocket screens (`/api/v1/display/stream`, the hall-wide screen token), it measures:
  * call latency: from `POST /windows/{code}/call-next?finish_current=true` returning to the
    `ticket.called` event arriving at each screen (p50, p99, max over every screen and call;
    an event that arrives before the caller has read its answer counts 0), calls paced at
    `--call-interval`; every screen must get every call exactly once. Two arrival times: the
    kernel's receive stamp on the screen's socket (SO_TIMESTAMPNS; on loopback that is taken
    inside the server's send(), so it is the server's delivery, "written"), and when the screen
    process read it ("read", which adds the bench's own scheduling on the shared cores);
  * issuing latency (`POST /api/v1/tickets`, paced issuers) with no screen connected, and while
    the screens are connected and calls are being broadcast at the same time (each issued ticket
    is an event for every screen too), and the ratio of the two p99s;
  * the CPU used in each phase by the server's process group (and ms of server CPU per call, a
    figure that the other users of a shared machine disturb much less than latencies), by
    PostgreSQL, by the screen processes, and by processes outside the bench;
  * server RSS (VmRSS summed over the uvicorn process group) before and after the screens
    connect, and so the memory per connected screen.
The screens are raw websocket clients on non-blocking sockets under a plain epoll loop (handshake,
frame parser, pong; no compression asked, and the server has per-message deflate off) spread
over `--client-procs` processes, so the client side stays cheap. Everything binds to 127.0.0.1; every
loop is bounded by count and time.

    python bench/ws_bench.py [--quick] [--db sqlite|postgres|all] [--screens 100,1000] [--json out.json]

The hall is the test hall (config.example.toml open around the clock, 16 extra windows W01-W16
serving zones A and B); clerk passwords are hashed with minimal argon2 parameters, as the tests do.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import select
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
STREAM = "/api/v1/display/stream"
WINDOWS = 16
ISSUERS = 4
CONNECT_BATCH = 50
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"calls": 150, "mixed_s": 12.0, "issue_alone_s": 10.0, "issue_period_s": 0.02},
    "quick": {"calls": 40, "mixed_s": 4.0, "issue_alone_s": 4.0, "issue_period_s": 0.02},
}
TARGET_P99_MS = 25.0


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


T0 = time.monotonic()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))]


# ------------------------------------------------------------------ screens (client processes)

# Every screen socket asks the kernel to stamp each arriving packet (SO_TIMESTAMPNS, CLOCK_REALTIME).
# On loopback the stamp is taken inside the server's send(), so "wire" latency is when the server
# wrote the frame, whatever the screen process was doing; "read" latency is when the screen process
# got round to reading it (that includes the bench's own scheduling on the shared cores).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux: SO_TIMESTAMPNS_OLD == SCM_TIMESTAMPNS
TIMESPEC = struct.Struct("@qq")
ANC_SIZE = socket.CMSG_SPACE(TIMESPEC.size)


class RawScreen:
    """One websocket screen on a non-blocking socket: the handshake, then every text frame; a
    `ticket.called` event is kept as (ticket id, wire time, read time). Pings are answered."""
    __slots__ = ("sock", "buf", "open", "calls", "messages", "closed", "worker", "error")

    def __init__(self, port: int, token: str) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=30)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.sendall((f"GET {STREAM} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                           f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
        self.sock.setblocking(False)
        self.buf = b""
        self.open = False
        self.calls: list[tuple[int, float, float]] = []
        self.messages = 0
        self.closed = False
        self.worker: str | None = None
        self.error: str | None = None

    def readable(self) -> bool:
        """Reads what is there; False once the connection is gone."""
        try:
            data, anc, _flags, _addr = self.sock.recvmsg(1 << 16, ANC_SIZE)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as e:
            self.closed, self.error = True, str(e)
            return False
        now = time.time()
        if not data:
            self.closed = True
            return False
        wire = now
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= TIMESPEC.size:
                sec, ns = TIMESPEC.unpack_from(cdata)
                wire = sec + ns * 1e-9
        self.buf += data
        if not self.open:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return True
            status = head.split(b" ", 2)[1]
            if status != b"101":
                self.error = f"handshake answered {status.decode()}"
                self.closed = True
                return False
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"x-hall-worker":
                    self.worker = v.strip().decode()
            self.open, self.buf = True, rest
        self._frames(wire, now)
        return True

    def _frames(self, wire: float, now: float) -> None:
        buf = self.buf
        at = 0
        while len(buf) - at >= 2:
            b0, b1 = buf[at], buf[at + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if len(buf) - at < 4:
                    break
                n, head = struct.unpack_from("!H", buf, at + 2)[0], 4
            elif n == 127:
                if len(buf) - at < 10:
                    break
                n, head = struct.unpack_from("!Q", buf, at + 2)[0], 10
            if len(buf) - at < head + n:
                break
            payload = buf[at + head:at + head + n]
            at += head + n
            opcode = b0 & 0x0F
            if opcode == 0x1:
                self.messages += 1
                if b'"ticket.called"' in payload:
                    tid = _called_ticket(payload)
                    if tid is not None:
                        self.calls.append((tid, wire, now))
            elif opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                self.closed = True
        self.buf = buf[at:]

    def _send(self, opcode: int, payload: bytes) -> None:
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.sock.send(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)
        except OSError:
            pass

    def close(self) -> None:
        if not self.closed:
            self._send(0x8, struct.pack("!H", 1000))
        self.closed = True
        self.sock.close()


def _called_ticket(payload: bytes) -> int | None:
    """The ticket id of a `ticket.called` event (not of a snapshot listing calls)."""
    import orjson
    m = orjson.loads(payload)
    return int(m["ticket"]["id"]) if m.get("type") == "ticket.called" else None


def client_process(conn: Connection, port: int, token: str, poll_s: float, nice: int) -> None:
    """A plain epoll loop over this process's screens and its command pipe (no asyncio: the
    screens must cost the shared cores as little as possible). After each pass over the ready
    screens it sleeps `poll_s`: the frames that arrive meanwhile are stamped by the kernel all
    the same, are read together at the next pass, and wake no process (a screen on the LAN
    costs the server no wake-up either); a busy process is not slowed down by it. It runs at
    `nice`: on a machine the screens share with the server, the server gets the cores first,
    as it would with the screens on the LAN (their CPU use is still reported)."""
    if nice:
        os.nice(nice)
    ep = select.epoll()
    ep.register(conn.fileno(), select.EPOLLIN)
    screens: dict[int, RawScreen] = {}

    def pump(timeout: float) -> None:
        t0 = time.monotonic()
        for fd, _ev in ep.poll(timeout):
            s = screens.get(fd)
            if s is not None and not s.readable():
                ep.unregister(fd)
        rest = poll_s - (time.monotonic() - t0)
        if rest > 0 and screens:
            time.sleep(rest)

    while True:
        if not conn.poll():
            pump(1.0)
            continue
        cmd, arg = conn.recv()
        if cmd == "connect":
            workers: Counter[str] = Counter()
            failed = 0
            for start in range(0, arg, CONNECT_BATCH):
                batch = []
                for _ in range(min(CONNECT_BATCH, arg - start)):
                    try:
                        s = RawScreen(port, token)
                    except OSError:
                        failed += 1
                        continue
                    screens[s.sock.fileno()] = s
                    ep.register(s.sock.fileno(), select.EPOLLIN)
                    batch.append(s)
                deadline = time.monotonic() + 30
                while any(not s.open and not s.closed for s in batch) and time.monotonic() < deadline:
                    pump(0.2)
                for s in batch:
                    if s.open and not s.closed:
                        workers[s.worker or "?"] += 1
                    else:
                        failed += 1
                        fd = s.sock.fileno()
                        if fd >= 0 and screens.pop(fd, None) is not None:
                            ep.unregister(fd)
                        s.close()
            conn.send(("connected", sum(1 for s in screens.values() if s.open), failed, dict(workers)))
        elif cmd == "reset":
            for s in screens.values():
                s.calls.clear()
                s.messages = 0
            conn.send(("ok", time.process_time()))
        elif cmd == "report":
            answers: dict[int, tuple[float, float]] = arg  # ticket id -> (sent, returned), time.time()
            wire_after, read_after, wire_send = [], [], []
            missing = dups = extra = closed = messages = 0
            for s in screens.values():
                got = Counter(tid for tid, _w, _r in s.calls)
                missing += sum(1 for tid in answers if tid not in got)
                dups += sum(n - 1 for n in got.values() if n > 1)
                messages += s.messages
                closed += s.closed
                for tid, w, r in s.calls:
                    if tid not in answers:
                        extra += 1
                        continue
                    sent, returned = answers[tid]
                    wire_after.append(max(0.0, (w - returned) * 1000))
                    read_after.append(max(0.0, (r - returned) * 1000))
                    wire_send.append((w - sent) * 1000)
            conn.send(("report", wire_after, read_after, wire_send, missing, dups, extra, closed, messages,
                       time.process_time()))
        elif cmd == "close":
            for fd, s in list(screens.items()):
                ep.unregister(fd)
                s.close()
            screens = {}
            conn.send(("closed",))
        elif cmd == "exit":
            return


class Clients:
    """`procs` screen processes; `connect(n)` spreads n screens over them."""

    def __init__(self, procs: int, port: int, token: str, poll_s: float, nice: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs = []
        for _ in range(procs):
            mine, theirs = ctx.Pipe()
            p = ctx.Process(target=client_process, args=(theirs, port, token, poll_s, nice), daemon=True)
            p.start()
            self.pipes.append(mine)
            self.procs.append(p)

    def _all(self, cmd: str, args: list[Any] | None = None, timeout: float = 120) -> list[Any]:
        for i, pipe in enumerate(self.pipes):
            pipe.send((cmd, args[i] if args is not None else None))
        out = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise RuntimeError(f"a screen process did not answer {cmd!r} within {timeout} s")
            out.append(pipe.recv())
        return out

    def connect(self, n: int) -> tuple[int, int, dict[str, int]]:
        share = [n // len(self.pipes) + (1 if i < n % len(self.pipes) else 0) for i in range(len(self.pipes))]
        got = self._all("connect", share, timeout=180)
        workers: Counter[str] = Counter()
        for r in got:
            workers.update(r[3])
        return sum(r[1] for r in got), sum(r[2] for r in got), dict(workers)

    def reset(self) -> float:
        return sum(r[1] for r in self._all("reset"))

    def report(self, answers: dict[int, tuple[float, float]]) -> dict[str, Any]:
        got = self._all("report", [answers] * len(self.pipes), timeout=300)
        return {"wire_after": [x for r in got for x in r[1]], "read_after": [x for r in got for x in r[2]],
                "wire_send": [x for r in got for x in r[3]], "missing": sum(r[4] for r in got),
                "duplicates": sum(r[5] for r in got), "unexpected": sum(r[6] for r in got),
                "closed": sum(r[7] for r in got), "messages": sum(r[8] for r in got),
                "cpu_s": sum(r[9] for r in got)}

    def close_all(self) -> None:
        self._all("close")

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("exit", None))
            except OSError:
                pass
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()


# ------------------------------------------------------------------ HTTP: callers and issuers

class Http:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def request(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)

    def close(self) -> None:
        self.conn.close()


def issuer_process(conn: Connection, port: int, token: str, seconds: float, period: float, threads: int) -> None:
    """`threads` kiosks, each issuing a ticket every `period` s (or as fast as answered) for
    `seconds`; sends back the latencies (ms) and the statuses."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def kiosk(i: int) -> None:
        h = Http(port)
        nxt = time.monotonic() + period * i / threads
        k = 0
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return
                if nxt > now:
                    time.sleep(nxt - now)
                nxt += period
                t0 = time.monotonic()
                st, _ = h.request("POST", "/api/v1/tickets", token, {"zone": "AB"[(i + k) % 2]})
                ms = (time.monotonic() - t0) * 1000
                k += 1
                with lock:
                    latencies.append(ms)
                    statuses[st] += 1
        finally:
            h.close()

    ts = [threading.Thread(target=kiosk, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    conn.send((latencies, dict(statuses)))


def start_issuers(port: int, token: str, seconds: float, period: float) -> tuple[Any, Connection]:
    ctx = mp.get_context("spawn")
    mine, theirs = ctx.Pipe()
    p = ctx.Process(target=issuer_process, args=(theirs, port, token, seconds, period * ISSUERS, ISSUERS), daemon=True)
    p.start()
    return p, mine


def finish_issuers(p: Any, pipe: Connection, seconds: float) -> dict[str, Any]:
    if not pipe.poll(seconds + 60):
        p.kill()
        raise RuntimeError("the issuers did not finish")
    latencies, statuses = pipe.recv()
    p.join(5)
    return {"n": len(latencies), "p50_ms": round(pct(latencies, 50), 2), "p99_ms": round(pct(latencies, 99), 2),
            "max_ms": round(max(latencies, default=float("nan")), 1), "statuses": statuses}


def call_phase(port: int, windows: list[tuple[str, str]], calls: int, interval: float,
               deadline_s: float) -> tuple[dict[int, tuple[float, float]], Counter[int]]:
    """`calls` call-next requests (finish_current), one every `interval` s, round robin over the
    windows; returns ticket id -> (sent, returned) and the statuses."""
    h = Http(port)
    answers: dict[int, tuple[float, float]] = {}
    statuses: Counter[int] = Counter()
    end = time.monotonic() + deadline_s
    nxt = time.monotonic()
    try:
        for i in range(calls):
            now = time.monotonic()
            if now > end:
                break
            if nxt > now:
                time.sleep(nxt - now)
            nxt += interval
            code, token = windows[i % len(windows)]
            sent = time.time()  # the screens' kernel stamps are CLOCK_REALTIME
            st, body = h.request("POST", f"/api/v1/windows/{code}/call-next?finish_current=true", token)
            returned = time.time()
            statuses[st] += 1
            if st == 200:
                answers[body["id"]] = (sent, returned)
    finally:
        h.close()
    return answers, statuses


# ------------------------------------------------------------------ CPU outside the bench

CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_PID: int | None = None  # the PostgreSQL postmaster, when one runs


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # state ppid ... utime(11) stime(12) cutime(13) cstime(14)


def _cpu_split(server_pids: set[int]) -> dict[str, float]:
    """CPU seconds so far of this bench's whole process tree with PostgreSQL's ("ours"), and of its
    parts: the server's process group ("server") and PostgreSQL ("pg"); reaped children included."""
    parent: dict[int, int] = {}
    fields: dict[int, list[str]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (f := _stat(int(d))) is not None:
            parent[int(d)], fields[int(d)] = int(f[1]), f
    roots = {os.getpid()} | ({PG_PID} if PG_PID else set())
    out = {"ours": 0, "server": 0, "pg": 0}
    for pid, f in fields.items():
        p, seen, in_server = pid, 0, pid in server_pids
        while p not in roots and p in parent and seen < 64:
            p, seen = parent[p], seen + 1
            in_server = in_server or p in server_pids
        if p in roots:
            t = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
            out["ours"] += t
            if in_server:
                out["server"] += t
            elif p == PG_PID:
                out["pg"] += t
    return {k: v / CLK_TCK for k, v in out.items()}


def _busy_s() -> float:
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


class PhaseCpu:
    """Cores used during a phase by the server, by PostgreSQL, and by processes outside the
    bench (its figures are pessimistic when that is high: a shared machine)."""

    def __init__(self, server: Any = None) -> None:
        self.server_pids = set(server.group_members()) if server is not None else set()
        self.t, self.busy, self.cpu = time.monotonic(), _busy_s(), _cpu_split(self.server_pids)

    def figures(self) -> dict[str, float]:
        dt = time.monotonic() - self.t
        now, busy = _cpu_split(self.server_pids), _busy_s()
        if dt <= 0:
            return {"other_cores": 0.0, "server_cores": 0.0, "server_cpu_s": 0.0, "pg_cores": 0.0}
        d = {k: now[k] - self.cpu[k] for k in now}
        return {"other_cores": round(max(0.0, (busy - self.busy) - d["ours"]) / dt, 2),
                "server_cores": round(d["server"] / dt, 2), "server_cpu_s": round(d["server"], 3),
                "pg_cores": round(d["pg"] / dt, 2)}

    def cores(self) -> float:
        return self.figures()["other_cores"]


# ------------------------------------------------------------------ the server

def group_rss_mb(server: Any) -> float:
    total = 0
    for pid in server.group_members():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def issue_tickets(port: int, token: str, n: int) -> None:
    h = Http(port)
    try:
        for i in range(n):
            st, body = h.request("POST", "/api/v1/tickets", token, {"zone": "AB"[i % 2]})
            if st != 201:
                raise RuntimeError(f"issue: {st} {body}")
    finally:
        h.close()


def run_config(name: str, db_url: str, workers: int, screens: list[int], prof: dict[str, Any], tmp: Path,
               a: argparse.Namespace) -> dict[str, Any]:
    from tests.support.hall import (
        PASSWORD, add_clerks, import_config, prepare, use_cheap_password_hashes, window_codes, write_load_config,
    )
    from tests.support.server import ServerProcess, free_port

    out: dict[str, Any] = {"db": name, "workers": workers, "screens": {}}
    log(f"{name}: preparing the hall")
    prepared = prepare(db_url)
    port = free_port()
    d = tmp / name
    d.mkdir()
    config = write_load_config(d / "hall.toml", db_url, port, workers, windows=WINDOWS, zones=("A", "B"))
    import_config(prepared, config)
    clerks = {code: f"clerk_{code.lower()}" for code in window_codes(WINDOWS)}
    add_clerks(prepared, list(clerks.values()))
    use_cheap_password_hashes(prepared)
    prepared.db.dispose()
    server = ServerProcess(config, prepared.env, port=port, workers=workers, log_file=d / "server.log",
                           start_timeout_s=180)
    kiosk = prepared.device_tokens["K1"]
    t0 = time.monotonic()
    server.start()
    if workers > 1:
        end = time.monotonic() + 60
        while len(server.group_members()) < workers + 1 and time.monotonic() < end:
            time.sleep(0.1)
        time.sleep(1.0)
    out["server_start_s"] = round(time.monotonic() - t0, 1)
    log(f"{name}: server up in {out['server_start_s']} s")
    clients = None
    try:
        h = Http(port)
        windows = []
        for code, username in clerks.items():
            st, body = h.request("POST", "/api/v1/auth/login", body={"username": username, "password": PASSWORD})
            assert st == 200, body
            windows.append((code, body["token"]))
            st, body = h.request("POST", f"/api/v1/windows/{code}/open", body["token"])
            assert st == 200, body
        h.close()
        # Warm-up: every code path once, a few times.
        issue_tickets(port, kiosk, 2 * WINDOWS)
        call_phase(port, windows, 2 * WINDOWS, 0.0, 30)
        time.sleep(0.5)
        out["rss_idle_mb"] = round(group_rss_mb(server), 1)
        log(f"{name}: issuing alone (no screen) for {prof['issue_alone_s']} s")
        cpu = PhaseCpu(server)
        p, pipe = start_issuers(port, kiosk, prof["issue_alone_s"], prof["issue_period_s"])
        out["issue_alone"] = finish_issuers(p, pipe, prof["issue_alone_s"])
        out["issue_alone"].update(cpu.figures())
        log(f"  issue alone: {out['issue_alone']}")
        clients = Clients(a.client_procs, port, prepared.device_tokens["S1"], a.screen_poll_ms / 1000, a.screen_nice)
        for n in screens:
            r: dict[str, Any] = {}
            rss_before = group_rss_mb(server)
            t_conn = time.monotonic()
            ok, failed, per_worker = clients.connect(n)
            r["connect_s"] = round(time.monotonic() - t_conn, 2)
            r["connected"], r["connect_failed"], r["per_worker"] = ok, failed, per_worker
            time.sleep(1.0)
            rss_after = group_rss_mb(server)
            r["rss_before_mb"], r["rss_after_mb"] = round(rss_before, 1), round(rss_after, 1)
            r["kb_per_screen"] = round((rss_after - rss_before) * 1024 / max(1, ok), 1)
            log(f"{name}, {n} screens: {ok} connected ({failed} failed) in {r['connect_s']} s over workers "
                f"{per_worker}; RSS {rss_before:.1f} -> {rss_after:.1f} MB")
            # 1. Calls alone.
            issue_tickets(port, kiosk, prof["calls"] + WINDOWS)
            cpu0 = clients.reset()
            t_phase, cpu = time.monotonic(), PhaseCpu(server)
            answers, statuses = call_phase(port, windows, prof["calls"], a.call_interval, prof["calls"] * a.call_interval + 60)
            figures = cpu.figures()
            time.sleep(1.0)
            rep = clients.report(answers)
            r["calls"] = summarize_calls(rep, answers, statuses, ok, time.monotonic() - t_phase, cpu0)
            r["calls"].update(figures)
            r["calls"]["server_cpu_ms_per_call"] = round(figures["server_cpu_s"] * 1000 / max(1, len(answers)), 2)
            log(f"  calls: {fmt_calls(r['calls'])}")
            # 2. Calls and issuing at the same time.
            cpu0 = clients.reset()
            t_phase, cpu = time.monotonic(), PhaseCpu(server)
            p, pipe = start_issuers(port, kiosk, prof["mixed_s"], prof["issue_period_s"])
            time.sleep(0.3)  # the issuers are running
            answers, statuses = call_phase(port, windows, int(prof["mixed_s"] / a.call_interval) - 5, a.call_interval,
                                           prof["mixed_s"])
            r["issue_during"] = finish_issuers(p, pipe, prof["mixed_s"])
            figures = cpu.figures()
            time.sleep(1.0)
            rep = clients.report(answers)
            r["calls_during_issuing"] = summarize_calls(rep, answers, statuses, ok, time.monotonic() - t_phase, cpu0)
            r["calls_during_issuing"].update(figures)
            r["issue_p99_ratio"] = round(r["issue_during"]["p99_ms"] / out["issue_alone"]["p99_ms"], 2)
            log(f"  with issuing: {fmt_calls(r['calls_during_issuing'])}")
            log(f"  issue during broadcast: {r['issue_during']} (p99 x{r['issue_p99_ratio']} of alone)")
            r["rss_peak_mb"] = round(group_rss_mb(server), 1)
            clients.close_all()
            time.sleep(1.0)
            out["screens"][str(n)] = r
    finally:
        if clients is not None:
            clients.stop()
        server.stop()
    return out


def summarize_calls(rep: dict[str, Any], answers: dict[int, Any], statuses: Counter[int], screens: int,
                    seconds: float, cpu0: float) -> dict[str, Any]:
    wa, ra, ws = rep["wire_after"], rep["read_after"], rep["wire_send"]
    own = [(returned - sent) * 1000 for sent, returned in answers.values()]
    return {"calls": len(answers), "statuses": dict(statuses), "deliveries": len(wa),
            "call_next_p50_ms": round(pct(own, 50), 2), "call_next_p99_ms": round(pct(own, 99), 2),
            "expected": len(answers) * screens, "missing": rep["missing"], "duplicates": rep["duplicates"],
            "p50_ms": round(pct(wa, 50), 2), "p99_ms": round(pct(wa, 99), 2), "max_ms": round(max(wa, default=0), 1),
            "read_p50_ms": round(pct(ra, 50), 2), "read_p99_ms": round(pct(ra, 99), 2),
            "read_max_ms": round(max(ra, default=0), 1),
            "from_send_p50_ms": round(pct(ws, 50), 2), "from_send_p99_ms": round(pct(ws, 99), 2),
            "screens_closed": rep["closed"], "client_cpu_fraction": round((rep["cpu_s"] - cpu0) / seconds, 2)}


def fmt_calls(c: dict[str, Any]) -> str:
    return (f"{c['calls']} calls, {c['deliveries']}/{c['expected']} deliveries (missing {c['missing']}, dup "
            f"{c['duplicates']}); call-next itself p50 {c['call_next_p50_ms']} p99 {c['call_next_p99_ms']} ms; "
            f"after it returned: written p50 {c['p50_ms']} p99 {c['p99_ms']} max {c['max_ms']} ms, "
            f"read p50 {c['read_p50_ms']} p99 {c['read_p99_ms']} max {c['read_max_ms']} ms; "
            f"written from sending it p50 {c['from_send_p50_ms']} p99 {c['from_send_p99_ms']} ms; "
            f"server {c.get('server_cores', '-')} cores ({c.get('server_cpu_ms_per_call', '-')} ms CPU a call), "
            f"PostgreSQL {c.get('pg_cores', '-')}, screen processes {c['client_cpu_fraction']}, "
            f"other processes {c.get('other_cores', '-')} cores")


def report(results: dict[str, Any], prof_name: str, a: argparse.Namespace) -> str:
    lines = [f"hall-screen stream benchmark ({prof_name}); {os.cpu_count()} CPUs shared by the server, "
             f"PostgreSQL, {a.client_procs} screen processes (reading every {a.screen_poll_ms:g} ms, nice "
             f"{a.screen_nice}) and the callers; calls every {a.call_interval * 1000:.0f} ms, "
             f"issuing {ISSUERS} kiosks x every {a.issue_period_s * ISSUERS * 1000:.0f} ms",
             "",
             "delivery latency (ms) after call-next returned: 'written' = the kernel's arrival stamp on the screen's",
             "socket (on loopback, when the server's send() ran), 'read' = when the screen process read it (adds the",
             "bench's own scheduling); calls alone, and '+iss' while the kiosks issue; issuing p99 alone (no screen)",
             "and during the broadcast; server CPU in cores during the calls / calls+issuing phases and ms per call",
             f"{'config':<13}{'screens':>7}{'written p50':>12}{'p99':>6}{'max':>6}{'read p50':>9}{'p99':>6}"
             f"{'call-next':>10}{'+iss wr p99':>12}{'rd p99':>7}{'issue alone':>12}{'during':>7}{'ratio':>6}"
             f"{'srv cores':>10}{'+iss':>5}{'ms/call':>8}{'screens':>8}{'RSS MB':>7}{'KB/scr':>7}{'other':>6}  deliveries"]
    for cfg in results.values():
        for n, r in cfg["screens"].items():
            c, ci = r["calls"], r["calls_during_issuing"]
            ok = (c["missing"] + c["duplicates"] + ci["missing"] + ci["duplicates"]) == 0
            other = max(c["other_cores"], ci["other_cores"], cfg["issue_alone"]["other_cores"])
            lines.append(f"{cfg['db'] + '-' + str(cfg['workers']) + 'w':<13}{n:>7}{c['p50_ms']:>12.1f}{c['p99_ms']:>6.1f}"
                         f"{c['max_ms']:>6.0f}{c['read_p50_ms']:>9.1f}{c['read_p99_ms']:>6.1f}"
                         f"{c['call_next_p99_ms']:>10.1f}{ci['p99_ms']:>12.1f}{ci['read_p99_ms']:>7.1f}"
                         f"{cfg['issue_alone']['p99_ms']:>12.1f}{r['issue_during']['p99_ms']:>7.1f}{r['issue_p99_ratio']:>6.2f}"
                         f"{c['server_cores']:>10.2f}{ci['server_cores']:>5.2f}{c['server_cpu_ms_per_call']:>8.2f}"
                         f"{max(c['client_cpu_fraction'], ci['client_cpu_fraction']):>8.2f}"
                         f"{r['rss_after_mb']:>7.0f}{r['kb_per_screen']:>7.1f}{other:>6.2f}"
                         f"  {'all, once each' if ok else 'MISSING/DUPLICATE'}")
    lines += ["screens: cores used by the screen processes; other: the most cores used by processes outside the "
              "bench during that row's phases (a shared machine; above ~0.3 the row is pessimistic)"]
    lines += ["", f"target: written p99 <= {TARGET_P99_MS:.0f} ms at 1,000 screens; issuing p99 at most doubled while "
                  "screens are fed (ratio <= 2)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres", "all"), default="all")
    ap.add_argument("--screens", default="100,1000", help="screen counts, comma-separated (default 100,1000)")
    ap.add_argument("--quick", action="store_true", help="fewer calls, shorter phases (~2 min for all)")
    ap.add_argument("--client-procs", type=int, default=4, help="screen processes (default 4)")
    ap.add_argument("--screen-poll-ms", type=float, default=2.0,
                    help="a screen process reads its sockets at most this often (default 2; 0: as soon as data arrives)")
    ap.add_argument("--screen-nice", type=int, default=10,
                    help="niceness of the screen processes (default 10: the server is served first; 0: equal)")
    ap.add_argument("--call-interval", type=float, default=0.1, help="seconds between calls (default 0.1)")
    ap.add_argument("--issue-interval", type=float, default=None,
                    help="seconds between issued tickets, all kiosks together (default 0.02: 50 a second)")
    ap.add_argument("--json", metavar="OUT", help="write every figure as JSON")
    a = ap.parse_args(argv)
    screens = [int(s) for s in a.screens.split(",") if s.strip()]
    if not screens or any(s < 1 or s > 5000 for s in screens):
        ap.error("--screens: 1..5000 each")
    if not 1 <= a.client_procs <= 32 or not 0.005 <= a.call_interval <= 5 or not 0 <= a.screen_poll_ms <= 50 \
            or not 0 <= a.screen_nice <= 19:
        ap.error("--client-procs 1..32, --call-interval 0.005..5, --screen-poll-ms 0..50, --screen-nice 0..19")
    prof_name = "quick" if a.quick else "full"
    prof = dict(PROFILES[prof_name])
    if a.issue_interval is not None:
        if not 0.001 <= a.issue_interval <= 5:
            ap.error("--issue-interval 0.001..5")
        prof["issue_period_s"] = a.issue_interval
    a.issue_period_s = prof["issue_period_s"]
    tmp = Path(tempfile.mkdtemp(prefix="wsbench-"))
    results: dict[str, Any] = {}
    log(f"profile {prof_name}, temp dir {tmp}")
    if a.db in ("sqlite", "all"):
        results["sqlite"] = run_config("sqlite", f"sqlite:///{tmp / 'hall.db'}", 1, screens, prof, tmp, a)
    if a.db in ("postgres", "all"):
        from tests.support.postgres import PostgresServer
        global PG_PID
        with PostgresServer(max_connections=200) as pg:
            url = pg.create_database("wsbench")
            PG_PID = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
            results["postgres"] = run_config("postgres", url, 4, screens, prof, tmp, a)
    text = report(results, prof_name, a)
    print(text, flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"profile": prof_name, "call_interval_s": a.call_interval,
                                            "screen_poll_ms": a.screen_poll_ms, "screen_nice": a.screen_nice,
                                            "client_procs": a.client_procs, "configs": results}, indent=2),
                                encoding="utf-8")
    bad = any(r["calls"]["missing"] or r["calls"]["duplicates"] or r["calls_during_issuing"]["missing"]
              or r["calls_during_issuing"]["duplicates"] for c in results.values() for r in c["screens"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
