"""`create_app(settings)`: the FastAPI application and its lifespan (the sweeper, the event
listener on PostgreSQL, the print spoolers)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from kiosk_server import bootstrap
from kiosk_server.api import errors
from kiosk_server.api.hotpath import HotPaths
from kiosk_server.api.idempotency import IdempotencyCache
from kiosk_server.api.metrics import RequestMetrics
from kiosk_server.api.routers import admin, appointments, auth, display, kiosk, ops, pages, public, tickets, windows
from kiosk_server.api.routers import supervision
from kiosk_server.config import Settings
from kiosk_server.services.context import Clock
from kiosk_server import scheduled

log = logging.getLogger("kiosk_server")


def create_app(settings: Settings, *, clock: Clock | None = None, container: bootstrap.Container | None = None,
               run_sweeper: bool = True, run_spoolers: bool | None = None, hot_paths: bool = True) -> FastAPI:
    """`run_sweeper` and `run_spoolers` start the background work; `run_spoolers` defaults to
    `run_sweeper` (an app driven step by step in tests runs neither) and needs
    `[printing] spoolers` on and at least one enabled printer. `hot_paths=False` leaves issuing
    and call-next to FastAPI's routing (api/hotpath.py; the tests compare the two)."""
    c = container or bootstrap.build(settings, clock=clock)
    spool = run_sweeper if run_spoolers is None else run_spoolers

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if not c.db.is_sqlite:
            from kiosk_server.db import queries
            from kiosk_server.realtime.pg_listener import PgFanout
            start = c.read(queries.last_seq)
            c.hub.last_seq = start
            c.fanout = PgFanout(settings.server.database_url, lambda since, n: c.read(queries.events_since, c.hall, since, n),
                                c.deliver, start)
            tasks.append(asyncio.create_task(c.fanout.run()))
        if run_sweeper:
            tasks.append(asyncio.create_task(scheduled.sweeper(c)))
        if spool and settings.printing.spoolers:
            c.printing = _start_printing(c)
            c.start_printing = lambda: _start_printing(c)  # a printer added later starts them
        try:
            yield
        finally:
            c.start_printing = None
            if c.printing is not None:
                runtime, c.printing = c.printing, None
                await asyncio.to_thread(runtime.stop)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            c.db.dispose()

    # No /docs: Swagger UI loads from the internet, which a hall does not have. /openapi.json stays.
    app = HallApp(title="Hall queue server", version="1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Queue ticketing and window calling for government service halls (政务服务中心).")
    app.state.container = c
    app.state.idempotency = IdempotencyCache()  # POST /api/v1/tickets with an Idempotency-Key
    for r in (auth.router, kiosk.router, appointments.router, public.router, windows.router, tickets.router, display.router, admin.router,
              ops.router, pages.router):
        app.include_router(r)
    app.include_router(supervision.router)
    errors.install(app)
    metrics = RequestMetrics(app.router)
    c.app_metrics = metrics
    app.add_middleware(_Wrap, inner=metrics)
    if hot_paths:
        app.hot = HotPaths(lambda scope, receive, send: FastAPI.__call__(app, scope, receive, send), metrics)
    return app


class HallApp(FastAPI):
    """The FastAPI application, with the hot paths (api/hotpath.py) answered ahead of its
    middleware stack: the telemetry, body-limit and error layers FastAPI puts around every
    request cost issuing more than its transaction's statements. The hot paths keep the same
    metrics and answer an unexpected error as the 500 handler does; every other request, and
    any they pass on, goes through the whole stack."""

    hot: HotPaths | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        hot = self.hot
        if hot is not None and scope["type"] == "http" and hot.claims(scope):
            scope["app"] = self
            await hot(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _start_printing(c: bootstrap.Container) -> Any:
    """The print runtime, if the hall has a printer to drive (printer_driver is imported only then)."""
    from kiosk_server.db import queries
    try:
        if not c.read(queries.enabled_printers, c.hall.id):
            return None
        from kiosk_server.spoolers import PrintRuntime
        runtime = PrintRuntime(c, asyncio.get_running_loop())
        runtime.start()
        return runtime
    except Exception:  # the hall serves without printing rather than not at all
        log.exception("the print spoolers did not start: jobs are queued and print after a restart that starts them")
        return None


class _Wrap:
    """Adapter so the metrics middleware sees every HTTP request, including errors."""

    def __init__(self, app: Any, inner: RequestMetrics) -> None:
        inner.app = app
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.inner(scope, receive, send)
