from __future__ import annotations

from fastapi import APIRouter, Request

from kiosk_server.api.deps import ANY_SIGNED_IN, PUBLIC, Ctx, Session, roles
from starlette.responses import Response

from kiosk_server.api.responses import JSON
from kiosk_server.api.schemas import ERRORS, LoginIn, LoginOut, UserOut
from kiosk_server.domain.errors import RateLimited, Unauthorized
from kiosk_server.services import auth as svc

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=ERRORS)


@router.post("/login", response_model=LoginOut, openapi_extra=roles(PUBLIC))
async def login(body: LoginIn, request: Request, c: Ctx) -> JSON:
    addr = request.client.host if request.client else None
    res = await c.submit(svc.login, username=body.username, password=body.password, client_addr=addr, keys=c.keys,
                  now=c.clock.now(), security=c.settings.security)
    if res.retry_after is not None:
        raise RateLimited("locked_out", retry_after=res.retry_after)
    if not res.ok:
        raise Unauthorized("bad_credentials")
    return JSON({"token": res.token, "user": res.user, "expires_at": res.expires_at})


@router.post("/logout", status_code=204, openapi_extra=roles(ANY_SIGNED_IN))
async def logout(s: Session, c: Ctx) -> Response:
    if s.actor.session_id is not None:
        await c.submit(svc.logout, actor=s.actor, token_hash=s.token_hash, now=c.clock.now())
    c.auth_cache.pop(s.token_hash, None)
    c.hub.close_session(s.token_hash)
    return Response(status_code=204)


@router.get("/me", response_model=UserOut, openapi_extra=roles(ANY_SIGNED_IN))
async def me(s: Session) -> JSON:
    a = s.actor
    return JSON({"id": a.user_id or a.device_id, "username": a.name, "display_name": a.name,
                 "roles": sorted(a.roles), "active": True, "kind": "user" if a.user_id else "device",
                 "expires_at": s.expires_at})
