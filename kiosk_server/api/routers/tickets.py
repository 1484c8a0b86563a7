from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Path, Query, Request

from kiosk_server.api.deps import Ctx, Principal, roles
from kiosk_server.api.errors import lang_of
from kiosk_server.api.responses import JSON
from kiosk_server.api.routers.windows import ticket_response
from kiosk_server.api.schemas import ERRORS, PrintQueued, ReprintIn, TicketOut, TransferIn
from kiosk_server.db import queries
from kiosk_server.domain.calendar import business_date as to_business_date
from kiosk_server.domain.errors import NotFound
from kiosk_server.domain.model import TicketStatus
from kiosk_server.services import printing
from kiosk_server.services import tickets as svc

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"], responses=ERRORS)
STAFF = roles("clerk", "operator")
TicketId = Path(ge=1, le=2**62)


async def _act(fn: Any, c: Any, actor: Any, ticket_id: int, **kw: Any) -> JSON:
    out = await c.submit(fn, hall=c.hall, clock=c.clock, actor=actor, ticket_id=ticket_id, **kw)
    return ticket_response(c, out)


@router.post("/{ticket_id}/start", response_model=TicketOut, openapi_extra=STAFF)
async def start(actor: Principal, c: Ctx, ticket_id: int = TicketId) -> JSON:
    return await _act(svc.start, c, actor, ticket_id)


@router.post("/{ticket_id}/no-show", response_model=TicketOut, openapi_extra=STAFF)
async def no_show(actor: Principal, c: Ctx, ticket_id: int = TicketId) -> JSON:
    return await _act(svc.no_show, c, actor, ticket_id)


@router.post("/{ticket_id}/requeue", response_model=TicketOut, openapi_extra=STAFF)
async def requeue(actor: Principal, c: Ctx, ticket_id: int = TicketId) -> JSON:
    return await _act(svc.requeue, c, actor, ticket_id)


@router.post("/{ticket_id}/transfer", response_model=TicketOut, openapi_extra=STAFF)
async def transfer(body: TransferIn, actor: Principal, c: Ctx, ticket_id: int = TicketId) -> JSON:
    return await _act(svc.transfer, c, actor, ticket_id, to_window=body.to_window, to_zone=body.to_zone, reason=body.reason)


@router.post("/{ticket_id}/finish", response_model=TicketOut, openapi_extra=STAFF)
async def finish(actor: Principal, c: Ctx, ticket_id: int = TicketId) -> JSON:
    return await _act(svc.finish, c, actor, ticket_id)


@router.post("/{ticket_id}/cancel", response_model=TicketOut, openapi_extra=STAFF)
async def cancel(actor: Principal, c: Ctx, ticket_id: int = TicketId) -> JSON:
    return await _act(svc.cancel, c, actor, ticket_id)


@router.post("/{ticket_id}/reprint", status_code=202, response_model=PrintQueued, openapi_extra=STAFF)
async def reprint(request: Request, actor: Principal, c: Ctx, body: ReprintIn | None = None,
                  ticket_id: int = TicketId) -> JSON:
    """补打: print an open ticket again with the reprint marker, on `printer` or else on the
    printer of its last slip (audited). Staff only: a kiosk never reprints by ticket id."""
    out = await c.submit(printing.reprint_ticket, hall=c.hall, clock=c.clock, actor=actor, ticket_id=ticket_id,
                         printer_code=body.printer if body else None,
                         status_base_url=c.settings.server.public_base_url, lang=lang_of(request))
    c.wake_printer(out.pop("printer_id"))
    return JSON(out, status_code=202)


@router.get("/{ticket_id}", response_model=TicketOut, openapi_extra=STAFF)
async def get_ticket(actor: Principal, c: Ctx, ticket_id: int = TicketId) -> JSON:
    def read(conn: Any) -> Any:
        t = queries.get_ticket(conn, c.hall, ticket_id)
        return None if t is None else queries.ticket_body(conn, t)
    body = c.read(read)
    if body is None:
        raise NotFound("ticket_not_found")
    return JSON(body)


@router.get("", openapi_extra=STAFF)
async def list_tickets(actor: Principal, c: Ctx,
                       zone: str | None = Query(default=None, max_length=16, pattern=r"^[A-Za-z0-9_-]+$"),
                       status: TicketStatus | None = None, business_date: date | None = None,
                       limit: int = Query(default=200, ge=1, le=1000), offset: int = Query(default=0, ge=0, le=10**7)) -> JSON:
    day = business_date or to_business_date(c.clock.now(), c.hall.tz)
    return JSON(c.read(queries.list_tickets, c.hall, zone=zone, status=status, business_date=day, limit=limit,
                       offset=offset))
