"""Shared machinery of the API tests: the route table, the principals, and a hall that is
prepared once and restored before every test (or every Hypothesis example).

Why a template: preparing a hall and signing in cost argon2 work, and FastAPI builds its route
lookup lazily on the first request of each app. So one SQLite file is prepared and every user
signed in once (`build_template`); a `Harness` keeps one app and client and `reset()` copies the
template back into its database with the SQLite backup API. Every test therefore starts from the
same state, tokens included: a test may log a principal out, revoke a device or change a password
without affecting the next one.

The template state:
  - users op, sec, aud, clerk1, clerk2, clerk3 (all signed in except clerk3, who is the target
    of account changes); devices K1 (kiosk), S1, S2 (display);
  - clerk1 has opened window 06 and called ticket 1 (A001) there;
  - clerk2 has opened window 07, which is free;
  - ticket 2 (A002, zone A) and ticket 3 (B001, zone B) wait.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Route, WebSocketRoute

from kiosk_server.config import Settings
from kiosk_server.main import create_app
from kiosk_server.realtime.hub import EventHub
from tests.support.hall import FakeClock, PreparedHall, make_settings, prepare, test_env

PUBLIC = "public"
ANY = "any"
START = FakeClock().t

# Who calls: None is anonymous; "bogus" sends a bearer token that matches nothing.
PRINCIPAL_ROLES: dict[str | None, frozenset[str]] = {
    None: frozenset(),
    "bogus": frozenset(),
    "K1": frozenset({"kiosk"}),
    "S1": frozenset({"display"}),
    "op": frozenset({"operator"}),
    "sec": frozenset({"security_admin"}),
    "aud": frozenset({"auditor"}),
    "clerk1": frozenset({"clerk"}),
}
SIGNED_IN = [p for p in PRINCIPAL_ROLES if p not in (None, "bogus")]
USERS_SIGNED_IN = ["op", "sec", "aud", "clerk1", "clerk2"]
BOGUS_TOKEN = "not-a-token-of-this-hall"


# ---------------------------------------------------------------- the route table

@dataclass(frozen=True)
class RouteInfo:
    kind: str                      # "http" or "websocket"
    method: str                    # "GET", "POST", ... ("WS" for the websocket)
    path: str
    x_roles: tuple[str, ...] | None
    body_model: Any = None
    path_params: tuple[tuple[str, Any], ...] = ()
    required_query: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _params(dependant: Any, attr: str) -> list[Any]:
    """Parameters of a dependant and of all its sub-dependencies."""
    out = list(getattr(dependant, attr))
    for sub in dependant.dependencies:
        out += _params(sub, attr)
    return out


def _body_model(annotation: Any) -> Any:
    """The model of a body parameter; an optional body (`Model | None = None`) is sent as Model."""
    import types
    import typing
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


def _from_api(path: str, methods: set[str], extra: dict[str, Any] | None, dependant: Any) -> list[RouteInfo]:
    roles = (extra or {}).get("x-roles")
    body = _params(dependant, "body_params")
    model = _body_model(body[0].field_info.annotation) if len(body) == 1 else None
    pp = tuple((p.name, p.field_info.annotation) for p in _params(dependant, "path_params"))
    rq = tuple((p.name, p.field_info.annotation) for p in _params(dependant, "query_params")
               if p.field_info.is_required())
    return [RouteInfo("http", m, path, tuple(roles) if roles is not None else None, model, pp, rq)
            for m in sorted(methods)]


def flatten_routes(routes: list[BaseRoute]) -> tuple[list[RouteInfo], list[BaseRoute]]:
    """Every APIRoute and APIWebSocketRoute with its full path, read from `app.routes`.

    FastAPI >= 0.16x keeps an included router as one lazy entry whose
    `effective_route_contexts()` gives the routes with the prefix applied; older versions copy
    the routes into `app.routes`. Both are handled. Returns (API routes, other routes)."""
    api: list[RouteInfo] = []
    other: list[BaseRoute] = []
    for r in routes:
        contexts = getattr(r, "effective_route_contexts", None)
        if contexts is not None:
            for ctx in contexts():
                orig = ctx.original_route
                if isinstance(orig, APIRoute):
                    api += _from_api(ctx.path, ctx.methods, ctx.openapi_extra, ctx.dependant)
                elif isinstance(orig, APIWebSocketRoute):
                    api.append(RouteInfo("websocket", "WS", ctx.starlette_route.path, None))
                else:
                    other.append(ctx.starlette_route or orig)
        elif isinstance(r, APIRoute):
            api += _from_api(r.path, r.methods, r.openapi_extra, r.dependant)
        elif isinstance(r, APIWebSocketRoute):
            api.append(RouteInfo("websocket", "WS", r.path, None))
        else:
            other.append(r)
    return api, other


def route_table_settings() -> Settings:
    """Settings for an app that is only inspected, never called: its database is never opened."""
    import tempfile
    return make_settings(f"sqlite:///{Path(tempfile.gettempdir()) / 'hall-route-table-unused.db'}", test_env())


def route_table_app() -> FastAPI:
    return create_app(route_table_settings(), run_sweeper=False)


def allowed(x_roles: tuple[str, ...] | list[str], who: str | None) -> str:
    """The answer the declaration promises: "ok" (reaches the handler), 401 or 403."""
    if PUBLIC in x_roles:
        return "ok"
    if who is None or who == "bogus":
        return "401"
    if ANY in x_roles or PRINCIPAL_ROLES[who] & set(x_roles):
        return "ok"
    return "403"


def assert_error_shape(status: int, body: Any, context: str = "") -> None:
    """Every 4xx (and 5xx) answers {"error": {"code": str, "message": str, ...}} and nothing else."""
    assert isinstance(body, dict) and set(body) == {"error"}, f"{context}: {status} not in the error shape: {body!r}"
    err = body["error"]
    assert isinstance(err, dict), f"{context}: {body!r}"
    assert isinstance(err.get("code"), str) and err["code"], f"{context}: no error code: {body!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"{context}: no error message: {body!r}"


# ---------------------------------------------------------------- the prepared hall

@dataclass
class Template:
    path: Path
    hall: PreparedHall
    tokens: dict[str, str]
    user_ids: dict[str, int]
    ticket_called: int          # at window 06, by clerk1
    ticket_waiting: int         # zone A
    ticket_waiting_b: int       # zone B
    public_token: str           # of ticket_called
    extra: dict[str, Any] = field(default_factory=dict)


def with_database(settings: Settings, url: str) -> Settings:
    """The same hall on another database file; commits without fsync (a test needs no power-loss
    safety, and the API tests commit thousands of times)."""
    server = settings.server.model_copy(update={"database_url": url, "sqlite_synchronous": "normal"})
    return settings.model_copy(update={"server": server})


def restore(src: Path, dst: Path) -> None:
    """Copy a SQLite database over another, safely even while the target file is in use."""
    s, d = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        d.execute("PRAGMA synchronous=OFF")
        s.backup(d)
    finally:
        d.close()
        s.close()


def build_template(directory: Path) -> Template:
    from tests.support.hall import PASSWORD
    path = directory / "template.db"
    hall = prepare(f"sqlite:///{path}")
    app = create_app(hall.settings, clock=FakeClock(), run_sweeper=False)
    tokens = dict(hall.device_tokens)
    with TestClient(app) as client:
        for who in USERS_SIGNED_IN:
            r = client.post("/api/v1/auth/login", json={"username": who, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens[who] = r.json()["token"]

        def post(url: str, who: str, json: Any = None) -> Any:
            r = client.post(url, json=json, headers={"Authorization": f"Bearer {tokens[who]}"})
            assert r.status_code in (200, 201), f"template: {url} as {who}: {r.status_code} {r.text}"
            return r.json()

        post("/api/v1/windows/06/open", "clerk1")
        post("/api/v1/windows/07/open", "clerk2")
        first = post("/api/v1/tickets", "K1", {"zone": "A"})
        second = post("/api/v1/tickets", "K1", {"zone": "A"})
        third = post("/api/v1/tickets", "K1", {"zone": "B"})
        called = post("/api/v1/windows/06/call-next", "clerk1")
        assert called["id"] == first["id"]
    hall.db.dispose()
    return Template(path=path, hall=hall, tokens=tokens, user_ids=dict(hall.users), ticket_called=first["id"],
                    ticket_waiting=second["id"], ticket_waiting_b=third["id"], public_token=first["public_token"])


class Harness:
    """One app and TestClient on a private copy of the template; `reset()` before each test."""

    def __init__(self, template: Template, directory: Path, *, hot_paths: bool = True) -> None:
        self.template = template
        self.db_path = directory / "hall.db"
        restore(template.path, self.db_path)
        self.clock = FakeClock()
        self.settings = with_database(template.hall.settings, f"sqlite:///{self.db_path}")
        self.app = create_app(self.settings, clock=self.clock, run_sweeper=False, hot_paths=hot_paths)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.tokens = dict(template.tokens)

    def __enter__(self) -> Harness:
        self.client.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.client.__exit__(*exc)

    @property
    def container(self) -> Any:
        return self.app.state.container

    def reset(self) -> None:
        c = self.container
        c.db.dispose()  # no pooled connection keeps a snapshot of the old content
        restore(self.template.path, self.db_path)
        c.auth_cache.clear()
        c.open_windows.forget()
        c.counters.clear()
        c.hub = EventHub()
        c.reload_hall()
        self.clock.set(START)
        self.tokens = dict(self.template.tokens)

    def token(self, who: str) -> str:
        return BOGUS_TOKEN if who == "bogus" else self.tokens[who]

    def h(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(who)}"} if who else {}

    def request(self, method: str, url: str, who: str | None = None, json: Any = None, **kw: Any) -> Any:
        headers = self.h(who) | kw.pop("headers", {})
        if json is not None:
            kw["json"] = json
        return self.client.request(method, url, headers=headers, **kw)

    def get(self, url: str, who: str | None = None, **kw: Any) -> Any:
        return self.request("GET", url, who, **kw)

    def post(self, url: str, who: str | None = None, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", url, who, json=json, **kw)

    def patch(self, url: str, who: str | None = None, json: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", url, who, json=json, **kw)


def other_routes_are_known(other: list[BaseRoute]) -> list[str]:
    """Routes that are neither APIRoute nor APIWebSocketRoute (they bypass x-roles)."""
    out = []
    for r in other:
        if isinstance(r, Route):
            out += [f"{m} {r.path}" for m in sorted(r.methods or [])]
        elif isinstance(r, WebSocketRoute):
            out.append(f"WS {r.path}")
        else:
            out.append(f"{type(r).__name__} {getattr(r, 'path', '?')}")
    return out
