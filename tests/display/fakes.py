"""The far edges the display client talks to, played by the tests: the loudspeaker and the hall
server's display stream."""
from __future__ import annotations

import asyncio
import contextlib
import http
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve

from display_client.announce import PlaybackError

TOKEN = "device-token-S1"


class FakePlayer:
    """The loudspeaker: records every play with its start and end, and fails on overlap."""

    def __init__(self, seconds: float = 0.005, fail_on: set[bytes] | None = None) -> None:
        self.seconds = seconds
        self.fail_on = fail_on or set()
        self.plays: list[tuple[float, float, bytes]] = []
        self.playing = False

    async def play(self, wav: bytes) -> None:
        assert not self.playing, "two announcements overlap"
        self.playing = True
        start = asyncio.get_running_loop().time()
        try:
            await asyncio.sleep(self.seconds)
            if wav in self.fail_on:
                raise PlaybackError("device busy")
        finally:
            self.playing = False
        self.plays.append((start, asyncio.get_running_loop().time(), wav))



class Session:
    """One accepted connection, as the script sees it."""

    def __init__(self, ws: ServerConnection, server: FakeHallServer) -> None:
        assert ws.request is not None
        self.ws = ws
        self.server = server
        self.query = parse_qs(urlsplit(ws.request.path).query)

    async def send(self, *messages: dict[str, Any]) -> None:
        for m in messages:
            await self.ws.send(json.dumps(m, ensure_ascii=False))

    async def expect(self, message: dict[str, Any]) -> None:
        got = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        self.server.received.append(got)
        assert got == message

    def abort(self) -> None:
        """The network goes away: no close handshake."""
        self.ws.transport.abort()


Script = Callable[[Session], Awaitable[None]]


class FakeHallServer:
    """The hall server's display stream, played from one script per connection; after the last
    script the connection stays open and quiet."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = list(scripts)
        self.requests: list[tuple[str, str | None]] = []
        self.received: list[Any] = []
        self.finished = asyncio.Event()
        self.url = ""

    def _check_token(self, connection: ServerConnection, request: Any) -> Any:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.requests.append((request.path, request.headers.get("Authorization")))
            return connection.respond(http.HTTPStatus.FORBIDDEN, "forbidden\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.requests.append((ws.request.path, ws.request.headers.get("Authorization")))
        if not self.scripts:
            self.finished.set()
            await ws.wait_closed()
            return
        await self.scripts.pop(0)(Session(ws, self))

    async def __aenter__(self) -> FakeHallServer:
        self._server = await serve(self._handler, "127.0.0.1", 0, process_request=self._check_token)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def running(*coros: Coroutine[Any, Any, None]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Tasks for the duration of a block, cancelled at its end."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def since_of(path: str) -> str | None:
    return parse_qs(urlsplit(path).query).get("since", [None])[0]
