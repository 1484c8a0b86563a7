"""The LED driver over real links (a pseudo-terminal, TCP) into the bus simulator."""
import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Callable

import pytest

from display_client.led import LedTexts, sign_for
from display_client.led.driver import LedDriver, default_address
from display_client.led.sign import LedSign
from display_client.led.simulator import LedBus, PtyPort, StatusServer, TcpPort
from display_client.led.transport import LinkError, SerialLink
from display_client.protocol import from_wire
from display_client.state import HallState, initial, reduce
from tests.display import wire

HALL = {"06": ("open", None), "07": ("open", None), "11": ("paused", None), "01": ("closed", None)}
IDLE = {6: "06号窗口", 7: "07号窗口", 11: "暂停服务", 1: "欢迎光临"}
TIMEOUT = 5.0


def apply(state: HallState, *messages) -> HallState:
    for m in messages:
        state = reduce(state, from_wire(m))
    return state


@contextlib.asynccontextmanager
async def driving(url: str, sign: LedSign, **kw) -> AsyncIterator[LedDriver]:
    driver = LedDriver(SerialLink(url), sign, poll_s=0.05, retry_min_s=0.05, retry_max_s=0.2, **kw)
    task = asyncio.create_task(driver.run())
    try:
        yield driver
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def shows(bus: LedBus, expected: dict[int, str]) -> None:
    ok = await asyncio.to_thread(
        bus.wait_for, lambda shown: all(shown.get(a) == t for a, t in expected.items()), TIMEOUT)
    assert ok, f"the bus shows {bus.shown}, expected {expected}"


async def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def port(kind: str, bus: LedBus):
    p = PtyPort(bus) if kind == "pty" else TcpPort(bus)
    try:
        yield p.url
    finally:
        p.close()


@pytest.mark.parametrize("protocol", ["stx", "aa55"])
@pytest.mark.parametrize("kind", ["pty", "tcp"])
def test_call_recall_pause_close_reach_the_right_address(kind, protocol):
    async def main():
        sign = sign_for(protocol)
        bus = LedBus(sign_for(protocol))
        with port(kind, bus) as url:
            async with driving(url, sign) as driver:
                state = apply(initial(), wire.snapshot(1, HALL))
                driver.show(state)
                await shows(bus, IDLE)

                state = apply(state, wire.called(2, 10, "A007", "06"))
                driver.show(state)
                await shows(bus, {6: "A007 请到06号窗口"})
                calls_at_6 = len(bus.history(6))

                state = apply(state, wire.called(3, 10, "A007", "06", recall=True))
                driver.show(state)
                await eventually(lambda: len(bus.history(6)) == calls_at_6 + 1)
                assert bus.history(6)[-1].text == "A007 请到06号窗口"  # sent again: the strip re-shows it

                state = apply(state, wire.window_event(4, "paused", "07", "paused", "午休"))
                driver.show(state)
                await shows(bus, {7: "暂停服务"})

                state = apply(state, wire.ticket_event(5, "served", 10, "A007", "06"),
                              wire.window_event(6, "closed", "06", "closed"))
                driver.show(state)
                await shows(bus, {6: "欢迎光临"})
                assert bus.shown == {6: "欢迎光临", 7: "暂停服务", 11: "暂停服务", 1: "欢迎光临"}
                await eventually(lambda: driver.shown == bus.shown)  # the driver knows what it sent
                assert bus.rejected == 0
                assert {f.address for f in bus.history()} == {1, 6, 7, 11}

    asyncio.run(asyncio.wait_for(main(), 30))


def test_after_the_link_drops_and_returns_everything_is_sent_again():
    async def main():
        sign = sign_for("aa55")
        bus = LedBus(sign_for("aa55"))
        tcp = TcpPort(bus)
        try:
            async with driving(tcp.url, sign, refresh_s=None) as driver:
                state = apply(initial(), wire.snapshot(1, HALL), wire.called(2, 10, "A007", "06"))
                driver.show(state)
                full = {**IDLE, 6: "A007 请到06号窗口"}
                await shows(bus, full)
                assert driver.connects == 1

                # the converter drops the connection (and its strips lost what they showed)
                bus.forget()
                assert tcp.drop() == 1
                await shows(bus, full)
                assert driver.connects == 2

                # the converter goes away for a while; the hall moves on meanwhile
                address = tcp.port
                tcp.close()
                bus.forget()
                state = apply(state, wire.called(3, 11, "A008", "07"))
                driver.show(state)
                await asyncio.sleep(0.4)  # connection refused, retried with backoff
                assert bus.shown == {}
                tcp = TcpPort(bus, port=address)
                await shows(bus, {**full, 7: "A008 请到07号窗口"})
                assert driver.connects == 3
                assert bus.rejected == 0
        finally:
            tcp.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_characters_a_strip_cannot_show_are_substituted_on_the_wire():
    async def main():
        texts = LedTexts(open="{name}")
        hall = {"06": ("open", None)}
        snap = wire.snapshot(1, hall)
        snap["windows"][0]["name"] = "商事登記 ①号™😀"  # 記 is traditional: GBK has it, GB2312 not
        for protocol, kind, expected in (("stx", "pty", "商事登  ①号TM "), ("aa55", "tcp", "商事登記 ①号TM ")):
            bus = LedBus(sign_for(protocol))
            with port(kind, bus) as url:
                async with driving(url, sign_for(protocol, texts)) as driver:
                    driver.show(apply(initial(), snap))
                    await shows(bus, {6: expected})
                    assert bus.rejected == 0

    asyncio.run(asyncio.wait_for(main(), 30))


def test_addresses_come_from_the_map_or_the_numeric_code():
    driver = LedDriver(SerialLink("loop://"), sign_for("stx"), addresses={"VIP": 200})
    assert (driver.address_of("VIP"), driver.address_of("06"), driver.address_of("A1")) == (200, 6, None)
    assert default_address("255") is None and default_address("٣") is None
    with pytest.raises(ValueError):
        LedDriver(SerialLink("loop://"), sign_for("stx"), addresses={"X": 0})


def test_serial_link_over_loop_sends_the_exact_frame():
    link = SerialLink("loop://")
    link.open()
    frame = sign_for("stx").encode(6, "A007 请到06号窗口")
    link.write(frame)
    assert link.drain() == frame
    link.close()
    with pytest.raises(LinkError):
        link.write(frame)
    with pytest.raises(LinkError):
        SerialLink("socket://127.0.0.1:1").open()
    with pytest.raises(LinkError):
        SerialLink("/dev/does-not-exist").open()


def test_status_page_and_json():
    bus = LedBus(sign_for("stx"))
    stream = bus.stream()
    stream.feed(sign_for("stx").encode(6, "A007 请到06号窗口") + b"\x02\x07")
    web = StatusServer(bus)
    try:
        status = json.loads(urllib.request.urlopen(web.url + "status.json", timeout=5).read())
        assert status["protocol"] == "stx" and status["frames"] == 1 and status["rejected"] == 0
        assert status["bytes"] == len(bus.wire) == 24
        assert status["shown"]["6"]["text"] == "A007 请到06号窗口"
        assert status["addresses"]["6"]["text"] == "A007 请到06号窗口"
        page = urllib.request.urlopen(web.url, timeout=5).read().decode()
        assert "A007 请到06号窗口" in page and "已解码 1 帧" in page and 'lang="zh-CN"' in page
        page = urllib.request.urlopen(web.url + "?lang=en", timeout=5).read().decode()
        assert "A007 请到06号窗口" in page and "1 frames decoded" in page and 'lang="en"' in page
    finally:
        web.close()
