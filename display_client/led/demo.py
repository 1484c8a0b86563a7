"""The window LED strips of a demo, all in one process: an LED bus simulator (a TCP port like an
RS-485 converter, and its live status page) fed by a display client that follows the server's
stream, as `python -m display_client --led socket://… ` would on a hall's PC.

    demo = LedDemo("http://127.0.0.1:8080", token, addresses={"06": 6}, labels={6: "06 商事登记窗口"})
    print(demo.start().url)     # the page: what each strip shows, live
    ...
    demo.stop()

The client runs in a daemon thread with its own event loop; it starts once the server answers
`/healthz` (so the demo's console is not filled with "cannot reach" while the server starts),
then reconnects with backoff like any screen.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import urllib.request
from collections.abc import Mapping

from display_client.connection import ClientConfig, DisplayClient
from display_client.led import sign_for
from display_client.led.driver import LedDriver
from display_client.led.sign import MAX_ADDRESS, MIN_ADDRESS
from display_client.led.simulator import LedBus, StatusServer, TcpPort
from display_client.led.transport import SerialLink

log = logging.getLogger("display_client.led.demo")
SERVER_WAIT_S = 120.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


class LedDemo:
    def __init__(self, server: str, token: str, *, protocol: str = "stx", addresses: Mapping[str, int],
                 labels: Mapping[int, str] | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = server
        self.token = token
        self.protocol = protocol
        self.addresses = {code: a for code, a in addresses.items() if MIN_ADDRESS <= a <= MAX_ADDRESS}
        self.labels = dict(labels or {})
        self.host, self.port = host, port
        self.bus = LedBus(sign_for(protocol))
        self._tcp: TcpPort | None = None
        self._web: StatusServer | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.client: DisplayClient | None = None

    @property
    def url(self) -> str:
        assert self._web is not None, "not started"
        return self._web.url

    def start(self) -> LedDemo:
        self._tcp = TcpPort(self.bus)  # loopback only: the client is in this process
        tcp = self._tcp
        self._web = StatusServer(self.bus, self.host, self.port, labels=self.labels, links=lambda: tcp.connections)
        self._thread = threading.Thread(target=self._run, daemon=True, name="led-demo")
        self._thread.start()
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if not await asyncio.to_thread(self._wait_for_server):
            log.error("LED demo: the server at %s did not answer; the strips stay blank", self.server)
            return
        assert self._tcp is not None
        driver = LedDriver(SerialLink(self._tcp.url), sign_for(self.protocol), addresses=self.addresses,
                           refresh_s=None)
        self.client = DisplayClient(ClientConfig(server=self.server, token=self.token, backoff_max_s=5.0),
                                    leds=[driver])
        tasks = [asyncio.create_task(self.client.run()), asyncio.create_task(driver.run())]
        try:
            await self._stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _wait_for_server(self) -> bool:
        deadline = time.monotonic() + SERVER_WAIT_S
        while time.monotonic() < deadline:
            if self._stop is not None and self._stop.is_set():
                return False
            with contextlib.suppress(OSError):
                with _DIRECT.open(self.server.rstrip("/") + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        for closer in (self._web, self._tcp):
            if closer is not None:
                closer.close()
