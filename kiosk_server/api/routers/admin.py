"""Administration kept to what this release needs: accounts (security_admin), device tokens
and printing (operator), the audit log (auditor). Layout CRUD arrives with the admin pages."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kiosk_server.api.deps import Ctx, Principal, roles
from kiosk_server.api.errors import lang_of
from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import ERRORS, DeviceToken, PrinterOut, PrintJobOut, UserCreate, UserOut, UserUpdate
from kiosk_server.db import queries
from kiosk_server.db import tables as T
from kiosk_server.domain.errors import Conflict, NotFound
from kiosk_server.i18n import t as tr
from kiosk_server.services import printing
from kiosk_server.services import auth as svc

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=ERRORS)
DeviceCode = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
JobId = Path(ge=1, le=2**62)


@router.get("/users", response_model=list[UserOut], openapi_extra=roles("security_admin"))
async def list_users(actor: Principal, c: Ctx) -> JSON:
    rows = c.read(lambda conn: conn.execute(select(T.users).order_by(T.users.c.id)).mappings().all())
    return JSON([svc.user_public(r) for r in rows])


@router.post("/users", status_code=201, response_model=UserOut, openapi_extra=roles("security_admin"))
async def create_user(body: UserCreate, actor: Principal, c: Ctx) -> JSON:
    u = await c.submit(svc.create_user, username=body.username, display_name=body.display_name, password=body.password,
                roles=body.roles, actor=actor, now=c.clock.now(), security=c.settings.security)
    return JSON(u, status_code=201)


@router.patch("/users/{user_id}", response_model=UserOut, openapi_extra=roles("security_admin"))
async def update_user(body: UserUpdate, actor: Principal, c: Ctx, user_id: int = Path(ge=1, le=2**31 - 1)) -> JSON:
    u = await c.submit(svc.update_user, user_id=user_id, actor=actor, now=c.clock.now(), security=c.settings.security,
                roles=body.roles, display_name=body.display_name, active=body.active, password=body.password)
    c.auth_cache.clear()  # changed rights take effect at once in this worker
    return JSON(u)


@router.post("/devices/{code}/token", response_model=DeviceToken, openapi_extra=roles("operator"))
async def issue_device_token(actor: Principal, c: Ctx, code: str = DeviceCode) -> JSON:
    return JSON(await c.submit(svc.set_device_token, device_code=code, hall_id=c.hall.id, keys=c.keys, actor=actor,
                                now=c.clock.now()))


@router.post("/devices/{code}/revoke", openapi_extra=roles("operator"))
async def revoke_device(actor: Principal, c: Ctx, code: str = DeviceCode) -> JSON:
    out = await c.submit(svc.revoke_device, device_code=code, hall_id=c.hall.id, actor=actor, now=c.clock.now())
    c.auth_cache.clear()
    return JSON(out)


@router.get("/audit", openapi_extra=roles("auditor"))
async def audit_log(actor: Principal, c: Ctx, before_id: int | None = Query(default=None, ge=1, le=2**62),
                    limit: int = Query(default=100, ge=1, le=1000)) -> JSON:
    def read(conn: Any) -> list[dict[str, Any]]:
        q = select(T.audit_log).order_by(T.audit_log.c.id.desc()).limit(limit)
        if before_id is not None:
            q = q.where(T.audit_log.c.id < before_id)
        return [dict(r) for r in conn.execute(q).mappings()]
    return JSON(c.read(read))


# ---------------------------------------------------------------- printing

@router.get("/printers", response_model=list[PrinterOut], openapi_extra=roles("operator"))
async def list_printers(request: Request, actor: Principal, c: Ctx) -> JSON:
    """Every printer: state (ready, unavailable, unknown), the last status its spooler saw and
    when, its kiosks, and how many jobs are queued, printing and failed."""
    lang = lang_of(request)
    out = c.read(queries.printers_list, c.hall)
    for p in out:
        p["message"] = tr(printing.state_message_key(p["enabled"], p["status"]), lang)
    return JSON(out)


@router.get("/print-jobs", response_model=list[PrintJobOut], openapi_extra=roles("operator"))
async def list_print_jobs(actor: Principal, c: Ctx,
                          status: Literal["queued", "printing", "done", "failed", "cancelled"] | None = None,
                          printer: str | None = Query(default=None, min_length=1, max_length=16,
                                                      pattern=r"^[A-Za-z0-9_-]+$"),
                          before_id: int | None = Query(default=None, ge=1, le=2**62),
                          limit: int = Query(default=100, ge=1, le=1000)) -> JSON:
    """Print jobs, newest first (what and where, not the slip's content)."""
    return JSON(c.read(queries.print_jobs_list, c.hall, status=status, printer=printer, limit=limit,
                       before_id=before_id))


@router.post("/print-jobs/{job_id}/retry", response_model=PrintJobOut, openapi_extra=roles("operator"))
async def retry_print_job(actor: Principal, c: Ctx, job_id: int = JobId) -> JSON:
    """A failed job back to the queue (audited); 409 for a job that has not failed."""
    out = await c.submit(printing.retry_job, hall=c.hall, clock=c.clock, actor=actor, job_id=job_id)
    c.wake_printer(out["printer_id"])
    return JSON(c.read(queries.print_job, c.hall, job_id))


@router.get("/print-jobs/{job_id}/preview.png", response_class=Response, openapi_extra=roles("operator"),
            responses={200: {"content": {"image/png": {}}, "description": "the slip as the printer would print it"}})
async def preview_print_job(actor: Principal, c: Ctx, job_id: int = JobId) -> Response:
    """The slip of a job, rendered for its printer's profile and drawn from those very bytes."""
    job = c.read(queries.print_job_for_preview, c.hall, job_id)
    if job is None:
        raise NotFound("print_job_not_found")
    png = await run_in_threadpool(_preview_png, job, c.settings.printing.font_path)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


def _preview_png(job: dict[str, Any], font_path: str | None) -> bytes:
    import io

    from printer_driver.decode import decode_slips, preview
    from printer_driver.glyphs import FontNotFound, load_font
    from printer_driver.layouts import build_document
    from printer_driver.profiles import PAPER_80MM, profile_from_dict
    from printer_driver.render import Renderer
    try:
        profile = profile_from_dict(job["profile"])
    except (TypeError, ValueError):
        profile = PAPER_80MM
    try:
        doc = build_document(job["kind"], job["data"], lang=job["lang"], reprint=job["reprint"])
        data = Renderer(profile, font_path=font_path).render(doc)
        slips = decode_slips(data, profile.line_dots)
        image = preview(slips[0], load_font(font_path), dots=profile.dots, line_dots=profile.line_dots)
    except FontNotFound as e:
        raise Conflict("preview_unavailable", reason=str(e)[:200]) from None
    except (KeyError, TypeError, ValueError, IndexError) as e:  # the job's data does not make a slip
        raise Conflict("preview_unavailable", reason=f"{type(e).__name__}: {e}"[:200]) from None
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
