"""Supervision (监控) for the operator: the hall's live overview."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from kiosk_server.api.deps import Ctx, Principal, roles
from kiosk_server.api.errors import lang_of
from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import ERRORS, Overview
from kiosk_server.domain.calendar import business_date
from kiosk_server.services import supervision as svc

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"], responses=ERRORS)


@router.get("/overview", response_model=Overview, openapi_extra=roles("operator"))
async def overview(request: Request, actor: Principal, c: Ctx,
                   wait_alarm_s: int = Query(default=svc.WAIT_ALARM_S, ge=60, le=86_400,
                                             description="a zone whose oldest waiting ticket waits longer: alarm"),
                   pause_alarm_s: int = Query(default=svc.PAUSE_ALARM_S, ge=60, le=86_400,
                                              description="a window paused longer: warning")) -> JSON:
    """Every enabled window (state and since when, clerk, the ticket it calls or serves and since
    when), the queue of every zone (waiting, longest wait, open windows), every printer
    (online | paper_low | no_paper | offline | unknown | disabled, since when) and the alarms:
    printer faults and failed print jobs, zones waiting longer than `wait_alarm_s`, windows
    paused longer than `pause_alarm_s`. Messages in the request's language."""
    hall = c.hall
    now = c.clock.now()
    return JSON(c.read(svc.overview, hall, now=now, today=business_date(now, hall.tz), lang=lang_of(request),
                       ignore_hours=c.settings.ignore_opening_hours, wait_alarm_s=wait_alarm_s,
                       pause_alarm_s=pause_alarm_s))
