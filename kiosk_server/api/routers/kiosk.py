from __future__ import annotations

from fastapi import APIRouter, Path

from kiosk_server.api.deps import PUBLIC, Ctx, Principal, roles
from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import ERRORS, PublicTicket, TicketCreate, TicketIssued
from kiosk_server.db import queries
from kiosk_server.domain.calendar import business_date
from kiosk_server.domain.errors import NotFound
from kiosk_server.services import tickets as svc

router = APIRouter(prefix="/api/v1", tags=["kiosk"], responses=ERRORS)


@router.get("/kiosk/menu", openapi_extra=roles("kiosk", "operator"))
async def menu(actor: Principal, c: Ctx) -> JSON:
    hall = c.hall
    now = c.clock.now()
    return JSON(c.read(queries.kiosk_menu, hall, now, business_date(now, hall.tz), c.settings.ignore_opening_hours))


@router.post("/tickets", status_code=201, response_model=TicketIssued, openapi_extra=roles("kiosk", "clerk", "operator"))
async def issue(body: TicketCreate, actor: Principal, c: Ctx) -> JSON:
    out = await c.submit(svc.issue_ticket, hall=c.hall, clock=c.clock, keys=c.keys, actor=actor, zone_code=body.zone,
                  matter_code=body.matter, priority=body.priority, phone=body.phone,
                  appointment_code=body.appointment_code, application_number=body.application_number,
                  ignore_opening_hours=c.settings.ignore_opening_hours)
    c.count("tickets_issued")
    t = out.ticket
    assert t is not None
    t["status_url"] = f"{c.settings.server.public_base_url or ''}/t/{t['public_token']}"
    t["print"] = None  # printing arrives with the spooler
    return JSON(t, status_code=201)


@router.get("/public/tickets/{public_token}", response_model=PublicTicket, openapi_extra=roles(PUBLIC))
async def public_ticket(c: Ctx, public_token: str = Path(min_length=1, max_length=64,
                                                        pattern=r"^[A-Za-z0-9_-]+$")) -> JSON:
    body = c.read(queries.public_ticket, c.hall, public_token[:64])
    if body is None:
        raise NotFound("ticket_not_found")
    return JSON(body)
