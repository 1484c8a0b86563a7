from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query

from kiosk_server.api.deps import Ctx, Principal, roles
from starlette.responses import Response

from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import ERRORS, CallIn, PauseIn, TicketOut, WindowOut, WindowToday
from kiosk_server.db import queries
from kiosk_server.services import tickets as tsvc
from kiosk_server.services import windows as wsvc

router = APIRouter(prefix="/api/v1/windows", tags=["windows"], responses=ERRORS)
WindowCode = Path(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
STAFF = roles("clerk", "operator")


def _window_body(c: Any, code: str) -> dict[str, Any]:
    for w in c.read(queries.windows_list, c.hall):
        if w["code"] == code:
            return w
    raise AssertionError("window vanished")


@router.get("", response_model=list[WindowOut], openapi_extra=STAFF)
async def list_windows(actor: Principal, c: Ctx) -> JSON:
    return JSON(c.read(queries.windows_list, c.hall))


@router.get("/{code}/today", response_model=WindowToday, openapi_extra=STAFF,
            summary="The window's day for its console: waiting per zone, transfers in, missed tickets, figures")
async def window_today(actor: Principal, c: Ctx, code: str = WindowCode) -> JSON:
    """Clerks read only the window they hold (403 `window_not_yours` otherwise); operators any."""
    return JSON(c.read(wsvc.today_at_window, hall=c.hall, clock=c.clock, actor=actor, window_code=code))


async def _window_action(fn: Any, c: Any, actor: Any, code: str, **kw: Any) -> JSON:
    _w, events = await c.submit(fn, hall=c.hall, clock=c.clock, actor=actor, window_code=code, **kw)
    return JSON(_window_body(c, code))


@router.post("/{code}/open", response_model=WindowOut, openapi_extra=roles("clerk"))
async def open_window(actor: Principal, c: Ctx, code: str = WindowCode) -> JSON:
    return await _window_action(wsvc.open_window, c, actor, code)


@router.post("/{code}/close", response_model=WindowOut, openapi_extra=STAFF)
async def close_window(actor: Principal, c: Ctx, code: str = WindowCode) -> JSON:
    return await _window_action(wsvc.close_window, c, actor, code)


@router.post("/{code}/pause", response_model=WindowOut, openapi_extra=STAFF)
async def pause_window(body: PauseIn, actor: Principal, c: Ctx, code: str = WindowCode) -> JSON:
    return await _window_action(wsvc.pause_window, c, actor, code, reason=body.reason)


@router.post("/{code}/resume", response_model=WindowOut, openapi_extra=STAFF)
async def resume_window(actor: Principal, c: Ctx, code: str = WindowCode) -> JSON:
    return await _window_action(wsvc.resume_window, c, actor, code)


def ticket_response(c: Any, out: tsvc.Outcome) -> Response:
    if out.ticket is None:
        return Response(status_code=204)
    if out.body is not None:  # built in the use case's transaction
        return JSON(out.body)
    return JSON(c.read(queries.ticket_body, out.ticket))


@router.post("/{code}/call-next", response_model=TicketOut, openapi_extra=STAFF,
             responses={204: {"description": "nobody waits"}})
async def call_next(actor: Principal, c: Ctx, code: str = WindowCode,
                    finish_current: bool = Query(default=False, description="finish the window's ticket first")) -> JSON:
    return await call_next_answer(c, actor, code, finish_current)


async def call_next_answer(c: Any, actor: Any, code: str, finish_current: bool) -> Response:
    """The route's work, shared with its hot path (api/hotpath.py)."""
    out = await c.submit(tsvc.call_next, hall=c.hall, clock=c.clock, actor=actor, window_code=code,
                         finish_current=finish_current)
    c.count("tickets_called")
    return ticket_response(c, out)


@router.post("/{code}/call", response_model=TicketOut, openapi_extra=STAFF)
async def call_ticket(body: CallIn, actor: Principal, c: Ctx, code: str = WindowCode) -> JSON:
    out = await c.submit(tsvc.call_ticket, hall=c.hall, clock=c.clock, actor=actor, window_code=code, ticket_id=body.ticket_id)
    return ticket_response(c, out)


@router.post("/{code}/recall", response_model=TicketOut, openapi_extra=STAFF)
async def recall(actor: Principal, c: Ctx, code: str = WindowCode) -> JSON:
    out = await c.submit(tsvc.recall, hall=c.hall, clock=c.clock, actor=actor, window_code=code)
    return ticket_response(c, out)
