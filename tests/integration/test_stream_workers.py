"""PostgreSQL with four uvicorn workers: screens connected to every worker receive every call
exactly once, in seq order (acceptance 3 of the hall-screen issue).

A real `kiosk-server serve --workers 4` on a real PostgreSQL. Screens are opened one by one
until every worker serves at least one (each stream's handshake names its worker's pid in
`x-hall-worker`); then eight windows call through the HTTP API, concurrently, so the calls are
made on whichever workers accept them. Each screen must end with exactly the `ticket.called`
events of the events table, in seq order, and every event it got in strictly increasing seq."""
from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.live import Screen, live_hall

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(120)]

WORKERS = 4
WINDOWS = 8
CALLS_PER_WINDOW = 5
MIN_SCREENS = 8
MAX_SCREENS = 64


def test_screens_on_every_worker_receive_every_call_once_in_seq_order(tmp_path: Path, pg_url: str):
    with live_hall(tmp_path, pg_url, windows=WINDOWS, workers=WORKERS, start_timeout_s=60) as hall:
        hall.issue(WINDOWS * CALLS_PER_WINDOW)
        token = hall.token("S1")

        async def main() -> list[Screen]:
            screens: list[Screen] = []
            tasks: list[asyncio.Task[None]] = []
            try:
                while len(screens) < MAX_SCREENS and (len(screens) < MIN_SCREENS
                                                      or len({s.worker for s in screens}) < WORKERS):
                    s = Screen(hall.ws_url, token, name=f"screen{len(screens)}")
                    connected = asyncio.Event()
                    tasks.append(asyncio.create_task(s.run(connected)))
                    await asyncio.wait_for(connected.wait(), 10)
                    screens.append(s)
                workers = Counter(s.worker for s in screens)
                assert len(workers) == WORKERS and None not in workers, f"screens per worker: {workers}"
                await asyncio.sleep(0.3)  # every screen has its snapshot

                async with httpx.AsyncClient(base_url=hall.server.base_url, timeout=20, trust_env=False,
                                             limits=httpx.Limits(max_connections=WINDOWS)) as http:
                    async def window(code: str) -> None:
                        for _ in range(CALLS_PER_WINDOW):
                            r = await http.post(f"/api/v1/windows/{code}/call-next", headers=hall.clerks[code],
                                                params={"finish_current": "true"})
                            assert r.status_code == 200, r.text
                    await asyncio.gather(*(window(code) for code in hall.windows))

                want = WINDOWS * CALLS_PER_WINDOW
                for _ in range(200):  # bounded: 10 s
                    if all(len(s.arrivals("ticket.called")) >= want for s in screens):
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)  # a duplicate would arrive now
                return screens
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        screens = asyncio.run(asyncio.wait_for(main(), 60))
        calls = [e["seq"] for e in hall.events("ticket.called")]

    assert len(calls) == WINDOWS * CALLS_PER_WINDOW
    for s in screens:
        messages = s.decoded()
        assert messages[0]["type"] == "snapshot", s.name
        events = [m for m in messages if "seq" in m and m["type"] != "snapshot"]
        seqs = [m["seq"] for m in events]
        assert seqs == sorted(set(seqs)), f"{s.name} (worker {s.worker}): duplicates or out of order"
        got = [m["seq"] for m in events if m["type"] == "ticket.called"]
        assert got == calls, f"{s.name} (worker {s.worker}): {len(got)} of {len(calls)} calls"
