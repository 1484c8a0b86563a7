"""One place that maps errors to the status and `{"error": {"code", "message"}}` of API.md,
with the message in the request's language."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kiosk_server.api.responses import JSON
from kiosk_server.domain.errors import DomainError
from kiosk_server.i18n import pick_language, t

log = logging.getLogger("kiosk_server.api")


def error_body(code: str, lang: str, **params: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": t(code, lang, **params)}}


def lang_of(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"))


def domain_response(exc: DomainError, lang: str) -> JSON:
    """The answer to a refused use case (here and on the hot paths of api/hotpath.py)."""
    body = error_body(exc.code, lang, **exc.params)
    headers = None
    if "details" in exc.params:  # e.g. every problem of an imported configuration, with its key path
        body["error"]["details"] = exc.params["details"]
    if "retry_after" in exc.params:
        body["error"]["retry_after"] = exc.params["retry_after"]
        headers = {"Retry-After": str(exc.params["retry_after"])}
    return JSON(body, status_code=exc.status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSON:
        return domain_response(exc, lang_of(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSON:
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        body = error_body("validation", lang_of(request), detail="; ".join(parts))
        body["error"]["fields"] = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg")}
                                   for e in exc.errors()[:20]]
        return JSON(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSON:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "invalid")
        return JSON(error_body(code, lang_of(request)), status_code=exc.status_code,
                    headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception) -> JSON:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSON(error_body("internal", lang_of(request)), status_code=500)
