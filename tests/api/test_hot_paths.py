"""The hot paths (kiosk_server/api/hotpath.py) answer issuing and call-next exactly as the
FastAPI routes do: the same script of requests, good and bad, is played against an app with and
one without them, from the same database, and every answer must be the same."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.harness import Harness, Template

VOLATILE = {"public_token", "status_url"}  # random per ticket

# (method, url, who, json or raw body, extra headers); the template has window 06 (clerk1) with
# a ticket called, 07 (clerk2) open, one ticket waiting in A and one in B.
SCRIPT: list[tuple[str, str, str | None, Any, dict[str, str]]] = [
    ("POST", "/api/v1/tickets", "K1", {"zone": "A"}, {}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "B", "matter": "B01", "priority": "priority"}, {}),
    ("POST", "/api/v1/tickets", "clerk1", {"zone": "C"}, {}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "Z9"}, {}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "Z9"}, {"Accept-Language": "en-US,en;q=0.8"}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "A", "matter": "B01"}, {}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "a b"}, {}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "A", "surprise": 1}, {}),
    ("POST", "/api/v1/tickets", "K1", {}, {}),
    ("POST", "/api/v1/tickets", "K1", b"", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/tickets", "K1", b"{not json", {"Content-Type": "application/json"}),
    ("POST", "/api/v1/tickets", "K1", b'{"zone": "A"}', {"Content-Type": "text/plain"}),
    ("POST", "/api/v1/tickets", "K1", b'{"zone": "A"}', {"Content-Type": "application/json; charset=utf-8"}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "A", "phone": "12"}, {}),
    ("POST", "/api/v1/tickets", None, {"zone": "A"}, {}),
    ("POST", "/api/v1/tickets", "bogus", {"zone": "A"}, {}),
    ("POST", "/api/v1/tickets", "aud", {"zone": "A"}, {}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "A"}, {"Idempotency-Key": "kiosk-K1-attempt-0001"}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "A"}, {"Idempotency-Key": "kiosk-K1-attempt-0001"}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "B"}, {"Idempotency-Key": "kiosk-K1-attempt-0001"}),
    ("POST", "/api/v1/tickets", "K1", {"zone": "A"}, {"Idempotency-Key": "short"}),
    ("POST", "/api/v1/tickets/", "K1", {"zone": "A"}, {}),
    ("POST", "/api/v1/windows/06/call-next", "clerk1", None, {}),
    ("POST", "/api/v1/windows/06/call-next?finish_current=true", "clerk1", None, {}),
    ("POST", "/api/v1/windows/06/call-next?finish_current=1", "clerk1", None, {}),
    ("POST", "/api/v1/windows/06/call-next?finish_current=yes", "clerk1", None, {}),
    ("POST", "/api/v1/windows/06/call-next?finish_current=maybe", "clerk1", None, {}),
    ("POST", "/api/v1/windows/06/call-next?finish_current=false&x=1", "clerk1", None, {}),
    ("POST", "/api/v1/windows/07/call-next", "clerk1", None, {}),
    ("POST", "/api/v1/windows/07/call-next?finish_current=true", "clerk2", None, {"Accept-Language": "en"}),
    ("POST", "/api/v1/windows/99/call-next", "op", None, {}),
    ("POST", "/api/v1/windows/a.b/call-next", "clerk1", None, {}),
    ("POST", "/api/v1/windows/" + "0" * 17 + "/call-next", "clerk1", None, {}),
    ("POST", "/api/v1/windows/06/call-next", "K1", None, {}),
    ("POST", "/api/v1/windows/06/call-next", None, None, {}),
    ("GET", "/api/v1/windows/06/call-next", "clerk1", None, {}),
    # drain the queue: the last ones find nobody waiting (204, no body)
    *[("POST", "/api/v1/windows/06/call-next?finish_current=true", "clerk1", None, {})] * 8,
]


def _play(h: Harness) -> list[tuple[int, Any, dict[str, str]]]:
    h.reset()
    out = []
    for method, url, who, body, headers in SCRIPT:
        kw: dict[str, Any] = {"headers": headers}
        if isinstance(body, bytes):
            kw["content"] = body
        elif body is not None:
            kw["json"] = body
        r = h.request(method, url, who, **kw)
        data = r.json() if r.content else None
        if isinstance(data, dict):
            data = {k: ("…" if k in VOLATILE else v) for k, v in data.items()}
        keep = {k: v for k, v in r.headers.items() if k in ("content-type", "idempotent-replayed", "retry-after")}
        out.append((r.status_code, data, keep))
    return out


@pytest.fixture(scope="module")
def framework_only(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with Harness(template, tmp_path_factory.mktemp("api-hall-no-hot-paths"), hot_paths=False) as h:
        yield h


def test_hot_paths_answer_every_request_as_the_routes_do(harness: Harness, framework_only: Harness) -> None:
    hot, plain = _play(harness), _play(framework_only)
    for (method, url, who, body, headers), a, b in zip(SCRIPT, hot, plain):
        assert a == b, f"{method} {url} as {who} with {body!r} {headers}: hot path {a} != FastAPI {b}"
    statuses = {s for s, _, _ in hot}
    assert {200, 201, 204, 401, 403, 404, 405, 422} <= statuses, statuses  # the script reaches every kind
    served, plain_counts = harness.container.counters, framework_only.container.counters
    assert served.get("hot_path_issue", 0) >= 8 and served.get("hot_path_call_next", 0) >= 10, served
    assert served.get("hot_path_passed_on", 0) >= 8, served  # the odd requests went on to FastAPI
    assert not any(k.startswith("hot_path") for k in plain_counts), plain_counts


def test_a_request_that_goes_on_to_fastapi_changes_nothing_first(hall_api: Harness) -> None:
    """An invalid body is passed on after it was read: FastAPI refuses it and no ticket is made."""
    before = hall_api.get("/api/v1/tickets?status=waiting", "op").json()
    r = hall_api.post("/api/v1/tickets", "K1", {"zone": "A", "priority": "urgent"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation", r.text
    assert "priority" in r.json()["error"]["message"]
    assert hall_api.get("/api/v1/tickets?status=waiting", "op").json() == before
    assert hall_api.container.counters.get("hot_path_passed_on") == 1


def _requests_metric(h: Harness) -> dict[str, int]:
    out = {}
    for line in h.get("/metrics", "op").text.splitlines():
        if line.startswith("hall_http_requests_total{"):
            labels, n = line.rsplit(" ", 1)
            out[labels] = int(n)
    return out


def test_the_hot_paths_are_counted_once_in_the_request_metrics(hall_api: Harness) -> None:
    before = _requests_metric(hall_api)
    assert hall_api.post("/api/v1/tickets", "K1", {"zone": "A"}).status_code == 201
    assert hall_api.post("/api/v1/tickets", "K1", {"zone": "Z9"}).status_code == 404
    assert hall_api.post("/api/v1/tickets", "K1", {"zone": "A", "priority": "urgent"}).status_code == 422  # passed on
    after = _requests_metric(hall_api)
    for status in (201, 404, 422):
        key = f'hall_http_requests_total{{method="POST",status="{status}"}}'
        assert after.get(key, 0) - before.get(key, 0) == 1, (status, before, after)


def test_an_unexpected_error_on_a_hot_path_is_a_500_in_the_error_shape(hall_api: Harness, monkeypatch: pytest.MonkeyPatch,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    from kiosk_server.api.routers import kiosk

    async def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(kiosk, "issue_answer", broken)
    before = _requests_metric(hall_api)
    r = hall_api.post("/api/v1/tickets", "K1", {"zone": "A"}, headers={"Accept-Language": "en"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal", r.text
    assert "disk on fire" not in r.text
    assert any("disk on fire" in (rec.exc_text or "") or "disk on fire" in str(rec.exc_info) for rec in caplog.records)
    key = 'hall_http_requests_total{method="POST",status="500"}'
    assert _requests_metric(hall_api).get(key, 0) - before.get(key, 0) == 1
