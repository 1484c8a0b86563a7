"""Request metrics as a plain ASGI middleware (no per-request task or body copying)."""
from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class RequestMetrics:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.by_status: dict[str, int] = {}
        self.hist = [0] * (len(BUCKETS) + 1)
        self.total_s = 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def _send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            self.record(scope["method"], status[0], time.perf_counter() - start)

    def record(self, method: str, status: int, took: float) -> None:
        """One answered request (here, and by the hot paths of api/hotpath.py)."""
        key = f"{method} {status}"
        self.by_status[key] = self.by_status.get(key, 0) + 1
        self.hist[bisect_left(BUCKETS, took)] += 1
        self.total_s += took

    def render(self) -> list[str]:
        lines = ["# TYPE hall_http_requests_total counter"]
        for key, n in sorted(self.by_status.items()):
            method, status = key.split()
            lines.append(f'hall_http_requests_total{{method="{method}",status="{status}"}} {n}')
        lines.append("# TYPE hall_http_request_seconds histogram")
        acc = 0
        for bound, n in zip(BUCKETS, self.hist):
            acc += n
            lines.append(f'hall_http_request_seconds_bucket{{le="{bound}"}} {acc}')
        acc += self.hist[-1]
        lines += [f'hall_http_request_seconds_bucket{{le="+Inf"}} {acc}',
                  f"hall_http_request_seconds_sum {self.total_s:.6f}", f"hall_http_request_seconds_count {acc}"]
        return lines
