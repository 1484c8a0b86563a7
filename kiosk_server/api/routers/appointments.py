"""Appointments: bookings made elsewhere, checked in at the kiosk (services/appointments.py).

    POST /api/v1/appointments                 (operator) book a slot → 201 with the code
    GET  /api/v1/appointments?date=           (operator, clerk) a day's bookings
    POST /api/v1/appointments/{code}/cancel   (operator)
    POST /api/v1/appointments/check-in        (kiosk, clerk, operator) {"code"} → 201 the ticket
"""
from __future__ import annotations

from datetime import date as Date

from fastapi import APIRouter, Path, Query, Request

from kiosk_server.api.deps import Ctx, Principal, roles
from kiosk_server.api.errors import lang_of
from kiosk_server.api.responses import JSON
from kiosk_server.api.routers.kiosk import issued
from kiosk_server.api.schemas import (
    ERRORS,
    AppointmentCreate,
    AppointmentOut,
    CheckInIn,
    TicketIssued,
)
from kiosk_server.domain.calendar import business_date
from kiosk_server.services import appointments as svc

router = APIRouter(prefix="/api/v1/appointments", tags=["appointments"], responses=ERRORS)
CodePath = Path(min_length=1, max_length=16, pattern=r"^[0-9]+$")


@router.post("", status_code=201, response_model=AppointmentOut, openapi_extra=roles("operator"))
async def book(body: AppointmentCreate, actor: Principal, c: Ctx) -> JSON:
    out = await c.submit(svc.book, hall=c.hall, clock=c.clock, actor=actor, zone=body.zone, matter=body.matter,
                         day=body.date, start=body.start, end=body.end, source=body.source)
    return JSON(out, status_code=201)


@router.get("", response_model=list[AppointmentOut], openapi_extra=roles("operator", "clerk"))
async def list_day(actor: Principal, c: Ctx, date: Date | None = Query(default=None)) -> JSON:
    day = date or business_date(c.clock.now(), c.hall.tz)
    return JSON(c.read(svc.list_day, c.hall, day))


@router.post("/{code}/cancel", response_model=AppointmentOut, openapi_extra=roles("operator"))
async def cancel(actor: Principal, c: Ctx, code: str = CodePath) -> JSON:
    return JSON(await c.submit(svc.cancel, hall=c.hall, clock=c.clock, actor=actor, code=code))


@router.post("/check-in", status_code=201, response_model=TicketIssued, openapi_extra=roles("kiosk", "clerk", "operator"))
async def check_in(body: CheckInIn, request: Request, actor: Principal, c: Ctx) -> JSON:
    """The booking becomes a ticket of its zone and matter, due from its slot's start."""
    lang = lang_of(request)
    out = await c.submit(svc.check_in, hall=c.hall, clock=c.clock, keys=c.keys, actor=actor, code=body.code,
                         ignore_opening_hours=c.settings.ignore_opening_hours,
                         status_base_url=c.settings.server.public_base_url, lang=lang)
    return JSON(issued(c, actor, out, lang), status_code=201)
