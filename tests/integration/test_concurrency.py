"""Load and crash tests through real HTTP against a real `kiosk-server serve` process: SQLite
with one worker, PostgreSQL with four.

64 kiosk clients (one keep-alive connection pool) issue 640 tickets in zones A and B while 16
windows, each opened by its own clerk, call, start and finish them until the queue is empty or
the time is up (tickets may be left waiting). Afterwards the database and the API must agree
that no number was given twice or skipped, no ticket was called twice, no window ever held two
tickets, every acknowledged ticket exists exactly once, the counts add up, and nothing answered
5xx or dropped a connection. The crash test SIGKILLs the whole server (supervisor and workers)
in the middle of issuing, restarts it, and checks that every ticket acknowledged before the kill
survived and that numbering continues right above the last committed number.

Every loop is bounded by count and time; all traffic goes to 127.0.0.1."""
from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kiosk_server.db import tables as T
from tests.support.hall import (
    PASSWORD, PreparedHall, add_clerks, import_config, prepare, use_cheap_password_hashes, window_codes,
    write_load_config,
)
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.slow

ZONES = ("A", "B")
ISSUERS = 64
PER_ISSUER = 10                  # 64 × 10 = 640 tickets
WINDOWS = 16
LOAD_DEADLINE_S = 30.0           # the load phase (issuing, then draining), not counting a restart
EMPTY_QUEUE_SLEEP_S = 0.1        # a window that got 204 waits this long before calling again
REQUEST_TIMEOUT_S = 30.0
KEEPALIVE_EXPIRY_S = 2.0         # below uvicorn's 5 s keep-alive timeout, so the client never reuses
                                 # a connection the server is closing for idleness
KILL_AFTER = 200                 # crash test: SIGKILL once this many tickets were acknowledged
START_TIMEOUT_S = {1: 20.0, 4: 45.0}  # four workers import the app at once on two cores
CALL_NEXT_HEADERS: dict[str, str] = {}
KNOWN_SERVER_ERRORS: tuple[str, ...] = ()


# ---------------------------------------------------------------- a hall served by a real process

@dataclass
class LiveHall:
    kind: str
    prepared: PreparedHall
    server: ServerProcess
    clerks: dict[str, str]           # window code -> clerk username


@pytest.fixture(params=[pytest.param(("sqlite", 1), id="sqlite-1worker"),
                        pytest.param(("postgres", 4), id="postgres-4workers", marks=pytest.mark.postgres)])
def live_hall(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveHall]:
    kind, workers = request.param
    url = f"sqlite:///{tmp_path / 'hall.db'}" if kind == "sqlite" else request.getfixturevalue("pg_url")
    prepared = prepare(url)
    port = free_port()
    config = write_load_config(tmp_path / "hall.toml", url, port, workers, windows=WINDOWS, zones=ZONES)
    import_config(prepared, config)
    clerks = {code: f"clerk_{code.lower()}" for code in window_codes(WINDOWS)}
    add_clerks(prepared, list(clerks.values()))
    use_cheap_password_hashes(prepared)  # see its docstring: `serve` start-up cost
    server = ServerProcess(config, prepared.env, port=port, workers=workers, log_file=tmp_path / "server.log",
                           start_timeout_s=START_TIMEOUT_S[workers])
    server.start()
    try:
        yield LiveHall(kind, prepared, server, clerks)
    finally:
        server.stop()
        prepared.db.dispose()


# ---------------------------------------------------------------- the load

class Lost(Exception):
    """The request got no answer (connection refused, reset, closed)."""


@dataclass
class Load:
    hall: LiveHall
    issuers: int = ISSUERS
    per_issuer: int = PER_ISSUER
    kill_after: int | None = None
    gen: int = 0                                           # server incarnation
    down: bool = False                                     # between kill and healthy restart
    clients: dict[int, httpx.AsyncClient] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # window code -> clerk bearer token
    acks: dict[int, dict[str, Any]] = field(default_factory=dict)  # ticket id -> 201 body + gen
    lost_issues: Counter[int] = field(default_factory=Counter)    # gen -> issue requests without answer
    not_sent: int = 0                                      # issue requests left out at the deadline
    calls: list[tuple[str, int]] = field(default_factory=list)   # (window, ticket id) seen in 200s
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None                 # the database right after the kill
    t_issue_s: float = 0.0
    t_drain_s: float = 0.0
    restart_s: float | None = None
    requests: int = 0

    def __post_init__(self) -> None:
        self.server_up = asyncio.Event()
        self.server_up.set()
        self.issue_done = asyncio.Event()
        self.deadline = time.monotonic() + LOAD_DEADLINE_S

    @property
    def total(self) -> int:
        return self.issuers * self.per_issuer

    def new_client(self) -> None:
        n = self.issuers + WINDOWS + 8
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=KEEPALIVE_EXPIRY_S)
        self.clients[self.gen] = httpx.AsyncClient(base_url=self.hall.server.base_url, limits=limits,
                                                   timeout=REQUEST_TIMEOUT_S, trust_env=False)

    async def request(self, endpoint: str, method: str, path: str, token: str, json: Any = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        gen = self.gen
        self.requests += 1
        try:
            r = await self.clients[gen].request(method, path, json=json,
                                                headers={"Authorization": f"Bearer {token}", **(headers or {})})
        except httpx.TransportError as e:
            if not self.down and gen == self.gen:  # not explained by a kill
                self.unexpected.append(f"{endpoint} {path}: no answer: {e!r}")
            raise Lost from e
        self.statuses[(endpoint, r.status_code)] += 1
        if r.status_code >= 500:
            self.unexpected.append(f"{endpoint} {path}: {r.status_code} {r.text[:300]}")
        return r

    def expect(self, r: httpx.Response, status: int, what: str) -> bool:
        if r.status_code != status:
            self.unexpected.append(f"{what}: expected {status}, got {r.status_code} {r.text[:300]}")
            return False
        return True

    # -------------------------------------------------------------- set-up through the API

    async def sign_in_and_open(self) -> None:
        client = self.clients[self.gen]

        async def one(code: str, username: str) -> None:
            r = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.tokens[code] = r.json()["token"]
            r = await client.post(f"/api/v1/windows/{code}/open", headers={"Authorization": f"Bearer {self.tokens[code]}"})
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "open"
        await asyncio.gather(*(one(code, user) for code, user in self.hall.clerks.items()))

    # -------------------------------------------------------------- kiosks

    async def issuer(self, i: int) -> None:
        kiosk = self.hall.prepared.device_tokens["K1"]
        for k in range(self.per_issuer):
            if time.monotonic() > self.deadline:
                self.not_sent += self.per_issuer - k
                return
            zone = ZONES[(i + k) % len(ZONES)]
            gen = self.gen
            try:
                r = await self.request("issue", "POST", "/api/v1/tickets", kiosk, {"zone": zone})
            except Lost:
                self.lost_issues[gen] += 1
                await self.server_up.wait()
                continue
            if not self.expect(r, 201, f"issue in {zone}"):
                continue
            body = r.json()
            if body["id"] in self.acks:
                self.unexpected.append(f"ticket id {body['id']} acknowledged twice")
            if body["zone"]["code"] != zone or not body["number"].startswith(zone):
                self.unexpected.append(f"issue in {zone} answered {body['zone']} {body['number']}")
            self.acks[body["id"]] = {"number": body["number"], "zone": zone, "gen": gen,
                                     "business_date": body["business_date"], "status": body["status"]}

    async def issuing(self) -> None:
        t0 = time.monotonic()
        try:
            await asyncio.gather(*(self.issuer(i) for i in range(self.issuers)))
        finally:
            self.t_issue_s = time.monotonic() - t0
            self.issue_done.set()

    # -------------------------------------------------------------- windows

    async def serve(self, code: str, ticket_id: int, status: str) -> bool:
        """Start (if called) and finish a ticket at the window. False when the server refused."""
        token = self.tokens[code]
        if status == "called":
            r = await self.request("start", "POST", f"/api/v1/tickets/{ticket_id}/start", token)
            if not self.expect(r, 200, f"{code} start {ticket_id}"):
                return False
            if r.json()["status"] != "serving":
                self.unexpected.append(f"{code} start {ticket_id}: status {r.json()['status']}")
        r = await self.request("finish", "POST", f"/api/v1/tickets/{ticket_id}/finish", token)
        if not self.expect(r, 200, f"{code} finish {ticket_id}"):
            return False
        if r.json()["status"] != "served":
            self.unexpected.append(f"{code} finish {ticket_id}: status {r.json()['status']}")
        return True

    async def resync(self, code: str) -> None:
        """After a lost or refused answer: finish whatever the window holds according to the server."""
        for _ in range(20):
            await self.server_up.wait()
            try:
                r = await self.request("windows", "GET", "/api/v1/windows", self.tokens[code])
                if not self.expect(r, 200, f"{code} list windows"):
                    return
                w = next(w for w in r.json() if w["code"] == code)
                if w["state"] != "open":
                    self.unexpected.append(f"window {code} is {w['state']} after the restart")
                current = w["current_ticket"]
                if current is not None:
                    await self.serve(code, current["id"], current["status"])
                return
            except Lost:
                continue
        self.unexpected.append(f"window {code}: could not resynchronise")

    async def window(self, code: str) -> None:
        token = self.tokens[code]
        max_rounds = 4 * self.total // WINDOWS + int(LOAD_DEADLINE_S / EMPTY_QUEUE_SLEEP_S)
        for _ in range(max_rounds):
            if time.monotonic() > self.deadline:
                return
            drained_if_empty = self.issue_done.is_set() and self.server_up.is_set()
            try:
                r = await self.request("call-next", "POST", f"/api/v1/windows/{code}/call-next", token,
                                       headers=CALL_NEXT_HEADERS)
                if r.status_code == 204:
                    if drained_if_empty:
                        return
                    await asyncio.sleep(EMPTY_QUEUE_SLEEP_S)
                    continue
                if not self.expect(r, 200, f"{code} call-next"):
                    await asyncio.sleep(EMPTY_QUEUE_SLEEP_S)
                    await self.resync(code)
                    continue
                t = r.json()
                self.calls.append((code, t["id"]))
                if t["status"] != "called" or (t.get("window") or {}).get("code") != code:
                    self.unexpected.append(f"{code} call-next answered {t['number']} {t['status']} {t.get('window')}")
                if not await self.serve(code, t["id"], "called"):
                    await self.resync(code)
            except Lost:
                await self.resync(code)

    async def draining(self) -> None:
        t0 = time.monotonic()
        await asyncio.gather(*(self.window(code) for code in self.tokens))
        self.t_drain_s = time.monotonic() - t0

    # -------------------------------------------------------------- the crash

    async def crasher(self) -> None:
        assert self.kill_after is not None
        while len(self.acks) < self.kill_after:
            if self.issue_done.is_set() or time.monotonic() > self.deadline:
                self.unexpected.append(f"issuing ended before {self.kill_after} acknowledgements: no crash")
                return
            await asyncio.sleep(0.002)
        self.server_up.clear()
        self.down = True
        t_kill = time.monotonic()
        await asyncio.to_thread(self.hall.server.kill)
        self.snapshot = await asyncio.to_thread(db_snapshot, self.hall.prepared)
        t0 = time.monotonic()
        await asyncio.to_thread(self.hall.server.start)
        self.restart_s = time.monotonic() - t0
        self.deadline += time.monotonic() - t_kill  # the outage does not eat the load's time
        self.gen += 1
        self.new_client()  # fresh connections: the old ones died with the server
        self.down = False
        self.server_up.set()

    async def run(self) -> None:
        self.new_client()
        try:
            await self.sign_in_and_open()
            self.deadline = time.monotonic() + LOAD_DEADLINE_S
            jobs = [self.issuing(), self.draining()]
            if self.kill_after is not None:
                jobs.append(self.crasher())
            await asyncio.gather(*jobs)
        finally:
            for c in self.clients.values():
                await c.aclose()


# ---------------------------------------------------------------- what the database says

def db_snapshot(prepared: PreparedHall) -> dict[str, Any]:
    tk, z = T.tickets, T.zones
    with prepared.db.read() as conn:
        rows = conn.execute(select(tk.c.id, z.c.code.label("zone"), tk.c.business_date, tk.c.seq, tk.c.number,
                                   tk.c.status, tk.c.window_id)
                            .select_from(tk.join(z, z.c.id == tk.c.zone_id)).order_by(tk.c.id)).mappings().all()
        counters = {(code, day): value for code, day, value in conn.execute(
            select(z.c.code, T.counters.c.business_date, T.counters.c.value)
            .select_from(T.counters.join(z, z.c.id == T.counters.c.zone_id)))}
        history = conn.execute(select(T.ticket_history).order_by(T.ticket_history.c.id)).mappings().all()
        windows = dict(conn.execute(select(T.windows.c.id, T.windows.c.code)).all())
    return {"tickets": [dict(r) for r in rows], "counters": counters, "history": [dict(h) for h in history],
            "windows": windows}


def check_numbers(tickets: list[dict[str, Any]], counters: dict[tuple[str, Any], int]) -> list[str]:
    """Unique and gapless numbering per zone and day, in agreement with the day counters."""
    problems = []
    by_day: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
    for t in tickets:
        by_day[(t["zone"], t["business_date"])].append(t)
    for key, ts in sorted(by_day.items(), key=str):
        seqs = [t["seq"] for t in ts]
        numbers = [t["number"] for t in ts]
        dup_seqs = sorted(s for s, n in Counter(seqs).items() if n > 1)
        dup_numbers = sorted(s for s, n in Counter(numbers).items() if n > 1)
        if dup_seqs or dup_numbers:
            problems.append(f"{key}: duplicate seqs {dup_seqs[:10]} numbers {dup_numbers[:10]}")
        if sorted(seqs) != list(range(1, len(seqs) + 1)):
            missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
            problems.append(f"{key}: numbering has gaps: {missing[:20]}")
        for t in ts:
            if t["number"] != f"{t['zone']}{t['seq']:04d}":
                problems.append(f"ticket {t['id']}: number {t['number']} for seq {t['seq']}")
        if counters.get(key) != max(seqs):
            problems.append(f"{key}: day counter {counters.get(key)} but highest seq {max(seqs)}")
    return problems


def check_history(snap: dict[str, Any]) -> list[str]:
    """Per ticket: (issue,) call, start, finish — at most one call, all at one window. Per window:
    call/start/finish of one ticket at a time, never a second call while a ticket is active."""
    problems = []
    status = {t["id"]: t for t in snap["tickets"]}
    per_ticket: dict[int, list[dict[str, Any]]] = defaultdict(list)
    per_window: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for h in snap["history"]:
        per_ticket[h["ticket_id"]].append(h)
        if h["window_id"] is not None:
            per_window[h["window_id"]].append(h)
    lifecycle = ["issue", "call", "start", "finish"]
    expected_len = {"waiting": 1, "called": 2, "serving": 3, "served": 4}
    for tid, t in status.items():
        hs = per_ticket.get(tid, [])
        if not hs or hs[0]["action"] != "issue":  # issuing writes no history row (since a0aef2e)
            hs = [{"action": "issue", "window_id": None}, *hs]
        actions = [h["action"] for h in hs]
        if actions.count("call") > 1:
            problems.append(f"ticket {t['number']} called {actions.count('call')} times: {actions}")
        if actions != lifecycle[:expected_len.get(t["status"], -1)]:
            problems.append(f"ticket {t['number']} ({t['status']}): history {actions}")
            continue
        wins = {h["window_id"] for h in hs[1:]}
        if len(wins) > 1 or (hs[1:] and wins != {t["window_id"]}):
            problems.append(f"ticket {t['number']}: acted on at windows {wins}, stands at {t['window_id']}")
    for wid, hs in per_window.items():
        code = snap["windows"][wid]
        active: tuple[int, str] | None = None  # (ticket id, status)
        for h in hs:
            a, tid = h["action"], h["ticket_id"]
            if a == "call":
                if active is not None:
                    problems.append(f"window {code}: called ticket {tid} while {active} was active")
                active = (tid, "called")
            elif a == "start" and active == (tid, "called"):
                active = (tid, "serving")
            elif a == "finish" and active == (tid, "serving"):
                active = None
            else:
                problems.append(f"window {code}: {a} of ticket {tid} while holding {active}")
    return problems


def check_outcome(load: Load) -> dict[str, Any]:
    """The checks shared by both tests; every failed check is reported together, with the figures."""
    snap = db_snapshot(load.hall.prepared)
    tickets = {t["id"]: t for t in snap["tickets"]}
    failures: list[str] = []

    def check(ok: bool, what: str, details: Any = "") -> None:
        if not ok:
            failures.append(f"{what}: {details}"[:3000])

    # Every answer was the expected one: no 5xx, no dropped connection, no refusal.
    kinds = Counter(re.sub(r"\b(W\d\d|\d+)\b", "…", u) for u in load.unexpected)
    check(not load.unexpected, f"{len(load.unexpected)} unexpected answers",
          "\n  " + "\n  ".join(f"{n} × {u}" for u, n in kinds.most_common(10)))
    errors = server_errors(load.hall.server)
    check(not errors, "errors in the server log", "\n  " + "\n  ".join(errors[:10]))

    # Every acknowledged ticket exists once, with the number it was given; nothing else was committed
    # but for requests whose answer was lost.
    missing = [(i, a["number"]) for i, a in load.acks.items() if i not in tickets]
    check(not missing, "acknowledged tickets missing from the database", missing[:20])
    wrong = [(i, a["number"], tickets[i]["number"]) for i, a in load.acks.items() if i in tickets and
             (tickets[i]["number"], tickets[i]["zone"], str(tickets[i]["business_date"]))
             != (a["number"], a["zone"], a["business_date"])]
    check(not wrong, "acknowledged tickets changed", wrong[:20])
    unacknowledged = sorted(set(tickets) - set(load.acks))
    check(len(unacknowledged) <= sum(load.lost_issues.values()),
          f"{len(unacknowledged)} tickets in the database were never acknowledged "
          f"({sum(load.lost_issues.values())} issue requests lost)", unacknowledged[:20])

    # Numbers unique and gapless per zone and day; no ticket called twice; no window holding two.
    for problem in (check_numbers(snap["tickets"], snap["counters"]) + check_history(snap))[:30]:
        failures.append(problem)
    called = Counter(tid for _w, tid in load.calls)
    check(not [t for t, n in called.items() if n > 1], "call-next answered the same ticket twice",
          [t for t, n in called.items() if n > 1][:20])
    elsewhere = [(code, tid) for code, tid in load.calls
                 if tid not in tickets or snap["windows"].get(tickets[tid]["window_id"]) != code]
    check(not elsewhere, "called tickets that stand at another window", elsewhere[:20])

    # Counts add up; every window finished what it called and served its share.
    by_status = Counter(t["status"] for t in tickets.values())
    check(sum(by_status[s] for s in ("served", "waiting", "called", "serving")) == len(tickets),
          "tickets in other states", by_status)
    check(by_status["called"] == by_status["serving"] == 0, "tickets left called or serving", by_status)
    served_at = Counter(snap["windows"][t["window_id"]] for t in tickets.values() if t["status"] == "served")
    check(set(served_at) == set(load.hall.clerks), "windows that served nobody", set(load.hall.clerks) - set(served_at))

    # The API agrees with the database.
    api = api_view(load, sorted({a["business_date"] for a in load.acks.values()}))
    db_view = {i: (t["number"], t["zone"], t["status"]) for i, t in tickets.items()}
    check(api["tickets"] == db_view, "GET /api/v1/tickets disagrees with the database",
          sorted(set(api["tickets"].items()) ^ set(db_view.items()))[:10])
    busy = [w for w in api["windows"] if w["code"] in load.hall.clerks and (w["state"] != "open" or w["current_ticket"])]
    check(not busy, "windows not open and idle at the end", busy[:5])

    figures = {"tickets": len(tickets), "acknowledged": len(load.acks), "unacknowledged_committed": len(unacknowledged),
               "lost_issue_requests": sum(load.lost_issues.values()), "not_sent": load.not_sent,
               "by_status": dict(by_status)}
    report(load, figures)
    assert not failures, (f"{len(failures)} failed checks ({figures}; server log {load.hall.server.log_file}):\n"
                          + "\n".join(failures))
    return figures


def server_errors(server: ServerProcess) -> list[str]:
    """Error entries of the server's log (JSON lines), but for the known bug above, summarised
    as "count × message: last exception line"."""
    found: Counter[str] = Counter()
    for line in server.log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") not in ("error", "critical"):
            continue
        exc = entry.get("exc") or ""
        if any(known in f"{entry.get('msg')} {exc}" for known in KNOWN_SERVER_ERRORS):
            continue
        raised = re.findall(r"^[\w.]+(?:Error|Exception|Detected|Violation)\b.*$", exc, re.M)
        found[f"{str(entry.get('msg')).strip()}: {raised[-1] if raised else exc[-300:]}"] += 1
    return [f"{n} × {what}" for what, n in found.most_common()]


def api_view(load: Load, days: list[str]) -> dict[str, Any]:
    with httpx.Client(base_url=load.hall.server.base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
        r = client.post("/api/v1/auth/login", json={"username": "op", "password": PASSWORD})
        assert r.status_code == 200, r.text
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        tickets: dict[int, tuple[str, str, str]] = {}
        for day in days:
            for offset in range(0, 100_000, 1000):
                r = client.get("/api/v1/tickets", params={"business_date": day, "limit": 1000, "offset": offset},
                               headers=h)
                assert r.status_code == 200, r.text
                page = r.json()
                for t in page:
                    assert t["id"] not in tickets, f"ticket {t['id']} listed twice"
                    tickets[t["id"]] = (t["number"], t["zone"], t["status"])
                if len(page) < 1000:
                    break
        r = client.get("/api/v1/windows", headers=h)
        assert r.status_code == 200, r.text
        return {"tickets": tickets, "windows": r.json()}


def report(load: Load, figures: dict[str, Any]) -> None:
    name = f"{'crash' if load.kill_after else 'load'} {load.hall.kind}"
    print(f"\n[{name}] {figures['acknowledged']} tickets acknowledged in {load.t_issue_s:.1f} s "
          f"({figures['acknowledged'] / max(load.t_issue_s, 1e-9):.0f} issued/s while windows called); "
          f"windows done after {load.t_drain_s:.1f} s; {load.requests} requests "
          f"({load.requests / max(load.t_drain_s, 1e-9):.0f}/s); {len(load.calls)} calls; "
          f"statuses {dict(sorted(load.statuses.items()))}; {figures}"
          + (f"; restart after kill {load.restart_s:.1f} s" if load.restart_s is not None else ""))


# ---------------------------------------------------------------- the tests

def test_concurrent_issuing_and_calling(live_hall: LiveHall) -> None:
    load = Load(live_hall)
    asyncio.run(load.run())
    figures = check_outcome(load)
    assert figures["acknowledged"] == figures["tickets"] == load.total
    assert figures["lost_issue_requests"] == 0


def test_sigkill_mid_issuing_loses_no_acknowledged_ticket(live_hall: LiveHall) -> None:
    load = Load(live_hall, kill_after=KILL_AFTER)
    asyncio.run(load.run())
    assert load.snapshot is not None, load.unexpected

    before = {i: a for i, a in load.acks.items() if a["gen"] == 0}
    after = {i: a for i, a in load.acks.items() if a["gen"] > 0}
    assert len(before) >= KILL_AFTER and after, (len(before), len(after))

    # Durable at the moment of the kill, before any restart touched the database.
    snap = {t["id"]: t for t in load.snapshot["tickets"]}
    lost = [(i, a["number"]) for i, a in before.items() if i not in snap or snap[i]["number"] != a["number"]]
    assert not lost, f"acknowledged before the kill but not in the database after it: {lost[:20]}"
    assert not check_numbers(load.snapshot["tickets"], load.snapshot["counters"])

    # Nothing committed before the kill changed or vanished with the restart.
    final = {t["id"]: t for t in db_snapshot(live_hall.prepared)["tickets"]}
    assert all(final[i]["number"] == t["number"] for i, t in snap.items())

    # Numbering continues right above the last committed number: no reuse, no gap.
    seq = {i: final[i]["seq"] for i in final}
    for zone in ZONES:
        committed = [t["seq"] for t in snap.values() if t["zone"] == zone]
        acked_before = [seq[i] for i, a in before.items() if a["zone"] == zone]
        after_seqs = [seq[i] for i, a in after.items() if a["zone"] == zone]
        assert after_seqs, zone
        assert min(after_seqs) == max(committed) + 1, (zone, max(committed), min(after_seqs))
        assert min(after_seqs) > max(acked_before)
        assert not set(after_seqs) & set(committed)
    print(f"\n[crash {live_hall.kind}] acknowledged before the kill: {len(before)}, committed at the kill: "
          f"{len(snap)}, acknowledged after the restart: {len(after)}")

    check_outcome(load)


@pytest.mark.parametrize("live_hall", [pytest.param(("sqlite", 1), id="sqlite-1worker")], indirect=True)
def test_call_next_204_leaves_the_connection_usable(live_hall: LiveHall) -> None:
    """Nobody waits: call-next answers 204, and the keep-alive connection serves the next request."""
    with httpx.Client(base_url=live_hall.server.base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False,
                      limits=httpx.Limits(max_connections=1)) as client:
        r = client.post("/api/v1/auth/login", json={"username": "clerk_w01", "password": PASSWORD})
        assert r.status_code == 200, r.text
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        assert client.post("/api/v1/windows/W01/open", headers=h).status_code == 200
        r = client.post("/api/v1/windows/W01/call-next", headers=h)
        assert r.status_code == 204 and r.content == b""
        r = client.get("/healthz")  # on the same keep-alive connection
        assert r.status_code == 200
    assert not any(k in live_hall.server.log_tail(20000) for k in KNOWN_SERVER_ERRORS)


def test_sigterm_stops_the_server(live_hall: LiveHall) -> None:
    """SIGTERM to the server's processes (systemd stop, Ctrl-C) ends the supervisor and every
    worker within 10 s (uvicorn gives open connections 5 s)."""
    live_hall.server.stop(timeout=10.0)
    assert live_hall.server.last_stop_graceful, (
        f"still running 10 s after SIGTERM (killed); log tail:\n{live_hall.server.log_tail(800)}")
    assert not live_hall.server.group_members()
