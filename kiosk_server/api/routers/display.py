"""Hall screens: the snapshot, and the stream (snapshot or replay by seq, then live events)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from kiosk_server.api.deps import Ctx, Principal, bearer, check_roles, resolve, roles
from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import ERRORS
from kiosk_server.bootstrap import Container
from kiosk_server.db import queries
from kiosk_server.domain.calendar import business_date
from kiosk_server.domain.errors import DomainError

router = APIRouter(prefix="/api/v1/display", tags=["display"], responses=ERRORS)
log = logging.getLogger("kiosk_server.stream")
REPLAY_LIMIT = 1000        # more missed events than this: send a snapshot instead
HEARTBEAT_S = 15.0
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
        await ws.accept()
        last = await _catch_up(ws, c, since, zone_set)
        receiver = asyncio.create_task(_receive(ws, c, zone_set, sub))
        closed = asyncio.create_task(sub.closed.wait())
        try:
            while True:
                getter = asyncio.create_task(sub.queue.get())
                done, _ = await asyncio.wait({getter, receiver, closed}, timeout=HEARTBEAT_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                if receiver in done or closed in done:
                    break
                if not done:
                    await ws.send_text('{"type":"ping"}')
                    continue
                ev = getter.result()
                if ev["seq"] <= last:
                    continue
                await ws.send_text(orjson.dumps(ev).decode())
                last = ev["seq"]
        finally:
            for task in (receiver, closed):
                task.cancel()
        if sub.closed_reason == "slow":
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
