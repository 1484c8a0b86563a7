"""Administration: accounts (security_admin), the hall layout (operator: zones, matters,
windows, printers, devices, holidays, the layout as TOML), printing (operator), the audit log
(auditor). Every change is one transaction through the writer; it is audited, emits
`config.changed`, applies at once in this worker and, through that event, in every other one."""
from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kiosk_server.api.deps import Ctx, Principal, roles
from kiosk_server.api.errors import lang_of
from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import (
    ERRORS, Deleted, DeviceCreate, DeviceCreated, DeviceOut, DeviceToken, DeviceUpdate, HolidayCreate, HolidayOut,
    ImportOut, MatterCreate, MatterOut, MatterUpdate, PrinterCreate, PrinterOut, PrinterUpdate, PrintJobOut, UserCreate,
    UserOut, UserUpdate, WindowAdminOut, WindowCreate, WindowUpdate, ZoneCreate, ZoneOut, ZoneUpdate,
)
from kiosk_server.db import queries
from kiosk_server.db import tables as T
from kiosk_server.domain.errors import Conflict, Invalid, NotFound
from kiosk_server.i18n import t as tr
from kiosk_server.services import admin as layout
from kiosk_server.services import printing
from kiosk_server.services import auth as svc

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=ERRORS)
DeviceCode = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
JobId = Path(ge=1, le=2**62)
LayoutCode = Path(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
OPERATOR = roles("operator")
TOML_BODY = {"requestBody": {"required": True, "description": "the layout as TOML (as `kiosk-server check-config` "
                             "takes it); also sent as application/toml",
                             "content": {"text/plain": {"schema": {"type": "string", "maxLength": 4 * 1024 * 1024}}}}}


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
                    limit: int = Query(default=100, ge=1, le=1000),
                    action: str | None = Query(default=None, min_length=1, max_length=64,
                                               pattern=r"^[A-Za-z0-9_.-]+$",
                                               description="entries whose action starts with this (`zone.` "
                                                           "or `zone.create`)")) -> JSON:
    """Newest first; page with `before_id` = the last id of the previous page."""
    def read(conn: Any) -> list[dict[str, Any]]:
        q = select(T.audit_log).order_by(T.audit_log.c.id.desc()).limit(limit)
        if before_id is not None:
            q = q.where(T.audit_log.c.id < before_id)
        if action is not None:
            q = q.where(T.audit_log.c.action.startswith(action, autoescape=True))
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


# ---------------------------------------------------------------- the hall layout (operator)

async def _change(c: Any, fn: Any, actor: Any, **kw: Any) -> Any:
    """One change through the writer; then this worker forgets its copies of the configuration
    at once (other workers do when the change's `config.changed` reaches them)."""
    try:
        out = await c.submit(fn, hall=c.hall, actor=actor, now=c.clock.now(), **kw)
    except IntegrityError:  # a race the checks could not see (another worker): nothing was written
        raise Conflict("config_conflict") from None
    c.drop_config_caches()
    return out


@router.get("/zones", response_model=list[ZoneOut], openapi_extra=OPERATOR)
async def list_zones(actor: Principal, c: Ctx) -> JSON:
    """Every zone in kiosk order, disabled ones too, with how many matters it has and the windows serving it."""
    return JSON(c.read(layout.list_zones, c.hall))


@router.post("/zones", status_code=201, response_model=ZoneOut, openapi_extra=OPERATOR)
async def create_zone(body: ZoneCreate, actor: Principal, c: Ctx) -> JSON:
    """409 `zone_exists`, `prefix_taken`."""
    return JSON(await _change(c, layout.create_zone, actor, data=body.model_dump()), status_code=201)


@router.patch("/zones/{code}", response_model=ZoneOut, openapi_extra=OPERATOR)
async def update_zone(body: ZoneUpdate, actor: Principal, c: Ctx, code: str = LayoutCode) -> JSON:
    """The fields sent change (`opening_hours`: null for the hall's); 409 `prefix_taken`."""
    return JSON(await _change(c, layout.update_zone, actor, code=code, changes=body.changes()))


@router.delete("/zones/{code}", response_model=Deleted, openapi_extra=OPERATOR)
async def delete_zone(actor: Principal, c: Ctx, code: str = LayoutCode) -> JSON:
    """A zone without tickets, with its matters. 409 `zone_in_use` (it has tickets: disable it
    instead), `zone_served` (windows serve it), `zone_shown` (devices list it)."""
    return JSON(await _change(c, layout.delete_zone, actor, code=code))


@router.get("/matters", response_model=list[MatterOut], openapi_extra=OPERATOR)
async def list_matters(actor: Principal, c: Ctx,
                       zone: str | None = Query(default=None, min_length=1, max_length=16,
                                                pattern=r"^[A-Za-z0-9_-]+$")) -> JSON:
    """Every matter (of one zone with `?zone=`), in kiosk order, disabled ones too."""
    return JSON(c.read(layout.list_matters, c.hall, zone))


@router.post("/matters", status_code=201, response_model=MatterOut, openapi_extra=OPERATOR)
async def create_matter(body: MatterCreate, actor: Principal, c: Ctx) -> JSON:
    """Matter codes are unique in the hall: 409 `matter_exists`; 422 `zone_unknown`."""
    return JSON(await _change(c, layout.create_matter, actor, data=body.model_dump()), status_code=201)


@router.patch("/matters/{code}", response_model=MatterOut, openapi_extra=OPERATOR)
async def update_matter(body: MatterUpdate, actor: Principal, c: Ctx, code: str = LayoutCode) -> JSON:
    """The fields sent change; `zone` moves the matter (last in its new zone unless `position` is sent)."""
    return JSON(await _change(c, layout.update_matter, actor, code=code, changes=body.changes()))


@router.delete("/matters/{code}", response_model=Deleted, openapi_extra=OPERATOR)
async def delete_matter(actor: Principal, c: Ctx, code: str = LayoutCode) -> JSON:
    """409 `matter_in_use` when tickets or applications refer to it (disable it instead)."""
    return JSON(await _change(c, layout.delete_matter, actor, code=code))


@router.get("/windows", response_model=list[WindowAdminOut], openapi_extra=OPERATOR)
async def list_windows(actor: Principal, c: Ctx) -> JSON:
    """Every window, disabled ones too, with the zones it serves in order."""
    return JSON(c.read(layout.list_windows, c.hall))


@router.post("/windows", status_code=201, response_model=WindowAdminOut, openapi_extra=OPERATOR)
async def create_window(body: WindowCreate, actor: Principal, c: Ctx) -> JSON:
    """409 `window_exists`, `led_address_taken`; 422 `zone_unknown`."""
    return JSON(await _change(c, layout.create_window, actor, data=body.model_dump()), status_code=201)


@router.patch("/windows/{code}", response_model=WindowAdminOut, openapi_extra=OPERATOR)
async def update_window(body: WindowUpdate, actor: Principal, c: Ctx, code: str = LayoutCode) -> JSON:
    """`zones` replaces the ordered list. Disabling a window with a called or served ticket is
    409 `window_busy`; an idle open window is closed as it is disabled."""
    return JSON(await _change(c, layout.update_window, actor, code=code, changes=body.changes()))


@router.delete("/windows/{code}", response_model=Deleted, openapi_extra=OPERATOR)
async def delete_window(actor: Principal, c: Ctx, code: str = LayoutCode) -> JSON:
    """409 `window_busy` (a called or served ticket), `window_in_use` (it has served: disable it instead)."""
    return JSON(await _change(c, layout.delete_window, actor, code=code))


def _printer_out(c: Any, code: str, lang: str) -> dict[str, Any]:
    p = next(p for p in c.read(queries.printers_list, c.hall) if p["code"] == code)
    p["message"] = tr(printing.state_message_key(p["enabled"], p["status"]), lang)
    return p


@router.post("/printers", status_code=201, response_model=PrinterOut, openapi_extra=OPERATOR)
async def create_printer(body: PrinterCreate, request: Request, actor: Principal, c: Ctx) -> JSON:
    """Checked as [[printers]] in the configuration; a file transport must be under /dev/
    (422 `printer_file_path`). 409 `printer_exists`. Its spooler starts at once."""
    out = await _change(c, layout.create_printer, actor, data=body.model_dump())
    return JSON(_printer_out(c, out["code"], lang_of(request)), status_code=201)


@router.patch("/printers/{code}", response_model=PrinterOut, openapi_extra=OPERATOR)
async def update_printer(body: PrinterUpdate, request: Request, actor: Principal, c: Ctx,
                         code: str = LayoutCode) -> JSON:
    """The fields sent change; its spooler restarts with them."""
    out = await _change(c, layout.update_printer, actor, code=code, changes=body.changes())
    return JSON(_printer_out(c, out["code"], lang_of(request)))


@router.delete("/printers/{code}", response_model=Deleted, openapi_extra=OPERATOR)
async def delete_printer(actor: Principal, c: Ctx, code: str = LayoutCode) -> JSON:
    """409 `printer_in_use` (kiosks print on it), `printer_has_jobs` (disable it instead)."""
    return JSON(await _change(c, layout.delete_printer, actor, code=code))


@router.get("/devices", response_model=list[DeviceOut], openapi_extra=OPERATOR)
async def list_devices(actor: Principal, c: Ctx) -> JSON:
    """Kiosks and hall screens; never a token or its hash (`has_token` says whether one was issued)."""
    return JSON(c.read(layout.list_devices, c.hall))


@router.post("/devices", status_code=201, response_model=DeviceCreated, openapi_extra=OPERATOR)
async def create_device(body: DeviceCreate, actor: Principal, c: Ctx) -> JSON:
    """A new device and its token, shown this once. 409 `device_exists`; 422 `zone_unknown`,
    `printer_unknown`, `device_printer_kiosk_only`."""
    out = await _change(c, layout.create_device, actor, keys=c.keys, data=body.model_dump())
    return JSON(out, status_code=201)


@router.patch("/devices/{code}", response_model=DeviceOut, openapi_extra=OPERATOR)
async def update_device(body: DeviceUpdate, actor: Principal, c: Ctx, code: str = DeviceCode) -> JSON:
    """The fields sent change (`zones`, `printer`: null for none); takes effect at the device's next request."""
    return JSON(await _change(c, layout.update_device, actor, code=code, changes=body.changes()))


@router.delete("/devices/{code}", response_model=Deleted, openapi_extra=OPERATOR)
async def delete_device(actor: Principal, c: Ctx, code: str = DeviceCode) -> JSON:
    """Revoke and remove: its token is refused at once and its streams here are closed."""
    out = await _change(c, layout.delete_device, actor, code=code)
    token_hash = out.pop("token_hash", None)
    if token_hash:
        c.hub.close_session(token_hash)
    return JSON(out)


@router.get("/holidays", response_model=list[HolidayOut], openapi_extra=OPERATOR)
async def list_holidays(actor: Principal, c: Ctx, year: int | None = Query(default=None, ge=1900, le=2200)) -> JSON:
    """Calendar exceptions by date: `holiday` closes a weekday, `workday` (调休) opens a weekend."""
    return JSON(c.read(layout.list_holidays, c.hall, year))


@router.post("/holidays", status_code=201, response_model=HolidayOut, openapi_extra=OPERATOR)
async def create_holiday(body: HolidayCreate, actor: Principal, c: Ctx) -> JSON:
    """409 `holiday_exists` (delete the date first to change it)."""
    return JSON(await _change(c, layout.create_holiday, actor, data=body.model_dump()), status_code=201)


@router.delete("/holidays/{day}", response_model=Deleted, openapi_extra=OPERATOR)
async def delete_holiday(actor: Principal, c: Ctx, day: date = Path(description="YYYY-MM-DD")) -> JSON:
    if not 1900 <= day.year <= 2200:
        raise NotFound("holiday_not_found", date=day.isoformat())
    return JSON(await _change(c, layout.delete_holiday, actor, day=day))


@router.get("/config/export", response_class=Response, openapi_extra=OPERATOR,
            responses={200: {"content": {"application/toml": {}}, "description": "the hall layout as TOML"}})
async def export_config(actor: Principal, c: Ctx) -> Response:
    """The layout as the configuration file writes it ([hall], [[zones]] with [[zones.matters]],
    [[windows]], [[printers]], [[devices]], [[holidays]]): what check-config and import-config
    take. No token, hash or secret; device tokens are issued through the API."""
    hall = c.hall
    doc = c.read(layout.export_layout, hall)
    at = c.clock.now().astimezone(hall.tz).isoformat(timespec="seconds")
    text = layout.to_toml(doc, header=f"# Hall {hall.code} layout, exported {at}.\n"
                                      f"# Check: kiosk-server check-config --config FILE; import: import-config.\n")
    return Response(text, media_type="application/toml; charset=utf-8", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="hall-{hall.code}-layout.toml"'})


@router.post("/config/import", response_model=ImportOut, openapi_extra=OPERATOR | TOML_BODY)
async def import_config(request: Request, actor: Principal, c: Ctx) -> JSON:
    """Check a layout (TOML, as check-config does) and apply it (as import-config does: objects
    are updated by code and added, nothing is deleted). Any problem: 422 `config_invalid` with
    `error.details` = [{"path", "message"}] for every problem, and nothing is changed. [server],
    [security] and [printing] are not applied (`ignored`); tokens are issued through the API."""
    raw = await request.body()
    if len(raw) > layout.MAX_IMPORT_BYTES:
        raise Invalid("config_too_large", max=layout.MAX_IMPORT_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("config_invalid", count=1, details=[{"path": "(file)", "message": "not UTF-8 text"}]) from None
    parsed, ignored = layout.parse_layout(text)
    out = await _change(c, layout.import_config, actor, layout=parsed, keys=c.keys)
    return JSON({**out, "ignored": ignored})
