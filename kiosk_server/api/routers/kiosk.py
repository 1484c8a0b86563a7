from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Path, Request

from kiosk_server.api.deps import PUBLIC, Ctx, Principal, roles
from kiosk_server.api.errors import lang_of
from kiosk_server.api.idempotency import KEY_PATTERN
from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import (
    ERRORS,
    KioskMenu,
    PublicTicket,
    TicketCreate,
    TicketIssued,
)
from kiosk_server.db import queries
from kiosk_server.domain.calendar import business_date
from kiosk_server.domain.errors import NotFound
from kiosk_server.i18n import t as tr
from kiosk_server.services import appointments
from kiosk_server.services import tickets as svc
from kiosk_server.services.printing import state_message_key

router = APIRouter(prefix="/api/v1", tags=["kiosk"], responses=ERRORS)
ISSUERS = roles("kiosk", "clerk", "operator")


@router.get("/kiosk/menu", response_model=KioskMenu, openapi_extra=roles("kiosk", "operator"))
async def menu(request: Request, actor: Principal, c: Ctx) -> JSON:
    """The zones and matters to offer, and the kiosk's printer (`printer`: {"code", "state":
    ready | unavailable | unknown, "status", "message"}; None for a kiosk without one)."""
    hall = c.hall
    now = c.clock.now()

    def read(conn: Any) -> dict[str, Any]:
        body = queries.kiosk_menu(conn, hall, now, business_date(now, hall.tz), c.settings.ignore_opening_hours)
        body["printer"] = queries.kiosk_printer(conn, actor.printer_id)
        return body
    body = c.read(read)
    p = body["printer"]
    if p is not None:
        p["message"] = tr(state_message_key(p.pop("enabled"), p["status"]), lang_of(request))
    return JSON(body)


@router.post("/tickets", status_code=201, response_model=TicketIssued, openapi_extra=ISSUERS)
async def issue(body: TicketCreate, request: Request, actor: Principal, c: Ctx,
                idempotency_key: str | None = Header(default=None, pattern=KEY_PATTERN, description=(
                    "One key per attempt (8-64 of A-Z a-z 0-9 _ -): a repeated request with the same key "
                    "gets the first one's ticket (header `Idempotent-Replayed: true`) instead of a second "
                    "ticket; the same key with another body is refused (422)."))) -> JSON:
    """Issue a ticket. From a kiosk with a printer, `print` says what becomes of the slip:
    `queued` (it prints now) or `unavailable` (the printer cannot print now: show the QR code on
    screen; the slip is kept and prints when the printer is back). Printing never runs here."""
    ticket, headers = await issue_answer(c, request.app.state.idempotency, actor, body, lang_of(request),
                                         idempotency_key)
    return JSON(ticket, status_code=201, headers=headers)


async def issue_answer(c: Any, idempotency: Any, actor: Any, body: TicketCreate, lang: str,
                       idempotency_key: str | None) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The issued ticket and the answer's extra headers: the route's work, shared with its hot
    path (api/hotpath.py)."""

    async def run() -> dict[str, Any]:
        common = {"hall": c.hall, "clock": c.clock, "keys": c.keys, "actor": actor, "phone": body.phone,
                  "application_number": body.application_number, "lang": lang,
                  "ignore_opening_hours": c.settings.ignore_opening_hours,
                  "status_base_url": c.settings.server.public_base_url, "open_windows": c.open_windows}
        if body.appointment_code is not None:  # a booking checked in: its zone, matter and slot
            out = await c.submit(appointments.check_in, code=body.appointment_code, zone=body.zone, **common)
        else:
            out = await c.submit(svc.issue_ticket, zone_code=body.zone, matter_code=body.matter,
                                 priority=body.priority, last_write=True, **common)
        return issued(c, actor, out, lang)

    if idempotency_key is None:
        return await run(), None
    t, replayed = await idempotency.run(actor.name, idempotency_key, body.model_dump(), run)
    return t, {"Idempotent-Replayed": "true"} if replayed else None


@router.get("/public/tickets/{public_token}", response_model=PublicTicket, openapi_extra=roles(PUBLIC))
async def public_ticket(c: Ctx, public_token: str = Path(min_length=1, max_length=64,
                                                        pattern=r"^[A-Za-z0-9_-]+$")) -> JSON:
    body = c.read(queries.public_ticket, c.hall, public_token[:64])
    if body is None:
        raise NotFound("ticket_not_found")
    return JSON(body)


def issued(c: Any, actor: Any, out: Any, lang: str) -> dict[str, Any]:
    """After a ticket's commit (here and at appointment check-in): count it, wake the kiosk's
    spooler for its slip, and say what the kiosk tells the citizen when the printer cannot print."""
    c.count("tickets_issued")
    t = out.ticket
    assert t is not None
    printed = t["print"]
    if printed is not None:
        if printed["job_id"] is not None:
            c.wake_printer(actor.printer_id)
        if printed["state"] == "unavailable":
            printed["message"] = tr("print.unavailable", lang)
    return t  # type: ignore[no-any-return]
