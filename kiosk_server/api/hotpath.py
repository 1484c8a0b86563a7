"""The two requests a hall makes most, answered without FastAPI's routing and dependency solving.

`POST /api/v1/tickets` (every kiosk tap) and `POST /api/v1/windows/{code}/call-next` (every
clerk's F1) spent more time in the framework (route matching over every router, dependency
solving, request and response wrappers: ~60 % of a request's CPU under load) than in their
transaction. Here they are matched by path, authorised with the roles their routes declare and
run by the same functions the routes call, so the answer is the route's answer. The application
(main.HallApp) hands them over ahead of its middleware stack, whose layers (telemetry, body
limit, error handler) cost more than the SQL of a ticket: the request metrics and the answer to
an unexpected error are given here as the stack gives them.

Anything out of the ordinary goes on to FastAPI with the body it sent: a body that does not
validate, a header or query value that does not match the route's declared pattern, a content
type other than JSON. FastAPI then answers exactly as it always has (its 422 text included),
and a request that goes on has changed nothing. The routes stay declared in FastAPI, so
/openapi.json, the role matrix and the tests see them as before."""
from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from kiosk_server.api.deps import authorize
from kiosk_server.api.errors import domain_response, error_body
from kiosk_server.api.idempotency import KEY_PATTERN
from kiosk_server.api.responses import JSON
from kiosk_server.api.routers import kiosk, windows
from kiosk_server.api.schemas import TicketCreate
from kiosk_server.domain.errors import DomainError
from kiosk_server.i18n import pick_language

ISSUE_PATH = "/api/v1/tickets"
CALL_NEXT = re.compile(r"/api/v1/windows/([A-Za-z0-9_-]{1,16})/call-next")
IDEMPOTENCY_KEY = re.compile(KEY_PATTERN)
BOOLS = {"true": True, "1": True, "false": False, "0": False}  # other spellings go on to FastAPI
WANTED = (b"authorization", b"accept-language", b"content-type", b"idempotency-key")
log = logging.getLogger("kiosk_server.api")
PASSED_ON = "hall.passed_on"  # scope key: the request went on to the middleware stack
MAX_BODY = 64 * 1024  # a ticket request is ~100 bytes; anything bigger is FastAPI's to refuse


class HotPaths:
    """Called by the application (main.HallApp) for the requests it `claims`, ahead of the
    middleware stack; `pass_on` is that whole stack, for anything these paths do not answer."""

    def __init__(self, pass_on: Any, metrics: Any) -> None:
        self.app = pass_on
        self.metrics = metrics

    @staticmethod
    def claims(scope: dict[str, Any]) -> bool:
        if scope["method"] != "POST":
            return False
        path = scope["path"]
        return path == ISSUE_PATH or (path.endswith("/call-next") and CALL_NEXT.fullmatch(path) is not None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        start = time.perf_counter()
        status = [0]

        async def answer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        path = scope["path"]
        try:
            if path == ISSUE_PATH:
                await self._issue(scope, receive, answer)
            else:
                m = CALL_NEXT.fullmatch(path)
                assert m is not None  # claimed
                await self._call_next(scope, receive, answer, m.group(1))
        except Exception:
            if scope.get(PASSED_ON):
                raise  # the stack it went on to has answered and logged it
            log.exception("unhandled error on %s %s", scope["method"], path)
            if status[0]:
                raise  # the answer had begun: the server closes the connection
            status[0] = 500  # as the 500 handler of api/errors.py answers
            await JSON(error_body("internal", pick_language(_headers(scope).get("accept-language"))),
                       status_code=500)(scope, receive, send)
        finally:
            if not scope.get(PASSED_ON):  # the stack counted those
                self.metrics.record(scope["method"], status[0] or 500, time.perf_counter() - start)

    async def _issue(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = _headers(scope)
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its request
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > MAX_BODY:
                more = bool(message.get("more_body"))
                break
        key = headers.get("idempotency-key")
        ctype = headers.get("content-type", "application/json")
        if (more or not body or (key is not None and not IDEMPOTENCY_KEY.fullmatch(key))
                or ctype.split(";", 1)[0].strip().lower() != "application/json"):
            await self._pass_on(scope, _replay(body, receive, more), send)
            return
        try:
            parsed = TicketCreate.model_validate_json(body)
        except ValidationError:
            await self._pass_on(scope, _replay(body, receive, False), send)
            return
        c = scope["app"].state.container
        lang = pick_language(headers.get("accept-language"))
        try:
            actor = authorize(c, headers, _client(scope), kiosk.ISSUERS["x-roles"]).actor
            ticket, extra = await kiosk.issue_answer(c, scope["app"].state.idempotency, actor, parsed, lang, key)
            response = JSON(ticket, status_code=201, headers=extra)
        except DomainError as exc:
            response = domain_response(exc, lang)
        c.count("hot_path_issue")
        await response(scope, receive, send)

    async def _call_next(self, scope: dict[str, Any], receive: Any, send: Any, code: str) -> None:
        finish = False
        for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            if name == "finish_current":
                if value not in BOOLS:
                    await self._pass_on(scope, receive, send)
                    return
                finish = BOOLS[value]
        headers = _headers(scope)
        c = scope["app"].state.container
        lang = pick_language(headers.get("accept-language"))
        try:
            actor = authorize(c, headers, _client(scope), windows.STAFF["x-roles"]).actor
            response = await windows.call_next_answer(c, actor, code, finish)
        except DomainError as exc:
            response = domain_response(exc, lang)
        c.count("hot_path_call_next")
        await response(scope, receive, send)

    async def _pass_on(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"].state.container.count("hot_path_passed_on")
        scope[PASSED_ON] = True
        await self.app(scope, receive, send)


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    """The few headers these routes read; the first of each, as Starlette's `headers.get`."""
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in WANTED:
            out.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return out


def _client(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _replay(body: bytes, receive: Any, more: bool) -> Any:
    """A `receive` that gives the body read so far again, then the rest of the stream."""
    pending = [{"type": "http.request", "body": body, "more_body": more}]

    async def again() -> dict[str, Any]:
        return pending.pop() if pending else await receive()
    return again
