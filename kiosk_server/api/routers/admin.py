"""Administration kept to what this release needs: accounts (security_admin), device tokens
(operator), the audit log (auditor). Layout CRUD arrives with the admin pages."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from kiosk_server.api.deps import Ctx, Principal, roles
from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import ERRORS, DeviceToken, UserCreate, UserOut, UserUpdate
from kiosk_server.db import tables as T
from kiosk_server.services import audit
from kiosk_server.services import auth as svc

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=ERRORS)
DeviceCode = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


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


def _device_token(conn: Any, *, c: Any, actor: Any, code: str, revoke: bool) -> dict[str, Any]:
    now = c.clock.now()
    if revoke:
        from sqlalchemy import update
        from kiosk_server.domain.errors import NotFound
        n = conn.execute(update(T.devices).where(T.devices.c.hall_id == c.hall.id, T.devices.c.code == code)
                         .values(revoked_at=now)).rowcount
        if n != 1:
            raise NotFound("not_found")
        audit.record(conn, actor=actor, action="device.revoke", at=now, object_type="device", object_id=code)
        return {"code": code, "revoked": True}
    token = svc.set_device_token(conn, device_code=code, hall_id=c.hall.id, keys=c.keys)
    audit.record(conn, actor=actor, action="device.token", at=now, object_type="device", object_id=code)
    return {"code": code, "token": token}


@router.post("/devices/{code}/token", response_model=DeviceToken, openapi_extra=roles("operator"))
async def issue_device_token(actor: Principal, c: Ctx, code: str = DeviceCode) -> JSON:
    return JSON(await c.submit(_device_token, c=c, actor=actor, code=code, revoke=False))


@router.post("/devices/{code}/revoke", openapi_extra=roles("operator"))
async def revoke_device(actor: Principal, c: Ctx, code: str = DeviceCode) -> JSON:
    out = await c.submit(_device_token, c=c, actor=actor, code=code, revoke=True)
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
