"""uvicorn's websocket protocol with a bounded socket send buffer for every screen.

Linux sizes a TCP send buffer by auto-tuning up to `net.ipv4.tcp_wmem` (4 MiB by default; a
loopback socket starts there): a screen that stops reading would soak up ~10,000 events in the
kernel before the server felt any back-pressure, and its bounded hub queue (realtime/hub.py)
would only overflow after that. A hall's screens are on the LAN, where 32 KiB in flight (the
kernel doubles it) is ample; with it a silent screen fills its buffers after a few hundred
events, then its queue, and is dropped with 1013. HTTP connections keep the kernel's default.

Chosen in `kiosk-server serve` (cli.py): `uvicorn.run(..., ws=PROTOCOL)`.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

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
