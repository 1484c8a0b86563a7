"""Dependencies: the container, the signed-in principal and its roles.

Each route declares who may call it once, in `openapi_extra={"x-roles": [...]}` (see `roles()`);
`principal` enforces exactly that list, and the role-matrix test reads the same list from the
route table. Deny by default: a route without the declaration refuses everyone."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, WebSocket

from kiosk_server.bootstrap import Container
from kiosk_server.domain.errors import Forbidden, Unauthorized
from kiosk_server.services import auth as auth_svc
from kiosk_server.services.context import Actor

PUBLIC = "public"
ANY_SIGNED_IN = "any"
CACHE_SECONDS = 5.0      # a revoked token is refused by other workers within this time
TOUCH = timedelta(seconds=60)  # last-seen is written at most this often (idle expiry granularity)


def roles(*names: str) -> dict[str, Any]:
    return {"x-roles": list(names)}


async def container(request: Request) -> Container:
    return request.app.state.container


Ctx = Annotated[Container, Depends(container)]


def bearer(headers: Any, query: Any = None) -> str | None:
    h = headers.get("authorization")
    if h and h[:7].lower() == "bearer ":
        return h[7:].strip() or None
    if query is not None:
        return query.get("token") or None
    return None


def resolve(c: Container, token: str | None, client_addr: str | None) -> auth_svc.Authenticated:
    """The principal behind a bearer token. Validated sessions are cached for a few seconds so
    a request costs no database read; last-seen is written at most once a minute."""
    if not token:
        raise Unauthorized("unauthorized")
    h = c.keys.token_hash(token)
    now = c.clock.now()
    mono = time.monotonic()
    hit = c.auth_cache.get(h)
    if hit is not None:
        a, at = hit
        if (mono - at < CACHE_SECONDS and (a.expires_at is None or a.expires_at > now)
                and not a.needs_touch(now, TOUCH)):
            return a
    security = c.settings.security
    with c.db.read() as conn:
        a = auth_svc.authenticate(conn, token_hash=h, now=now, security=security, client_addr=client_addr)
    if a is None:
        c.auth_cache.pop(h, None)
        raise Unauthorized("session_expired" if hit is not None else "unauthorized")
    if a.actor.session_id is not None and a.needs_touch(now, TOUCH):
        with c.db.write() as conn:
            auth_svc.touch(conn, session_id=a.actor.session_id, now=now)
        a.touched(now, timedelta(minutes=security.session_idle_minutes))
    if len(c.auth_cache) > 10_000:
        c.auth_cache.clear()
    c.auth_cache[h] = (a, mono)
    return a


def check_roles(actor: Actor, allowed: list[str]) -> None:
    if ANY_SIGNED_IN in allowed:
        return
    if not actor.roles.intersection(allowed):
        raise Forbidden("forbidden")


def _allowed(request: Request | WebSocket) -> list[str]:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    return list(extra.get("x-roles", []))


def authorize(c: Container, headers: Any, client_addr: str | None, allowed: list[str]) -> auth_svc.Authenticated:
    """The principal of a request whose route allows `allowed` (here and in api/hotpath.py)."""
    a = resolve(c, bearer(headers), client_addr)
    check_roles(a.actor, allowed)
    return a


def _authenticated(request: Request) -> auth_svc.Authenticated:
    return authorize(request.app.state.container, request.headers, request.client.host if request.client else None,
                     _allowed(request))


# One level each, with no sub-dependencies: FastAPI's dependency solving is a visible part of a
# request's cost on the hot paths (issue, call-next).
async def authenticated(request: Request) -> auth_svc.Authenticated:
    return _authenticated(request)


async def principal(request: Request) -> Actor:
    return _authenticated(request).actor


Principal = Annotated[Actor, Depends(principal)]
Session = Annotated[auth_svc.Authenticated, Depends(authenticated)]
