"""A screen that never reads delays no other screen; it is dropped with close code 1013
(acceptance 5 of the hall-screen issue).

A real `kiosk-server serve` (SQLite, one worker: every screen shares the one event loop, the
worst case). Six screens read normally; one does the websocket handshake over a plain socket
with a 4 KiB receive buffer and then reads nothing. Kiosks issue and eight windows call in
bulk, round after round, until the server reports the silent screen dropped (its queue of
1,000 events overflowed behind the full socket buffers). Meanwhile every call must reach every
reading screen, and promptly: latency from `call-next` returning to the event's arrival is
bounded. Afterwards the server is healthy and accepts a new screen, and the silent screen,
when it finally reads, finds what was buffered and then the close frame 1013."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.support.live import STREAM, LiveHall, RawScreen, Screen, live_hall

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FAST = 4
WINDOWS = 8
ROUND = 150                  # tickets issued and called per round
MAX_ROUNDS = 20
P99_MS = 250.0               # generous: two shared cores run the server, the screens and the load
MAX_MS = 1000.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def one_round(http: httpx.AsyncClient, hall: LiveHall, done_at: dict[int, tuple[float, float]]) -> None:
    async def issuer(k: int) -> None:
        for i in range(ROUND // 4):
            r = await http.post("/api/v1/tickets", headers=hall.kiosk, json={"zone": "AB"[(i + k) % 2]})
            assert r.status_code == 201, r.text

    async def window(code: str) -> None:
        for _ in range(ROUND // WINDOWS + 2):
            sent = time.monotonic()
            r = await http.post(f"/api/v1/windows/{code}/call-next", headers=hall.clerks[code],
                                params={"finish_current": "true"})
            if r.status_code == 204:      # the queue is empty for now
                await asyncio.sleep(0.02)
                continue
            assert r.status_code == 200, r.text
            done_at[r.json()["id"]] = (sent, time.monotonic())

    await asyncio.gather(*(issuer(k) for k in range(4)))
    await asyncio.gather(*(window(code) for code in hall.windows))


def test_a_screen_that_never_reads_is_dropped_and_delays_no_other(tmp_path: Path):
    with live_hall(tmp_path, f"sqlite:///{tmp_path / 'hall.db'}", windows=WINDOWS) as hall:
        token = hall.token("S1")
        done_at: dict[int, tuple[float, float]] = {}  # ticket id -> when its call-next was sent, returned

        async def main() -> tuple[list[Screen], RawScreen, int, Screen, dict[str, float]]:
            screens = [Screen(hall.ws_url, token, name=f"fast{i}") for i in range(FAST)]
            tasks = []
            for s in screens:
                connected = asyncio.Event()
                tasks.append(asyncio.create_task(s.run(connected)))
                await asyncio.wait_for(connected.wait(), 10)
            slow = RawScreen("127.0.0.1", hall.server.port, STREAM, token)
            assert slow.status == 101
            try:
                rounds = 0
                async with httpx.AsyncClient(base_url=hall.server.base_url, timeout=20, trust_env=False) as http:
                    while rounds < MAX_ROUNDS:
                        await one_round(http, hall, done_at)
                        rounds += 1
                        if (await asyncio.to_thread(hall.metrics))["hall_stream_dropped_total"] >= 1:
                            break
                calls = len(done_at)
                for _ in range(100):  # bounded: 5 s for the last events to arrive
                    if all(len(s.arrivals("ticket.called")) >= calls for s in screens):
                        break
                    await asyncio.sleep(0.05)
                # The server is healthy: a new screen gets its snapshot at once.
                late = Screen(hall.ws_url, token, name="late")
                connected = asyncio.Event()
                tasks.append(asyncio.create_task(late.run(connected)))
                await asyncio.wait_for(connected.wait(), 5)
                for _ in range(40):
                    if late.messages:
                        break
                    await asyncio.sleep(0.05)
                metrics = await asyncio.to_thread(hall.metrics)
                return screens, slow, rounds, late, metrics
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        try:
            screens, slow, rounds, late, metrics = asyncio.run(asyncio.wait_for(main(), 90))
            t0 = time.monotonic()
            health = hall.http.get("/healthz")
            health_ms = (time.monotonic() - t0) * 1000
            called = hall.events("ticket.called")
            texts, code, ended = slow.read_until_close(15)
        finally:
            slow.close()

    assert metrics["hall_stream_dropped_total"] == 1, f"not dropped after {rounds} rounds: {metrics}"
    assert metrics["hall_stream_subscribers"] == FAST + 1  # the reading screens and the late one
    assert health.status_code == 200 and health_ms < 500, (health.status_code, health_ms)
    assert late.decoded()[0]["type"] == "snapshot"

    by_ticket = {e["seq"]: e["ticket"]["id"] for e in called}
    latencies, from_sent = [], []  # after call-next returned (0 if before), and since it was sent
    for s in screens:
        arrivals = s.arrivals("ticket.called")
        assert list(arrivals) == list(by_ticket), f"{s.name}: {len(arrivals)} of {len(by_ticket)} calls"
        for seq, t in arrivals.items():
            sent, returned = done_at[by_ticket[seq]]
            latencies.append(max(0.0, (t - returned) * 1000))
            from_sent.append((t - sent) * 1000)
        assert s.close_code is None or s.close_code != 1013, s.name
    p50, p99, worst = pct(latencies, 50), pct(latencies, 99), max(latencies)
    print(f"\n{len(by_ticket)} calls in {rounds} rounds to {FAST} screens: after call-next returned p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms, max {worst:.1f} ms (from sending it: p50 {pct(from_sent, 50):.1f}, "
          f"p99 {pct(from_sent, 99):.1f} ms); the silent screen read {len(texts)} messages, then {ended} {code}")
    assert p99 <= P99_MS and worst <= MAX_MS, (p50, p99, worst)

    # The silent screen: what was buffered for it, then the close frame 1013.
    assert ended == "close" and code == 1013, (ended, code)
    assert texts and texts[0].startswith('{"type":"snapshot"')
    assert len(texts) < 3 * len(by_ticket)  # it was cut off, not fed everything
