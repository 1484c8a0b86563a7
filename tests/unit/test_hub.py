"""The event hub's delivery: an idle screen with a direct writer gets its events as one write of
frames built once; a busy or backed-up screen gets them through its bounded queue, in order;
a queue that overflows drops the screen."""
from __future__ import annotations

import asyncio

import orjson

from kiosk_server.realtime.hub import EventHub, text_frame


def ev(seq: int, zone: str | None = "A") -> dict:
    e = {"seq": seq, "type": "ticket.called", "ticket": {"number": f"A{seq:03d}"}}
    if zone:
        e["zone"] = zone
    return e


async def turns(n: int = 3) -> None:
    """Direct writes happen a couple of loop turns after publish."""
    for _ in range(n):
        await asyncio.sleep(0)


class FakeWriter:
    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.writes: list[bytes] = []

    def __call__(self, data: bytes) -> bool:
        if self.accept:
            self.writes.append(data)
        return self.accept


def test_an_idle_screen_gets_its_events_in_one_direct_write():
    async def main() -> None:
        hub = EventHub()
        a, b = hub.subscribe(), hub.subscribe(zones=["B"])
        a.direct, b.direct = FakeWriter(), FakeWriter()
        hub.publish([ev(1), ev(2, zone=None), ev(3, zone="B")])
        assert a.direct.writes == []  # the answers of the requests go first
        await turns()
        assert a.direct.writes == [b"".join(text_frame(orjson.dumps(e)) for e in (ev(1), ev(2, None), ev(3, "B")))]
        assert b.direct.writes == [text_frame(orjson.dumps(ev(2, None))) + text_frame(orjson.dumps(ev(3, "B")))]
        assert (a.last, b.last) == (3, 3) and a.queue.empty() and hub.direct_writes == 2
        hub.publish([ev(3)])  # already sent: not again
        await turns()
        assert len(a.direct.writes) == 1
    asyncio.run(main())


def test_a_busy_or_backed_up_screen_is_fed_through_its_queue_in_order():
    async def main() -> None:
        hub = EventHub()
        busy, full = hub.subscribe(), hub.subscribe()
        busy.direct, full.direct = FakeWriter(), FakeWriter(accept=False)
        busy.busy = True
        hub.publish([ev(1)])
        await turns()
        busy.busy = False
        hub.publish([ev(2)])  # something is queued: behind it, not around it
        await turns()
        assert busy.direct.writes == [] and [busy.queue.get_nowait()["seq"] for _ in range(2)] == [1, 2]
        assert [full.queue.get_nowait()["seq"]] == [1] and full.queue.get_nowait()["seq"] == 2
    asyncio.run(main())


def test_a_screen_whose_queue_overflows_is_dropped():
    async def main() -> None:
        hub = EventHub(queue_size=3)
        slow, other = hub.subscribe(), hub.subscribe()
        other.direct = FakeWriter()
        hub.publish([ev(i) for i in range(1, 6)])
        await turns()
        assert slow.closed_reason == "slow" and slow.closed.is_set() and hub.dropped_subscribers == 1
        assert other.closed_reason is None and other.last == 5
        hub.publish([ev(6)])
        await turns()
        assert slow.queue.qsize() == 3  # nothing more for a dropped screen
    asyncio.run(main())


def test_text_frames_have_the_right_length_encoding():
    assert text_frame(b"x") == b"\x81\x01x"
    assert text_frame(b"x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert text_frame(b"x" * 70000)[:10] == b"\x81\x7f" + (70000).to_bytes(8, "big")


def test_a_quiet_stream_is_pinged(api, monkeypatch):
    from kiosk_server.api.routers import display
    monkeypatch.setattr(display, "HEARTBEAT_S", 0.05)  # 15 s in service
    with api.client.websocket_connect(f"/api/v1/display/stream?token={api.token('S1')}") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        assert ws.receive_json() == {"type": "ping"}
        api.issue("A")
        assert ws.receive_json()["type"] == "ticket.issued"
