"""The stream loop against a scripted websocket server on 127.0.0.1."""
import asyncio
import json
import re
from typing import Any

import pytest

from display_client.announce import Announcer, VoicePack, write_wav
from display_client.connection import ClientConfig, DisplayClient, stream_url
from display_client.led import sign_for
from display_client.led.driver import LedDriver
from display_client.led.simulator import LedBus, TcpPort
from display_client.led.transport import SerialLink
from tests.display import wire
from tests.display.fakes import TOKEN, FakeHallServer, FakePlayer, Session, running, since_of

HALL = {"06": ("open", "A001"), "07": ("open", None), "08": ("open", None), "11": ("open", None),
        "01": ("open", None)}
PHONE_OR_ID = re.compile(r"1[3-9]\d{9}|\d{17}[\dXx]|\d{7,}")


def config(url: str, **kw: Any) -> ClientConfig:
    return ClientConfig(server=url, token=kw.pop("token", TOKEN), backoff_min_s=0.05, backoff_max_s=0.2,
                        idle_timeout_s=kw.pop("idle_timeout_s", 5.0), **kw)


# ---------------------------------------------------------------- the main walk

async def first(s: Session) -> None:
    assert "since" not in s.query
    await s.send(wire.snapshot(10, HALL, [wire.called(9, 1, "A001", "06")], {"A": 5, "B": 2}),
                 wire.called(11, 2, "A002", "07"), {"type": "ping"}, wire.called(12, 3, "B001", "11"))
    await s.ws.close(1013, "too slow; reconnect with since")


async def second(s: Session) -> None:
    await s.send(wire.called(13, 2, "A002", "07", recall=True),
                 wire.issued(15, 9, "A009", 6))                      # 14 never arrives: a gap
    await s.expect({"type": "snapshot"})
    await s.send(wire.snapshot(15, {**HALL, "06": ("open", "A003"), "07": ("open", "A002"), "11": ("open", "B001")},
                               [wire.called(14, 4, "A003", "06"), wire.called(13, 2, "A002", "07", recall=True),
                                wire.called(12, 3, "B001", "11"), wire.called(11, 2, "A002", "07"),
                                wire.called(9, 1, "A001", "06")], {"A": 6, "B": 1}),
                 wire.called(16, 5, "B002", "08"))
    await asyncio.sleep(0.1)
    s.abort()


async def third(s: Session) -> None:
    # a server that lost the history answers `since` with a snapshot: every call in it is old
    await s.send(wire.snapshot(16, {**HALL, "06": ("open", "A003"), "07": ("open", "A002"), "11": ("open", "B001"),
                                    "08": ("open", "B002")},
                               [wire.called(16, 5, "B002", "08"), wire.called(14, 4, "A003", "06"),
                                wire.called(13, 2, "A002", "07", recall=True)]),
                 wire.called(17, 6, "A004", "01"))
    s.server.finished.set()
    await s.ws.wait_closed()


def test_reconnects_with_since_resyncs_on_a_gap_and_never_announces_a_call_twice():
    pack = VoicePack()
    player = FakePlayer()

    async def main():
        bus = LedBus(sign_for("stx"))
        tcp = TcpPort(bus)
        try:
            async with FakeHallServer([first, second, third]) as server:
                announcer = Announcer(pack, player, repeat=2, pause_s=0.01)
                led = LedDriver(SerialLink(tcp.url), sign_for("stx"), poll_s=0.05, retry_min_s=0.05)
                client = DisplayClient(config(server.url), announcer=announcer, leds=[led])
                async with running(client.run(), announcer.run(), led.run()):
                    await asyncio.wait_for(server.finished.wait(), 10)
                    await asyncio.sleep(0.1)
                    await asyncio.wait_for(announcer.join(), 10)
                    expected_led = {6: "A003 请到06号窗口", 7: "A002 请到07号窗口", 11: "B001 请到11号窗口",
                                    8: "B002 请到08号窗口", 1: "A004 请到01号窗口"}
                    assert await asyncio.to_thread(bus.wait_for, lambda shown: shown == expected_led, 5), bus.shown
                assert [since_of(p) for p, _ in server.requests] == [None, "12", "16"]
                assert all(auth == f"Bearer {TOKEN}" for _, auth in server.requests)
                assert all("token" not in p for p, _ in server.requests)
                assert server.received == [{"type": "snapshot"}]
                assert client.state.seq == 17 and not client.state.needs_resync
                assert client.state.waiting == {"A": 3, "B": 0}  # the last snapshot, then event 17
                assert client.connects == 3
        finally:
            tcp.close()

    asyncio.run(asyncio.wait_for(main(), 30))
    heard = [("A002", "07"), ("B001", "11"), ("A002", "07"), ("B002", "08"), ("A004", "01")]
    prelude = write_wav(pack.prelude)
    expected = []
    for number, window in heard:
        body = write_wav(pack.voice(wire.tokens(number, window)))
        expected += [prelude, body, body]
    assert [wav for _, _, wav in player.plays] == expected


# ---------------------------------------------------------------- details

def test_a_call_whose_ticket_left_the_window_before_its_turn_is_not_announced():
    async def replay(s: Session) -> None:
        await s.send(wire.snapshot(1, HALL), wire.called(2, 7, "A005", "07"),
                     wire.ticket_event(3, "served", 7, "A005", "07"), wire.called(4, 8, "A006", "07"))
        s.server.finished.set()
        await s.ws.wait_closed()

    player = FakePlayer()
    pack = VoicePack()

    async def main():
        async with FakeHallServer([replay]) as server:
            announcer = Announcer(pack, player, repeat=1)
            client = DisplayClient(config(server.url), announcer=announcer)
            async with running(client.run()):
                await asyncio.wait_for(server.finished.wait(), 10)
                await asyncio.sleep(0.1)
                assert announcer.pending == 2
                async with running(announcer.run()):  # the player gets its turn only now
                    await asyncio.wait_for(announcer.join(), 10)
            assert announcer.skipped == 1 and announcer.announced == 1

    asyncio.run(asyncio.wait_for(main(), 30))
    assert [wav for _, _, wav in player.plays] == [write_wav(pack.prelude),
                                                   write_wav(pack.voice(wire.tokens("A006", "07")))]


def test_no_message_or_frame_carries_a_phone_or_id_number():
    leaky_call = wire.called(3, 7, "A005", "07")
    leaky_call["ticket"]["phone"] = "13800138000"
    leaky_call["ticket"]["id_number"] = "43040219900101123X"
    bad_number = wire.called(4, 8, "13912345678", "08")  # a phone number where the ticket number goes

    async def leaky(s: Session) -> None:
        await s.send(wire.snapshot(1, HALL), wire.issued(2, 7, "A005", 1), leaky_call, bad_number)
        s.server.finished.set()
        await s.ws.wait_closed()

    player = FakePlayer()
    pack = VoicePack()

    async def main():
        bus = LedBus(sign_for("aa55"))
        tcp = TcpPort(bus)
        try:
            async with FakeHallServer([leaky]) as server:
                announcer = Announcer(pack, player, repeat=1)
                led = LedDriver(SerialLink(tcp.url), sign_for("aa55"), poll_s=0.05)
                client = DisplayClient(config(server.url), announcer=announcer, leds=[led])
                async with running(client.run(), announcer.run(), led.run()):
                    await asyncio.wait_for(server.finished.wait(), 10)
                    assert await asyncio.to_thread(bus.wait_for, lambda shown: shown.get(7) == "A005 请到07号窗口"
                                                   and 8 in shown, 5)
                    await asyncio.wait_for(announcer.join(), 10)
            assert "请到08号窗口" in bus.shown[8]
            out = [json.dumps(m) for m in server.received] + [p for p, _ in server.requests]
            out += [f.text for f in bus.history()] + [bus.wire.decode("latin-1")]
            assert bus.wire and not [o for o in out if PHONE_OR_ID.search(o)]
            assert not re.search(rb"\d{7,}", bus.wire)
        finally:
            tcp.close()

    asyncio.run(asyncio.wait_for(main(), 30))
    # the call with a phone number for a ticket number is shown blanked and not announced at all
    assert [wav for _, _, wav in player.plays] == [write_wav(pack.prelude),
                                                   write_wav(pack.voice(wire.tokens("A005", "07")))]


def test_request_resync_asks_for_a_snapshot_and_an_idle_stream_is_reconnected():
    async def quiet(s: Session) -> None:
        await s.send(wire.snapshot(3, HALL))
        await s.expect({"type": "snapshot"})
        await s.send(wire.snapshot(3, HALL))
        await s.ws.wait_closed()  # nothing more, not even a ping: the client gives up on it

    async def after(s: Session) -> None:
        s.server.finished.set()
        await s.ws.wait_closed()

    async def main():
        async with FakeHallServer([quiet, after]) as server:
            client = DisplayClient(config(server.url, idle_timeout_s=0.5))
            async with running(client.run()):
                while client.state.seq is None:
                    await asyncio.sleep(0.01)
                client.request_resync()
                await asyncio.wait_for(server.finished.wait(), 10)
            assert server.received == [{"type": "snapshot"}]
            assert [since_of(p) for p, _ in server.requests] == [None, "3"]

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_refused_token_is_retried_with_backoff():
    async def main():
        async with FakeHallServer([]) as server:
            client = DisplayClient(config(server.url, token="revoked"))
            async with running(client.run()):
                await asyncio.sleep(0.6)
            assert 2 <= len(server.requests) <= 8 and client.connects == 0
            assert all(auth == "Bearer revoked" for _, auth in server.requests)

    asyncio.run(asyncio.wait_for(main(), 30))


def test_zones_and_resync_shape_the_url():
    assert stream_url("http://10.0.0.5:8080") == "ws://10.0.0.5:8080/api/v1/display/stream"
    assert stream_url("https://hall.example/", 42, ("A", "B")) == \
        "wss://hall.example/api/v1/display/stream?since=42&zones=A,B"
    assert stream_url("ws://h:1/api/v1/display/stream", 0) == "ws://h:1/api/v1/display/stream?since=0"
    with pytest.raises(ValueError):
        stream_url("ftp://h")
    client = DisplayClient(ClientConfig(server="http://h:1", token="t", zones=("A",)))
    assert client.state.zones == frozenset({"A"}) and not client.state.gap_check
    assert client.next_url() == "ws://h:1/api/v1/display/stream?zones=A"
    client.handle(json.dumps(wire.snapshot(7, HALL)))
    assert client.next_url().endswith("?since=7&zones=A")
    client.request_resync()  # not connected: the next connection starts from a snapshot
    assert client.next_url().endswith("?zones=A")
