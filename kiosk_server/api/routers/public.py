"""What a citizen's phone reaches without an account: a ticket's QR code and its live status.

    GET /api/v1/public/tickets/{public_token}/qr.svg   the QR code of the ticket's status page
                                                       (`[server] public_base_url` + /t/<token>, or
                                                       this request's base URL when that is unset)
    WS  /api/v1/public/tickets/{public_token}/stream   the public ticket body (as GET
                                                       /api/v1/public/tickets/{public_token}) first,
                                                       then again whenever it changes

Stream messages: {"type": "ticket", "ticket": {<public ticket body>}}, and {"type": "ping"}
after a quiet while. Events that touch the ticket's queue zone (or the ticket itself, or the
windows) make the server recompute the body; bursts are coalesced, and a body equal to the last
one sent is not sent again. An unknown token is closed with 1008; a phone that stops reading is
cut off when its bounded queue overflows (1013; it reconnects, or the page polls). No personal
data: the body is the public ticket body, nothing else.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from functools import lru_cache
from typing import Any

import orjson
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi import Path as FastPath
from fastapi.responses import Response

from kiosk_server.api.deps import PUBLIC, Ctx, roles
from kiosk_server.api.schemas import ERRORS
from kiosk_server.bootstrap import Container
from kiosk_server.db import queries
from kiosk_server.domain.errors import NotFound

router = APIRouter(prefix="/api/v1/public", tags=["public"], responses=ERRORS)
log = logging.getLogger("kiosk_server.public")

TOKEN = FastPath(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
# The websocket cannot carry openapi_extra: this is its declaration (the role matrix reads it).
STREAM_ROLES = [PUBLIC]
COALESCE_S = 0.3           # events that arrive together make one recomputation
HEARTBEAT_S = 20.0
MAX_STREAMS = 5000         # public sockets per worker; beyond, 1013 and the page polls
QR_CACHE = "public, max-age=86400, immutable"  # a ticket's address never changes


def _status_url(c: Container, base_url: str, token: str) -> str:
    base = c.settings.server.public_base_url or base_url
    return f"{base.rstrip('/')}/t/{token}"


@lru_cache(maxsize=256)
def qr_svg(text: str) -> bytes:
    """`text` as a QR code (error correction M, four modules of quiet zone) in SVG: dark modules
    as one path on a white square, scaled by whoever shows it."""
    import qrcode
    from qrcode.image.svg import SvgPathFillImage
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, image_factory=SvgPathFillImage)
    qr.add_data(text)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().save(out)
    return out.getvalue()


@router.get("/tickets/{public_token}/qr.svg", openapi_extra=roles(PUBLIC), response_class=Response,
            summary="The QR code of a ticket's public status page (SVG)",
            responses={200: {"content": {"image/svg+xml": {}}, "description": "the QR code"}})
async def ticket_qr(request: Request, c: Ctx, public_token: str = TOKEN) -> Response:
    if c.read(queries.public_ticket_ref, public_token) is None:
        raise NotFound("ticket_not_found")
    svg = qr_svg(_status_url(c, str(request.base_url), public_token))
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": QR_CACHE, "X-Content-Type-Options": "nosniff"})


def _relevant(ev: dict[str, Any], ref: dict[str, Any]) -> bool:
    kind = ev.get("type", "")
    if kind.startswith("ticket."):
        return ev.get("zone") == ref["zone"] or (ev.get("ticket") or {}).get("id") == ref["id"]
    return kind.startswith("window.") or kind in ("queue.changed", "config.changed")


@router.websocket("/tickets/{public_token}/stream")
async def ticket_stream(ws: WebSocket, public_token: str = TOKEN) -> None:
    """One phone: the body now, then the body whenever an event may have changed it."""
    c: Container = ws.app.state.container
    ref = c.read(queries.public_ticket_ref, public_token)
    if ref is None:
        await ws.close(code=1008, reason="ticket_not_found")
        return
    if c.counters.get("public_streams", 0) >= MAX_STREAMS:
        await ws.close(code=1013, reason="busy; poll instead")
        return
    sub = c.hub.subscribe(None)  # every event: a transfer's event names the zone the ticket went to
    c.count("public_streams")
    tasks: list[asyncio.Task[Any]] = []
    try:
        await ws.accept()
        last = await _body(c, public_token)
        await ws.send_text(orjson.dumps({"type": "ticket", "ticket": last}).decode())
        sender = asyncio.create_task(_follow(ws, c, sub, public_token, ref, last))
        receiver = asyncio.create_task(_receive(ws))
        closed = asyncio.create_task(sub.closed.wait())
        tasks = [sender, receiver, closed]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # The others are cancelled and not awaited: an await here, while the server (or a test
        # client) cancels this handler, would swallow the second cancellation it delivers.
        for task in tasks:
            task.cancel()
        for task in done & {sender, receiver}:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if sub.closed_reason == "slow":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1013, reason="too slow; reconnect"), 5.0)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except Exception:
        log.exception("public stream failed")
        with contextlib.suppress(Exception):
            await ws.close(code=1011)
    finally:
        for task in tasks:
            task.cancel()
        c.hub.unsubscribe(sub)
        c.count("public_streams", -1)


async def _body(c: Container, token: str) -> dict[str, Any] | None:
    # A database read off the event loop: many phones may recompute after the same event.
    body = await asyncio.to_thread(c.read, queries.public_ticket, c.hall, token)
    return orjson.loads(orjson.dumps(body)) if body is not None else None  # dates as the wire has them


async def _follow(ws: WebSocket, c: Container, sub: Any, token: str, ref: dict[str, Any],
                  last: dict[str, Any] | None) -> None:
    queue = sub.queue
    while True:
        try:
            ev = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
        except TimeoutError:
            await ws.send_text('{"type":"ping"}')
            continue
        if not _relevant(ev, ref):
            continue
        await asyncio.sleep(COALESCE_S)  # let the rest of a burst arrive
        while not queue.empty():
            queue.get_nowait()
        body = await _body(c, token)
        if body is not None and body["zone"]["code"] != ref["zone"]:
            ref = {**ref, "zone": body["zone"]["code"]}  # transferred to another zone: follow it
        if body != last:
            last = body
            await ws.send_text(orjson.dumps({"type": "ticket", "ticket": body}).decode())


async def _receive(ws: WebSocket) -> None:
    """{"type": "ping"} is answered; anything else is ignored. Ends when the phone goes away."""
    while True:
        msg = await ws.receive_text()
        if len(msg) < 64 and '"ping"' in msg:
            await ws.send_text('{"type":"pong"}')
