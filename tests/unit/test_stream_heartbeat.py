"""The stream's heartbeat: a screen is pinged when nothing was sent to it for HEARTBEAT_S, by its
sender or by the hub's direct writes; a screen of a busy hall, fed by direct writes, is not
pinged at all (a thousand of them would otherwise each take the slow send path every 15 s)."""
from __future__ import annotations

import asyncio

import pytest

from kiosk_server.api.routers import display
from kiosk_server.realtime.hub import EventHub


class FakeWs:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


def ev(seq: int) -> dict:
    return {"seq": seq, "type": "ticket.called", "zone": "A", "ticket": {"number": f"A{seq:03d}"}}


def test_a_screen_fed_by_direct_writes_is_not_pinged_and_a_quiet_one_is(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(display, "HEARTBEAT_S", 0.1)

    async def main() -> None:
        hub = EventHub()
        busy, quiet = hub.subscribe(), hub.subscribe(zones=["B"])  # quiet: wants none of these events
        written: list[bytes] = []
        for sub in (busy, quiet):
            sub.direct = lambda data: written.append(data) or True
        ws_busy, ws_quiet = FakeWs(), FakeWs()
        tasks = [asyncio.create_task(display._send(ws_busy, hub, busy)),
                 asyncio.create_task(display._send(ws_quiet, hub, quiet))]
        for seq in range(1, 16):  # 0.45 s of events, every 30 ms
            hub.publish([ev(seq)])
            await asyncio.sleep(0.03)
        assert busy.last == 15 and len(written) == 15
        assert ws_busy.sent == []  # everything went by direct writes: nothing to ping about
        assert ws_quiet.sent and set(ws_quiet.sent) == {display.PING_TEXT}
        await asyncio.sleep(0.35)  # now quiet too: pinged within two heartbeats
        assert ws_busy.sent and set(ws_busy.sent) == {display.PING_TEXT}
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    asyncio.run(main())
