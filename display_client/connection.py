"""The stream loop: keeps a websocket to the server's display stream and feeds what arrives to the
reducer, the LED drivers, the announcer and any other listener (the screen page).

    WS /api/v1/display/stream?since=<seq>&zones=A,B      Authorization: Bearer <device token>

First connection: no `since`, so the server sends a snapshot. Reconnects (exponential backoff with
jitter, reset once a connection has delivered something) pass `since` = the last applied seq, and
the server replays what was missed; a client cut off as too slow (close code 1013) does the same.
When the reducer says `needs_resync` (a gap in seq, a layout change) or `request_resync()` is
called, the client sends `{"type":"snapshot"}` and the server answers with a snapshot.

Announcements: only calls the stream delivers as events, each once. A snapshot never announces
(its calls are history), a replay after `since` holds only events not yet seen, and every
announced call is remembered by its identity (type, ticket, window, time) so a replay overlapping
what was already heard stays silent. A queued call is dropped if its ticket has left the window
before its turn comes (answered, missed, transferred).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from display_client.announce import Announcer, Callout
from display_client.led.driver import LedDriver
from display_client.privacy import has_long_digits
from display_client.protocol import (
    SNAPSHOT_REQUEST,
    Event,
    ProtocolError,
    Snapshot,
    parse,
)
from display_client.state import HallState, initial, reduce

log = logging.getLogger("display_client.stream")

STREAM_PATH = "/api/v1/display/stream"
CLOSE_TOO_SLOW = 1013
CLOSE_POLICY = 1008
REMEMBERED_CALLS = 512


@dataclass(frozen=True)
class ClientConfig:
    server: str                      # http(s)://host:port or ws(s)://host:port[/api/v1/display/stream]
    token: str
    zones: tuple[str, ...] = ()      # () for every zone
    gap_check: bool | None = None    # None: on for an unfiltered stream only (see state.py)
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    idle_timeout_s: float = 45.0     # the server pings a screen it sent nothing to for 15-30 s
    open_timeout_s: float = 10.0


def stream_url(server: str, since: int | None = None, zones: Sequence[str] = ()) -> str:
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"server URL must be http(s):// or ws(s)://host:port, not {server!r}")
    path = parts.path.rstrip("/")
    if not path.endswith(STREAM_PATH):
        path += STREAM_PATH
    query = {}
    if since is not None:
        query["since"] = str(since)
    if zones:
        query["zones"] = ",".join(zones)
    return urlunsplit((scheme, parts.netloc, path, urlencode(query, safe=","), ""))


CallKey = tuple[str, int | None, str, str, str]


class DisplayClient:
    def __init__(self, config: ClientConfig, *, announcer: Announcer | None = None,
                 leds: Sequence[LedDriver] = (), listeners: Sequence[Callable[[HallState], None]] = ()) -> None:
        stream_url(config.server)  # fail early on a bad URL
        self.config = config
        self.announcer = announcer
        self.leds = list(leds)
        self.listeners = list(listeners)
        self.state = initial(frozenset(config.zones) or None, config.gap_check)
        self._heard: OrderedDict[CallKey, None] = OrderedDict()
        self._outgoing: asyncio.Queue[str] | None = None
        self._snapshot_asked = False
        self._fresh_start = False
        self.connects = 0

    # ------------------------------------------------------------ the loop

    def next_url(self) -> str:
        s = self.state
        since = None if (s.seq is None or s.needs_resync or self._fresh_start) else s.seq
        return stream_url(self.config.server, since, self.config.zones)

    async def run(self) -> None:
        """Until cancelled."""
        attempt = 0
        while True:
            url = self.next_url()
            delivered = False
            try:
                async with connect(url, additional_headers={"Authorization": f"Bearer {self.config.token}"},
                                   open_timeout=self.config.open_timeout_s, close_timeout=2, max_size=4 * 2**20,
                                   proxy=None) as ws:
                    self.connects += 1
                    self._fresh_start = False
                    log.info("connected to %s", url)
                    delivered = await self._session(ws)
            except InvalidStatus as e:
                log.error("the server refused the stream: HTTP %s (is the device token valid?)",
                          e.response.status_code)
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as e:
                log.warning("cannot reach %s: %s", url, str(e) or type(e).__name__)
            attempt = 0 if delivered else attempt + 1
            await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        base = min(self.config.backoff_max_s, self.config.backoff_min_s * 2.0 ** max(0, attempt - 1))
        return base * random.uniform(0.8, 1.2)

    @staticmethod
    def _log_close(e: ConnectionClosed) -> None:
        code = e.rcvd.code if e.rcvd else None
        reason = e.rcvd.reason if e.rcvd else ""
        if code == CLOSE_TOO_SLOW:
            log.warning("the server dropped this screen as too slow; reconnecting with since")
        elif code == CLOSE_POLICY:
            log.error("the server closed the stream: %s (token revoked or logged out?)", reason)
        elif code is None:
            log.warning("connection lost")
        else:
            log.warning("stream closed (%s %s)", code, reason)

    async def _session(self, ws: ClientConnection) -> bool:
        """Read until the connection ends; whether anything arrived."""
        self._outgoing = asyncio.Queue()
        self._snapshot_asked = False
        sender = asyncio.create_task(self._send_loop(ws))
        delivered = False
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), self.config.idle_timeout_s)
                except TimeoutError:
                    log.warning("no message for %.0fs: reconnecting", self.config.idle_timeout_s)
                    return delivered
                delivered = True
                self.handle(raw)
        except ConnectionClosed as e:
            self._log_close(e)
            return delivered
        finally:
            self._outgoing = None
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    async def _send_loop(self, ws: ClientConnection) -> None:
        assert self._outgoing is not None
        queue = self._outgoing
        while True:
            message = await queue.get()
            with contextlib.suppress(ConnectionClosed):
                await ws.send(message)

    # ------------------------------------------------------------ messages

    def request_resync(self) -> None:
        """Ask for a snapshot now (or connect without `since` next time)."""
        if self._outgoing is not None:
            self._ask_snapshot()
        else:
            self._fresh_start = True

    def _ask_snapshot(self) -> None:
        assert self._outgoing is not None
        self._snapshot_asked = True
        self._outgoing.put_nowait(SNAPSHOT_REQUEST)

    def handle(self, raw: str | bytes) -> None:
        try:
            message = parse(raw)
        except ProtocolError as e:
            log.warning("ignored a message: %s", e)
            return
        before = self.state
        self.state = after = reduce(before, message)
        if isinstance(message, Snapshot):
            self._snapshot_asked = False
        if after is before:
            return
        if after.needs_resync and not self._snapshot_asked and self._outgoing is not None:
            log.warning("resync: %s", after.resync_reason)
            self._ask_snapshot()
        if isinstance(message, Event) and message.is_call:
            self._announce(message)
        for led in self.leds:
            led.show(after)
        for listener in self.listeners:
            try:
                listener(after)
            except Exception:
                log.exception("a state listener failed")

    def _announce(self, ev: Event) -> None:
        if self.announcer is None or ev.announcement is None or ev.ticket is None or ev.window is None:
            return
        key: CallKey = (ev.type, ev.ticket.id, ev.ticket.number, ev.window.code, ev.at)
        if key in self._heard:
            return
        self._heard[key] = None
        if len(self._heard) > REMEMBERED_CALLS:
            self._heard.popitem(last=False)
        script = ev.announcement
        if has_long_digits(script.text) or has_long_digits("".join(script.tokens)):
            log.warning("a call at window %s holds a long digit run: not announced", ev.window.code)
            return
        window, number = ev.window.code, ev.ticket.number
        self.announcer.submit(Callout(script.text, script.tokens,
                                      still_wanted=lambda: self.state.is_current(window, number)))
