"""Fast closed-loop HTTP/1.1 load generator for loopback benchmarks (stdlib + optional uvloop).

Each virtual client owns one keep-alive connection (asyncio streams) and sends its requests
back to back; clients are spread over worker processes, each with its own event loop. A run
stops at ``total_requests`` attempts or after ``max_seconds``, whichever comes first.

Python API::

    from loadgen import Request, Scenario, run_load
    auth = {"Authorization": f"Bearer {kiosk_token}"}
    res = run_load("127.0.0.1", 8000, Scenario.same(Request("POST", "/api/v1/tickets", auth, json={"zone": "A"})),
                   clients=16, processes=2, total_requests=20_000, max_seconds=20)
    calls = Scenario.per_client([Request("POST", f"/api/v1/windows/{c}/call-next", {"Authorization": f"Bearer {t}"})
                                 for c, t in zip(codes, tokens)])   # client i -> calls.plans[i % len(plans)]
    print(res.summary()); res.to_dict()

CLI::

    python bench/loadgen.py --url http://127.0.0.1:8000/api/v1/tickets --method POST \\
        --header 'Authorization: Bearer X' --body '{"zone":"A"}' --clients 16 --processes 2 \\
        --requests 20000 --max-seconds 20 [--json]

Statuses < 500 count as completed (latencies are over completed requests only); 5xx are counted
per code; connection/protocol failures are ``errors``. Workers use the "spawn" start method, so
an orchestrator script must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_NET_ERRORS = (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)
_Encoded = tuple[bytes, bool]  # (request bytes, response has no body because method is HEAD)


@dataclass(frozen=True)
class Request:
    """One HTTP request. ``json`` (if not None) is serialised once; ``body`` bytes take precedence."""

    method: str = "GET"
    path: str = "/"
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()
    json: Any = None
    body: bytes | None = None

    def encode(self, host_header: str) -> bytes:
        hdrs = list(self.headers.items()) if isinstance(self.headers, Mapping) else list(self.headers)
        names = {k.lower() for k, _ in hdrs}
        body = self.body
        if body is None and self.json is not None:
            body = json.dumps(self.json, separators=(",", ":"), ensure_ascii=False).encode()
            if "content-type" not in names:
                hdrs.append(("Content-Type", "application/json"))
        method = self.method.upper()
        lines = [f"{method} {self.path} HTTP/1.1"]
        lines += [] if "host" in names else [f"Host: {host_header}"]
        lines += [] if "user-agent" in names else ["User-Agent: loadgen/1"]
        lines += [f"{k}: {v}" for k, v in hdrs]
        if (body or method in ("POST", "PUT", "PATCH")) and "content-length" not in names:
            lines.append(f"Content-Length: {len(body or b'')}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


@dataclass(frozen=True)
class Scenario:
    """``plans[i % len(plans)]`` is the request sequence client i sends cyclically."""

    plans: tuple[tuple[Request, ...], ...]

    def __post_init__(self) -> None:
        if not self.plans or not all(self.plans):
            raise ValueError("scenario needs at least one non-empty plan")

    @classmethod
    def same(cls, request: Request) -> Scenario:
        """Every client repeats ``request``."""
        return cls(((request,),))

    @classmethod
    def per_client(cls, requests: Sequence[Request]) -> Scenario:
        """Client i repeats ``requests[i % len(requests)]``."""
        return cls(tuple((r,) for r in requests))

    @classmethod
    def cycles(cls, plans: Sequence[Sequence[Request]]) -> Scenario:
        """Client i cycles through ``plans[i % len(plans)]`` in order."""
        return cls(tuple(tuple(p) for p in plans))

    def plan_for(self, client: int) -> tuple[Request, ...]:
        return self.plans[client % len(self.plans)]


@dataclass
class Result:
    completed: int  # responses with status < 500
    attempts: int  # requests started (completed + 5xx + errors + unfinished)
    duration_s: float  # first worker start -> last worker end
    throughput: float  # completed / duration_s
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    statuses: dict[int, int]  # every received status, including 5xx
    errors: int  # connection / protocol errors (no usable response)
    error_kinds: dict[str, int]
    unfinished: int  # clients still in flight when max_seconds + grace expired (cancelled)
    stopped_by: str  # "requests" (budget used up) or "time"
    clients: int
    processes: int
    cpu_user_s: float  # generator CPU over the run window, summed over worker processes
    cpu_sys_s: float
    process_cpu_s: list[float] = field(default_factory=list)  # user+sys per worker process

    @property
    def generator_cpu_fraction(self) -> float:
        """Busiest worker's CPU / wall time: near 1.0 means the generator itself was saturated."""
        return max(self.process_cpu_s, default=0.0) / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"generator_cpu_fraction": round(self.generator_cpu_fraction, 3)}

    def summary(self) -> str:
        codes = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items())) or "-"
        kinds = f" ({', '.join(f'{k}:{v}' for k, v in self.error_kinds.items())})" if self.errors else ""
        return (
            f"clients={self.clients} processes={self.processes} stopped_by={self.stopped_by}\n"
            f"completed={self.completed} attempts={self.attempts} in {self.duration_s:.3f}s"
            f" -> {self.throughput:,.0f} req/s\n"
            f"latency ms: p50={self.p50_ms:.2f} p90={self.p90_ms:.2f} p99={self.p99_ms:.2f}"
            f" max={self.max_ms:.2f} mean={self.mean_ms:.2f}\n"
            f"statuses: {codes}  errors={self.errors}{kinds} unfinished={self.unfinished}\n"
            f"generator cpu: user={self.cpu_user_s:.2f}s sys={self.cpu_sys_s:.2f}s"
            f" per-process={[round(c, 2) for c in self.process_cpu_s]}"
            f" busiest={self.generator_cpu_fraction:.0%} of one core"
        )


async def _read_response(reader: asyncio.StreamReader, head_only: bool) -> tuple[int, bool]:
    """Read one response; returns (status, connection reusable). Body is read and discarded."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        if head[:7] != b"HTTP/1.":
            raise ValueError("bad status line")
        status = int(head[9:12])
        if status >= 200:
            break  # skip 1xx interim responses
    h = head.lower()
    keep = b"\r\nconnection: close" not in h and (head[7:8] == b"1" or b"\r\nconnection: keep-alive" in h)
    if head_only or status == 204 or status == 304:
        return status, keep
    i = h.find(b"\r\ncontent-length:")
    if i >= 0:
        n = int(h[i + 17 : h.index(b"\r\n", i + 17)])
        if n:
            await reader.readexactly(n)
    elif b"\r\ntransfer-encoding:" in h and b"chunked" in h:
        while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
            await reader.readexactly(size + 2)  # chunk data + CRLF
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass  # trailers
    else:
        await reader.read()  # body delimited by connection close
        keep = False
    return status, keep


class _Stats:
    __slots__ = ("remaining", "attempts", "lat", "statuses", "errors", "error_kinds")

    def __init__(self, quota: int) -> None:
        self.remaining, self.attempts, self.errors = quota, 0, 0
        self.lat = array("d")
        self.statuses: dict[int, int] = {}
        self.error_kinds: dict[str, int] = {}

    def error(self, exc: BaseException) -> None:
        self.errors += 1
        name = type(exc).__name__
        self.error_kinds[name] = self.error_kinds.get(name, 0) + 1


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(host: str, port: int, timeout: float) -> _Conn | None:
    """Warm-up connect; on failure the client retries (and counts the error) inside its loop."""
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return None


async def _client(conn: _Conn | None, plan: list[_Encoded], st: _Stats, deadline: float, host: str, port: int) -> None:
    reader, writer = conn if conn is not None else (None, None)
    pc, lat, statuses = time.perf_counter, st.lat.append, st.statuses
    i, n = 0, len(plan)
    try:
        while st.remaining > 0 and pc() < deadline:
            st.remaining -= 1
            st.attempts += 1
            data, head_only = plan[i]
            i = i + 1 if i + 1 < n else 0
            if writer is None or reader is None:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError as exc:
                    st.error(exc)
                    await asyncio.sleep(0.02)  # do not spin on a refused port
                    continue
            t0 = pc()
            try:
                writer.write(data)
                status, keep = await _read_response(reader, head_only)
            except _NET_ERRORS as exc:
                st.error(exc)
                writer.close()
                writer = None
                continue
            t1 = pc()
            statuses[status] = statuses.get(status, 0) + 1
            if status < 500:
                lat(t1 - t0)
            if not keep:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


class _Job(NamedTuple):
    host: str
    port: int
    plans: list[list[_Encoded]]  # one encoded plan per client of this worker
    quota: int
    max_seconds: float
    grace: float
    connect_timeout: float


async def _run_worker(job: _Job, start: Any, pipe: Connection) -> dict[str, Any]:
    host, port, plans, quota, max_seconds, grace, connect_timeout = job
    st = _Stats(quota)
    conns = await asyncio.gather(*(_connect(host, port, connect_timeout) for _ in plans))
    pipe.send("ready")
    if not start.wait(120):  # parent gave up; blocking the loop here is harmless
        return {}
    t0, c0 = time.monotonic(), os.times()
    deadline = time.perf_counter() + max_seconds
    tasks = [asyncio.create_task(_client(c, p, st, deadline, host, port)) for c, p in zip(conns, plans, strict=True)]
    pending: set[asyncio.Task[None]] = set()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=max_seconds + grace)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
    t1, c1 = time.monotonic(), os.times()
    return {"t0": t0, "t1": t1, "user": c1.user - c0.user, "sys": c1.system - c0.system, "lat": st.lat,
            "statuses": st.statuses, "errors": st.errors, "error_kinds": st.error_kinds, "attempts": st.attempts,
            "remaining": st.remaining, "unfinished": len(pending)}


def _worker(job: _Job, start: Any, pipe: Connection) -> None:
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        out = runner.run(_run_worker(job, start, pipe))
    pipe.send(out)
    pipe.close()


def _pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)] if sorted_ms else 0.0


def _collect(readers: list[Connection], timeout: float, what: str) -> list[Any]:
    got: dict[int, Any] = {}
    end = time.monotonic() + timeout
    while len(got) < len(readers):
        left = [r for r in readers if id(r) not in got]
        ready = mp_wait(left, timeout=max(0.0, end - time.monotonic()))
        if not ready:
            raise TimeoutError(f"loadgen workers did not report {what} within {timeout:.0f}s")
        for r in ready:
            try:
                got[id(r)] = cast(Connection, r).recv()
            except EOFError:
                raise RuntimeError(f"a loadgen worker died before reporting {what}") from None
    return [got[id(r)] for r in readers]


def run_load(host: str, port: int, scenario: Scenario, clients: int, processes: int = 2,
             total_requests: int = 10_000, max_seconds: float = 10.0, *, grace: float = 1.0,
             connect_timeout: float = 5.0) -> Result:
    """Run ``clients`` keep-alive clients over ``processes`` workers; blocks until the run ends.

    Client i (global index) sends ``scenario.plan_for(i)`` cyclically. The request budget is split
    between processes in proportion to their clients; clients of one process share its budget.
    Connections are opened before the clock starts. Requests still in flight ``grace`` seconds after
    ``max_seconds`` are cancelled (``unfinished``).
    """
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"refusing non-loopback host {host!r}; allowed: {sorted(LOOPBACK_HOSTS)}")
    if clients < 1 or processes < 1 or total_requests < 0 or max_seconds <= 0:
        raise ValueError("clients, processes >= 1, total_requests >= 0 and max_seconds > 0 required")
    connect_host = "127.0.0.1" if host == "localhost" else host
    host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    processes = min(processes, clients)
    encoded = [[(r.encode(host_header), r.method.upper() == "HEAD") for r in plan] for plan in scenario.plans]
    shares = [list(range(k, clients, processes)) for k in range(processes)]  # client i -> process i % P
    quotas = [total_requests * len(s) // clients for s in shares]
    for k in range(total_requests - sum(quotas)):
        quotas[k] += 1
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs: list[Any] = []
    readers: list[Connection] = []
    try:
        for share, quota in zip(shares, quotas, strict=True):
            r, w = ctx.Pipe(duplex=False)
            job = _Job(connect_host, port, [encoded[i % len(encoded)] for i in share], quota, max_seconds, grace,
                       connect_timeout)
            p = ctx.Process(target=_worker, args=(job, start, w), daemon=True, name="loadgen-worker")
            p.start()
            w.close()
            procs.append(p)
            readers.append(r)
        _collect(readers, 60.0 + connect_timeout, "readiness")
        start.set()
        outs = _collect(readers, max_seconds + grace + 30.0, "results")
    finally:
        for p in procs:
            p.join(timeout=3.0)
            if p.is_alive():
                p.terminate()
                p.join()
    lat_ms = sorted(x * 1000.0 for o in outs for x in o["lat"])
    statuses: dict[int, int] = {}
    kinds: dict[str, int] = {}
    for o in outs:
        for code, n in o["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
        for name, n in o["error_kinds"].items():
            kinds[name] = kinds.get(name, 0) + n
    duration = max(o["t1"] for o in outs) - min(o["t0"] for o in outs)
    completed = len(lat_ms)
    return Result(
        completed=completed, attempts=sum(o["attempts"] for o in outs), duration_s=duration,
        throughput=completed / duration if duration > 0 else 0.0,
        p50_ms=_pct(lat_ms, 50), p90_ms=_pct(lat_ms, 90), p99_ms=_pct(lat_ms, 99),
        max_ms=lat_ms[-1] if lat_ms else 0.0, mean_ms=sum(lat_ms) / completed if completed else 0.0,
        statuses=dict(sorted(statuses.items())), errors=sum(o["errors"] for o in outs), error_kinds=kinds,
        unfinished=sum(o["unfinished"] for o in outs),
        stopped_by="requests" if all(o["remaining"] == 0 for o in outs) else "time",
        clients=clients, processes=processes, cpu_user_s=sum(o["user"] for o in outs),
        cpu_sys_s=sum(o["sys"] for o in outs), process_cpu_s=[o["user"] + o["sys"] for o in outs],
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Loopback HTTP/1.1 keep-alive load generator")
    ap.add_argument("--url", required=True, help="http://127.0.0.1:PORT/path (loopback only)")
    ap.add_argument("--method", default="GET")
    ap.add_argument("--header", action="append", default=[], metavar="'Name: value'")
    ap.add_argument("--body", help="request body sent verbatim (Content-Type defaults to application/json)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--max-seconds", type=float, default=20.0)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    u = urlsplit(a.url)
    if u.scheme != "http" or not u.hostname:
        ap.error("--url must be http://HOST:PORT/path")
    headers = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in a.header)]
    if a.body is not None and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    req = Request(a.method, path, tuple(headers), body=None if a.body is None else a.body.encode())
    try:
        res = run_load(u.hostname, u.port or 80, Scenario.same(req), a.clients, a.processes, a.requests, a.max_seconds)
    except ValueError as exc:
        ap.error(str(exc))
    print(json.dumps(res.to_dict(), indent=2) if a.json else res.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
