"""Hall screens: the snapshot, and the stream (snapshot or replay by seq, then live events)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from kiosk_server.api.deps import Ctx, Principal, bearer, check_roles, resolve, roles
from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import ERRORS
from kiosk_server.bootstrap import Container
from kiosk_server.db import queries
from kiosk_server.domain.calendar import business_date
from kiosk_server.domain.errors import DomainError
from kiosk_server.realtime.hub import DIRECT, EventHub, Subscriber

router = APIRouter(prefix="/api/v1/display", tags=["display"], responses=ERRORS)
log = logging.getLogger("kiosk_server.stream")
REPLAY_LIMIT = 1000        # more missed events than this: send a snapshot instead
HEARTBEAT_S = 15.0
CLOSE_WAIT_S = 30.0        # how long a dropped screen's 1013 waits for the screen to read again
WORKER_HEADER = b"x-hall-worker"
PING: dict[str, Any] = {"type": "ping"}
PING_TEXT = '{"type":"ping"}'
STREAM_ROLES = ["display", "operator", "clerk", "kiosk"]
ZONES = r"^[A-Za-z0-9_,-]*$"  # comma-separated zone codes


def _zones(arg: str | None, device_zones: tuple[str, ...] | None) -> set[str] | None:
    zones = {z for z in (arg or "").split(",") if z} or None
    if device_zones:
        zones = set(device_zones) if zones is None else zones & set(device_zones)
    return zones


def _snapshot(c: Container, zones: set[str] | None) -> dict[str, Any]:
    hall = c.hall
    return c.read(queries.display_snapshot, hall, business_date(c.clock.now(), hall.tz), zones)


@router.get("/snapshot", openapi_extra=roles("display", "operator"))
async def snapshot(actor: Principal, c: Ctx, zones: str | None = Query(default=None, max_length=200, pattern=ZONES)) -> JSON:
    return JSON(_snapshot(c, _zones(zones, actor.zones)))


@router.websocket("/stream")
async def stream(ws: WebSocket, since: int | None = Query(default=None, ge=0, le=2**62),
                 zones: str | None = Query(default=None, max_length=200, pattern=ZONES)) -> None:
    """One screen: a sender task drains its hub queue onto the socket, a receiver task reads
    its requests; all end together when either ends or the hub cuts the screen off.
    A screen that stops reading blocks only its own sender; when its queue overflows the hub
    closes it, the blocked send is abandoned and the socket is closed with 1013 (delivered
    whenever the screen reads again: it then reconnects with `since`)."""
    c: Container = ws.app.state.container
    try:
        a = resolve(c, bearer(ws.headers, ws.query_params), ws.client.host if ws.client else None)
        check_roles(a.actor, STREAM_ROLES)
    except DomainError as e:
        await ws.close(code=1008, reason=e.code)
        return
    zone_set = _zones(zones, a.actor.zones)
    sub = c.hub.subscribe(zone_set, a.token_hash)  # subscribe first: nothing falls between replay and live
    c.count("ws_connections")
    try:
        # The worker's process id: with several workers, tests and operators see which one serves a screen.
        await ws.accept(headers=[(WORKER_HEADER, str(os.getpid()).encode())])
        sub.last = await _catch_up(ws, c, since, zone_set)
        sub.direct = ws.scope.get("extensions", {}).get(DIRECT)  # after the catch-up: see realtime/hub.py
        async with anyio.create_task_group() as tg:
            async def until_any_ends(fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
                try:
                    await fn(*args)
                except (WebSocketDisconnect, RuntimeError):  # the screen left
                    pass
                finally:
                    tg.cancel_scope.cancel()  # a send stuck on a screen that stopped reading is abandoned here

            tg.start_soon(until_any_ends, _send, ws, c.hub, sub)
            tg.start_soon(until_any_ends, _receive, ws, c, zone_set, sub)
            tg.start_soon(until_any_ends, sub.closed.wait)
        c.hub.unsubscribe(sub)
        if sub.closed_reason == "slow":
            with anyio.move_on_after(CLOSE_WAIT_S):  # sent once the screen reads again
                await ws.close(code=1013, reason="too slow; reconnect with since")
        elif sub.closed_reason == "logout":
            await ws.close(code=1008, reason="logged out")
    except (WebSocketDisconnect, RuntimeError):
        pass
    except Exception:
        log.exception("stream failed")
        with contextlib.suppress(Exception):
            await ws.close(code=1011)
    finally:
        c.hub.unsubscribe(sub)
        c.count("ws_connections", -1)


async def _send(ws: WebSocket, hub: EventHub, sub: Subscriber) -> None:
    """The screen's queue onto its socket, in seq order, each event once (the hub writes the
    events of an idle screen itself: see realtime/hub.py); a ping when nothing was sent for
    HEARTBEAT_S (queued or written by the hub: a screen of a busy hall is never pinged)."""
    queue = sub.queue
    seen = sub.last
    while True:
        try:
            async with asyncio.timeout(HEARTBEAT_S):
                ev = await queue.get()
        except TimeoutError:
            if sub.last != seen:  # the hub wrote to it meanwhile
                seen = sub.last
                continue
            ev = PING
        sub.busy = True
        if ev is PING:
            await ws.send_text(PING_TEXT)
        elif ev["seq"] > sub.last:
            await ws.send_text(hub.wire(ev))
            sub.last = ev["seq"]
        seen = sub.last
        sub.busy = False


async def _catch_up(ws: WebSocket, c: Container, since: int | None, zones: set[str] | None) -> int:
    if since is not None:
        missed = c.read(queries.events_since, c.hall, since, REPLAY_LIMIT + 1)
        newest = c.read(queries.last_seq)
        if len(missed) <= REPLAY_LIMIT and since <= newest:
            last = since
            for ev in missed:
                last = ev["seq"]
                if zones is None or ev.get("zone") is None or ev.get("zone") in zones:
                    await ws.send_text(orjson.dumps(ev).decode())
            return max(last, since)
    snap = _snapshot(c, zones)
    await ws.send_text(orjson.dumps({"type": "snapshot", **snap}).decode())
    return snap["seq"]


async def _receive(ws: WebSocket, c: Container, zones: set[str] | None, sub: Any) -> None:
    """Client messages: {"type":"snapshot"} asks for a resync; anything else is ignored."""
    while True:
        msg = await ws.receive_text()
        try:
            data = orjson.loads(msg)
        except orjson.JSONDecodeError:
            await ws.close(code=1003, reason="bad data")
            return
        if isinstance(data, dict) and data.get("type") == "snapshot":
            snap = _snapshot(c, zones)
            await ws.send_text(orjson.dumps({"type": "snapshot", **snap}).decode())
        elif isinstance(data, dict) and data.get("type") == "ping":
            await ws.send_text('{"type":"pong"}')
