"""uvicorn's websocket protocol with a bounded socket send buffer for every screen, and a
direct frame writer for the event hub's fast path.

Linux sizes a TCP send buffer by auto-tuning up to `net.ipv4.tcp_wmem` (4 MiB by default; a
loopback socket starts there): a screen that stops reading would soak up ~10,000 events in the
kernel before the server felt any back-pressure, and its bounded hub queue (realtime/hub.py)
would only overflow after that. A hall's screens are on the LAN, where 32 KiB in flight (the
kernel doubles it) is ample; with it a silent screen fills its buffers after a few hundred
events, then its queue, and is dropped with 1013. HTTP connections keep the kernel's default.

The direct writer (`scope["extensions"][DIRECT]`) takes a whole server frame, built once for
every screen by the hub, and writes it to the socket at once, or refuses (returns False) when it
cannot: the handshake not done, a close sent or received, per-message compression in use (then
frames differ per screen), or the write buffer above its high-water mark (the screen is behind:
the hub queues instead, and the screen's sender waits). Frames are only ever written whole, so
they never interleave with what the protocol itself writes (pings, the close).

Chosen in `kiosk-server serve` (cli.py): `uvicorn.run(..., ws=PROTOCOL)`.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from kiosk_server.realtime.hub import DIRECT

PROTOCOL = "kiosk_server.realtime.wsprotocol:StreamProtocol"
SEND_BUFFER = 32 * 1024            # SO_SNDBUF asked for (Linux doubles it for bookkeeping)
WRITE_HIGH_WATER = 32 * 1024       # asyncio's buffer above the socket: the app waits beyond this


class StreamProtocol(WebSocketsSansIOProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        if isinstance(transport, asyncio.WriteTransport):
            transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        super().connection_made(transport)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # the app's task has not run yet: it sees the extension
        if scope is not None and not self.close_sent:
            scope["extensions"][DIRECT] = self.write_frame

    def write_frame(self, frame: bytes) -> bool:
        if (not self.handshake_complete or self.close_sent or self.disconnected or self.conn.extensions
                or not self.writable.is_set() or self.transport.is_closing()):
            return False
        self.transport.write(frame)
        return True
