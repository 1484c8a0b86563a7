"""Who may call what, generated from the route table.

Every HTTP route of the app (read from `app.routes`, not listed by hand) is called by every
principal: anonymous, a bearer token that matches nothing, the kiosk K1, the display S1, and the
users op (operator), sec (security_admin), aud (auditor) and clerk1 (clerk). The expected answer
comes from the route's own `x-roles` declaration:

  - anonymous (or an unknown token) -> 401, unless the route is "public";
  - a principal none of whose roles is declared -> 403;
  - an allowed principal -> anything but 401/403 (and not a validation error on our dummy
    parameters: path params point at real objects of the hall and bodies are minimal valid
    instances of the route's body model, so allowed calls reach the handler).

Every 4xx is in the error shape. Each call starts from the same prepared hall (see harness.py),
so a logout, a device revocation or a password change in one case cannot leak into another.
The display stream websocket is checked the same way. Then a few rules that roles alone do not
express: clerks act only at their own window, administrators cannot grant themselves roles, and a
revoked device token stops working at once.
"""
from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect

from kiosk_server.api import errors
from kiosk_server.api.deps import Principal
from kiosk_server.api.routers.display import STREAM_ROLES
from kiosk_server.api.routers.public import STREAM_ROLES as PUBLIC_STREAM_ROLES
from kiosk_server.domain.model import Role
from tests.api.harness import (
    ANY, PRINCIPAL_ROLES, PUBLIC, Harness, RouteInfo, Template, allowed, assert_error_shape, flatten_routes,
    other_routes_are_known, route_table_app,
)
from tests.support.hall import PASSWORD

APP = route_table_app()
ROUTES, OTHER_ROUTES = flatten_routes(APP.routes)
HTTP_ROUTES = [r for r in ROUTES if r.kind == "http"]
WS_ROUTES = [r for r in ROUTES if r.kind == "websocket"]
STREAM = "/api/v1/display/stream"
PUBLIC_STREAM = "/api/v1/public/tickets/{public_token}/stream"
# A stream cannot carry openapi_extra; its declaration is the STREAM_ROLES list it enforces.
WS_ROLES = {STREAM: tuple(STREAM_ROLES), PUBLIC_STREAM: tuple(PUBLIC_STREAM_ROLES)}
KNOWN_ROLE_VALUES = {r.value for r in Role} | {PUBLIC, ANY}


def _order(r: RouteInfo) -> tuple[bool, str]:
    return (r.path == "/api/v1/auth/logout", r.label)  # no reliance on it, but logout runs last


# ---------------------------------------------------------------- dummy arguments

def _path_values(route: RouteInfo, t: Template) -> dict[str, Any]:
    """Path parameters that name real objects: window 06 (clerk1's), device S2, ticket 1 (called at
    06), clerk3's account, ticket 1's public token. Unknown parameters get a value of their type."""
    segments = route.path.strip("/").split("/")
    known = {("windows", "code"): "06", ("devices", "code"): "S2", ("tickets", "ticket_id"): t.ticket_called,
             ("users", "user_id"): t.user_ids["clerk3"], ("tickets", "public_token"): t.public_token,
             ("zones", "code"): "C", ("matters", "code"): "C01", ("printers", "code"): "P1",
             ("holidays", "day"): "2027-01-01", ("appointments", "code"): "12345678"}
    out = {}
    for name, annotation in route.path_params:
        before = segments[segments.index("{" + name + "}") - 1]
        out[name] = known.get((before, name), 1 if annotation is int else "x")
    return out


def _body_hints(t: Template) -> dict[Any, Any]:
    """Values for body fields by (model, field) or by field name."""
    return {
        ("LoginIn", "username"): "clerk3", ("LoginIn", "password"): PASSWORD,
        ("UserCreate", "username"): "matrix.user", ("UserCreate", "password"): PASSWORD,
        ("UserCreate", "roles"): ["clerk"],
        ("ZoneCreate", "prefix"): "Q", ("WindowCreate", "zones"): ["A"], ("HolidayCreate", "date"): "2027-05-01",
        ("PrinterCreate", "transport"): {"kind": "network", "host": "127.0.0.1", "port": 9100},
        ("AppointmentCreate", "date"): "2027-05-06", ("AppointmentCreate", "start"): "10:00",
        ("AppointmentCreate", "end"): "10:30", ("CheckInIn", "code"): "12345678", ("TicketCreate", "zone"): "A",
        "zone": "A", "reason": "role matrix", "display_name": "Role Matrix", "ticket_id": t.ticket_waiting,
    }


def _value_of(annotation: Any, meta: list[Any]) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return _value_of(next(a for a in get_args(annotation) if a is not type(None)), meta)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin in (list, typing.List):
        return []
    if annotation is bool:
        return True
    if annotation is int:
        return next((getattr(m, "ge") for m in meta if getattr(m, "ge", None) is not None), 1)
    if annotation is str:
        n = next((getattr(m, "min_length") for m in meta if getattr(m, "min_length", None)), 1)
        return "x" * n
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return minimal_body(annotation, {})
    return None


def minimal_body(model: type[BaseModel], hints: dict[Any, Any]) -> dict[str, Any]:
    """The required fields of a body model, filled from the hints or by type, and checked valid."""
    body = {}
    for name, f in model.model_fields.items():
        if not f.is_required() and (model.__name__, name) not in hints:  # optional: only when hinted
            continue
        if (model.__name__, name) in hints:
            body[name] = hints[(model.__name__, name)]
        elif name in hints:
            body[name] = hints[name]
        else:
            body[name] = _value_of(f.annotation, f.metadata)
    try:
        model.model_validate(body)
    except ValidationError as e:  # a new model whose fields need a hint in _body_hints
        pytest.fail(f"no valid dummy body for {model.__name__}: {body!r}: {e}")
    return body


def call(h: Harness, route: RouteInfo, who: str | None) -> Any:
    url = route.path.format(**_path_values(route, h.template))
    params = {name: _value_of(annotation, []) for name, annotation in route.required_query}
    body = minimal_body(route.body_model, _body_hints(h.template)) if route.body_model else None
    return h.request(route.method, url, who, json=body, params=params or None)


# ---------------------------------------------------------------- the declarations

def test_route_table_is_read() -> None:
    labels = {r.label for r in ROUTES}
    assert len(HTTP_ROUTES) >= 25, labels  # the flattening found the included routers
    assert "POST /api/v1/windows/{code}/call-next" in labels and f"WS {STREAM}" in labels
    assert {r.label for r in WS_ROUTES} == {f"WS {p}" for p in WS_ROLES}, "a new websocket needs a declaration"


def test_every_route_declares_its_roles() -> None:
    """Deny by default: every APIRoute says who may call it, with known role names only."""
    missing = [r.label for r in HTTP_ROUTES if not r.x_roles]
    assert not missing, f"routes without openapi_extra x-roles: {missing}"
    for r in HTTP_ROUTES:
        assert set(r.x_roles or ()) <= KNOWN_ROLE_VALUES, f"{r.label}: unknown role in {r.x_roles}"
        if PUBLIC in (r.x_roles or ()):
            assert r.x_roles == (PUBLIC,), f"{r.label}: 'public' mixed with roles: {r.x_roles}"
    for path, roles in WS_ROLES.items():
        assert roles and set(roles) <= KNOWN_ROLE_VALUES, (path, roles)
    # Nothing else is routed: a plain Starlette route would bypass the declaration.
    assert other_routes_are_known(OTHER_ROUTES) == ["GET /openapi.json", "HEAD /openapi.json"]


def test_openapi_documents_the_enforced_roles() -> None:
    doc = APP.openapi()["paths"]
    for r in HTTP_ROUTES:
        assert doc[r.path][r.method.lower()].get("x-roles") == list(r.x_roles or ()), r.label


def test_undeclared_route_refuses_everyone(hall_api: Harness) -> None:
    """The mechanism behind deny by default: a route that forgets x-roles refuses even op."""
    app = FastAPI()
    app.state.container = hall_api.container
    errors.install(app)

    @app.get("/undeclared")
    async def undeclared(actor: Principal) -> dict[str, str]:
        return {"who": actor.name}

    with TestClient(app) as client:
        for who in ("op", "sec", "aud", "clerk1", "K1", "S1"):
            r = client.get("/undeclared", headers=hall_api.h(who))
            assert r.status_code == 403, (who, r.text)
            assert_error_shape(r.status_code, r.json())
        assert client.get("/undeclared").status_code == 401


# ---------------------------------------------------------------- the matrix

@pytest.mark.parametrize("who", list(PRINCIPAL_ROLES), ids=lambda w: w or "anonymous")
@pytest.mark.parametrize("route", sorted(HTTP_ROUTES, key=_order), ids=lambda r: r.label)
def test_role_matrix(hall_api: Harness, route: RouteInfo, who: str | None) -> None:
    r = call(hall_api, route, who)
    expected = allowed(route.x_roles or (), who)
    context = f"{route.label} as {who or 'anonymous'} (x-roles {list(route.x_roles or ())})"
    assert r.status_code < 500, f"{context}: {r.status_code} {r.text}"
    if r.status_code >= 400:
        assert_error_shape(r.status_code, r.json(), context)
    if expected == "401":
        assert r.status_code == 401, f"{context}: expected 401, got {r.status_code} {r.text}"
    elif expected == "403":
        assert r.status_code == 403, f"{context}: expected 403, got {r.status_code} {r.text}"
        assert r.json()["error"]["code"] == "forbidden", context
    else:
        assert r.status_code not in (401, 403), f"{context}: allowed but refused: {r.status_code} {r.text}"
        if r.status_code == 422:  # our dummies must be valid; a 422 must come from the handler
            assert r.json()["error"]["code"] != "validation", f"{context}: dummy arguments invalid: {r.text}"


@pytest.mark.parametrize("who", list(PRINCIPAL_ROLES), ids=lambda w: w or "anonymous")
@pytest.mark.parametrize("path", sorted(WS_ROLES))
def test_stream_matrix(hall_api: Harness, path: str, who: str | None) -> None:
    """Refused principals are closed with 1008 (policy violation) before any data; allowed ones
    get a snapshot first."""
    url = path.replace("{public_token}", hall_api.template.public_token)
    if allowed(WS_ROLES[path], who) == "ok":
        with hall_api.client.websocket_connect(url, headers=hall_api.h(who)) as ws:
            first = ws.receive_json()
        if path == PUBLIC_STREAM:
            assert first["type"] == "ticket" and first["ticket"]["status"] == "called", first
            return
        assert first["type"] == "snapshot", first
        assert {"seq", "windows", "waiting", "calls"} <= set(first)
    else:
        with pytest.raises(WebSocketDisconnect) as e:
            with hall_api.client.websocket_connect(url, headers=hall_api.h(who)) as ws:
                ws.receive_text()
        assert e.value.code == 1008, (who, e.value)


def test_stream_accepts_the_token_as_query_parameter(hall_api: Harness) -> None:
    """Browsers cannot set headers on a websocket: ?token= works, and is refused just the same."""
    with hall_api.client.websocket_connect(f"{STREAM}?token={hall_api.token('S1')}") as ws:
        assert ws.receive_json()["type"] == "snapshot"
    with hall_api.client.websocket_connect(f"{STREAM}?token={hall_api.token('K1')}") as ws:  # the kiosk page
        assert ws.receive_json()["type"] == "snapshot"
    with pytest.raises(WebSocketDisconnect) as e:
        with hall_api.client.websocket_connect(f"{STREAM}?token={hall_api.token('aud')}") as ws:
            ws.receive_text()
    assert e.value.code == 1008


# ---------------------------------------------------------------- rules beyond roles

WINDOW_ACTIONS = [("call-next", None), ("pause", {"reason": "lunch"}), ("close", None), ("resume", None),
                  ("recall", None), ("call", "ticket")]


def _window(h: Harness, code: str) -> dict[str, Any]:
    r = h.get("/api/v1/windows", "op")
    assert r.status_code == 200, r.text
    return next(w for w in r.json() if w["code"] == code)


def _forbidden(r: Any, context: str) -> None:
    assert r.status_code == 403, f"{context}: {r.status_code} {r.text}"
    assert_error_shape(r.status_code, r.json(), context)


def test_clerk_acts_only_at_the_window_signed_in_to(hall_api: Harness) -> None:
    h, t = hall_api, hall_api.template
    r = h.post("/api/v1/windows/06/open", "clerk1")
    assert r.status_code == 200, r.text
    assert r.json()["clerk"]["id"] == t.user_ids["clerk1"]

    def try_07(when: str) -> None:
        for action, body in WINDOW_ACTIONS:
            payload = {"ticket_id": t.ticket_waiting} if body == "ticket" else body
            r = h.post(f"/api/v1/windows/07/{action}", "clerk1", json=payload)
            _forbidden(r, f"clerk1 {action} at 07 ({when})")
            assert r.json()["error"]["code"] == "window_not_yours"

    # Window 07 closed: nobody's.
    assert h.post("/api/v1/windows/07/close", "clerk2").status_code == 200
    before = _window(h, "07")
    try_07("closed")
    assert _window(h, "07") == before
    # Window 07 opened by clerk2.
    assert h.post("/api/v1/windows/07/open", "clerk2").status_code == 200
    before = _window(h, "07")
    try_07("clerk2's")
    assert _window(h, "07") == before
    assert h.get(f"/api/v1/tickets/{t.ticket_waiting}", "op").json()["status"] == "waiting"
    # At 06 the same clerk is served.
    assert h.post("/api/v1/windows/06/recall", "clerk1").status_code == 200


def test_clerk_cannot_act_on_a_ticket_called_at_another_clerks_window(hall_api: Harness) -> None:
    h, t = hall_api, hall_api.template
    assert h.post("/api/v1/windows/06/open", "clerk1").status_code == 200
    called = h.post("/api/v1/windows/07/call-next", "clerk2")
    assert called.status_code == 200, called.text
    tid = called.json()["id"]
    assert called.json()["window"]["code"] == "07"
    actions = [("start", None), ("no-show", None), ("finish", None), ("cancel", None),
               ("transfer", {"to_zone": "B", "reason": "x"}), ("transfer", {"to_window": "06", "reason": "x"})]
    for action, body in actions:
        _forbidden(h.post(f"/api/v1/tickets/{tid}/{action}", "clerk1", json=body), f"clerk1 {action} on 07's ticket")
    assert h.get(f"/api/v1/tickets/{tid}", "clerk1").json()["status"] == "called"
    # Still refused once it is being served.
    assert h.post(f"/api/v1/tickets/{tid}/start", "clerk2").status_code == 200
    for action, body in actions:
        _forbidden(h.post(f"/api/v1/tickets/{tid}/{action}", "clerk1", json=body), f"clerk1 {action} (serving)")
    ticket = h.get(f"/api/v1/tickets/{tid}", "clerk1").json()
    assert (ticket["status"], ticket["window"]["code"]) == ("serving", "07")
    # clerk1 may act on its own ticket at 06.
    assert h.post(f"/api/v1/tickets/{t.ticket_called}/start", "clerk1").status_code == 200


@pytest.mark.parametrize("admin,other", [("sec", "operator"), ("sec", "auditor"), ("op", "security_admin"),
                                         ("aud", "security_admin"), ("op", "auditor")])
def test_no_administrator_grants_itself_a_role(hall_api: Harness, admin: str, other: str) -> None:
    h, t = hall_api, hall_api.template
    own = sorted(PRINCIPAL_ROLES[admin])
    for roles in ([*own, other], [other], own):
        r = h.patch(f"/api/v1/admin/users/{t.user_ids[admin]}", admin, json={"roles": roles})
        _forbidden(r, f"{admin} sets own roles {roles}")
    _forbidden(h.patch(f"/api/v1/admin/users/{t.user_ids[admin]}", admin, json={"active": False}), f"{admin} active")
    me = h.get("/api/v1/auth/me", admin)
    assert me.status_code == 200 and me.json()["roles"] == own, me.text


def test_security_admin_cannot_create_or_make_a_dual_role_account(hall_api: Harness) -> None:
    h, t = hall_api, hall_api.template
    r = h.post("/api/v1/admin/users", "sec", json={"username": "dual", "display_name": "Dual", "password": PASSWORD,
                                                   "roles": ["operator", "auditor"]})
    assert r.status_code == 422, r.text
    assert_error_shape(422, r.json())
    assert r.json()["error"]["code"] == "roles_not_separated"
    for roles in (["operator", "security_admin"], ["auditor", "security_admin", "clerk"]):
        r = h.patch(f"/api/v1/admin/users/{t.user_ids['clerk3']}", "sec", json={"roles": roles})
        assert r.status_code == 422 and r.json()["error"]["code"] == "roles_not_separated", r.text
    users = h.get("/api/v1/admin/users", "sec").json()
    assert "dual" not in {u["username"] for u in users}
    assert next(u for u in users if u["username"] == "clerk3")["roles"] == ["clerk"]


@pytest.mark.parametrize("who", ["op", "aud", "clerk1", "K1", "S1"])
def test_only_the_security_admin_reaches_accounts(hall_api: Harness, who: str) -> None:
    h, t = hall_api, hall_api.template
    calls = [h.get("/api/v1/admin/users", who),
             h.post("/api/v1/admin/users", who, json={"username": "new.op", "display_name": "N", "password": PASSWORD,
                                                      "roles": ["operator"]}),
             h.patch(f"/api/v1/admin/users/{t.user_ids['clerk3']}", who, json={"roles": ["operator"]}),
             h.patch(f"/api/v1/admin/users/{t.user_ids[who]}" if who in t.user_ids else
                     f"/api/v1/admin/users/{t.user_ids['op']}", who, json={"roles": ["security_admin"]})]
    for r in calls:
        _forbidden(r, f"{who} on /admin/users")
        assert r.json()["error"]["code"] == "forbidden"


def test_revoked_device_token_is_refused_at_once(hall_api: Harness) -> None:
    h = hall_api
    assert h.get("/api/v1/kiosk/menu", "K1").status_code == 200  # now in this worker's auth cache
    r = h.post("/api/v1/admin/devices/K1/revoke", "op")
    assert r.status_code == 200, r.text
    assert r.json() == {"code": "K1", "revoked": True}
    for r in (h.get("/api/v1/kiosk/menu", "K1"), h.post("/api/v1/tickets", "K1", json={"zone": "A"}),
              h.get("/api/v1/auth/me", "K1")):
        assert r.status_code == 401, r.text
        assert_error_shape(401, r.json())
    # A new token is issued; the old one stays dead.
    r = h.post("/api/v1/admin/devices/K1/token", "op")
    assert r.status_code == 200, r.text
    new = r.json()["token"]
    assert h.client.get("/api/v1/kiosk/menu", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    assert h.get("/api/v1/kiosk/menu", "K1").status_code == 401
    # Revoking an unknown device is a 404, in the error shape.
    r = h.post("/api/v1/admin/devices/NOPE/revoke", "op")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
