from __future__ import annotations

import resource

from fastapi import APIRouter
from starlette.responses import PlainTextResponse

from kiosk_server.api.deps import PUBLIC, Ctx, roles
from kiosk_server.api.responses import JSON
from kiosk_server.db import queries

router = APIRouter(tags=["operations"])


@router.get("/healthz", openapi_extra=roles(PUBLIC))
async def healthz(c: Ctx) -> JSON:
    seq = c.read(queries.last_seq)
    return JSON({"status": "ok", "seq": seq, "database": c.db.dialect})


@router.get("/metrics", openapi_extra=roles(PUBLIC), response_class=PlainTextResponse)
async def metrics(c: Ctx) -> PlainTextResponse:
    m = c.app_metrics
    lines = []
    for name, value in sorted(c.counters.items()):
        kind = "gauge" if name == "ws_connections" else "counter"
        metric = f"hall_{name}" + ("_total" if kind == "counter" else "")
        lines += [f"# TYPE {metric} {kind}", f"{metric} {value}"]
    lines += ["# TYPE hall_events_published_total counter", f"hall_events_published_total {c.hub.published}",
              "# TYPE hall_stream_subscribers gauge", f"hall_stream_subscribers {len(c.hub.subscribers)}",
              "# TYPE hall_stream_dropped_total counter", f"hall_stream_dropped_total {c.hub.dropped_subscribers}",
              "# TYPE hall_last_event_seq gauge", f"hall_last_event_seq {c.hub.last_seq}",
              # SQLite's group commit: requests per transaction is the ratio of the two
              "# TYPE hall_write_batches_total counter", f"hall_write_batches_total {c.batches}",
              "# TYPE hall_write_batched_requests_total counter", f"hall_write_batched_requests_total {c.batched_jobs}",
              "# TYPE hall_write_retries_total counter", f"hall_write_retries_total {c.retries}",
              "# TYPE process_max_rss_bytes gauge",
              f"process_max_rss_bytes {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}"]
    if m is not None:
        lines += m.render()
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
