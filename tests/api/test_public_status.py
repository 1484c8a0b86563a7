"""What the kiosk and a citizen's phone use beyond the core queue: the ticket's QR code, the
public status stream, the kiosk menu's extra fields and the Idempotency-Key of POST /tickets."""
from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import pytest
from sqlalchemy import func, select, update
from starlette.websockets import WebSocketDisconnect

from kiosk_server.api.idempotency import IdempotencyCache
from kiosk_server.api.routers.public import qr_svg
from kiosk_server.db import tables as T
from tests.conftest import Api


def _ticket_count(api: Api) -> int:
    with api.hall.db.read() as conn:
        return conn.execute(select(func.count()).select_from(T.tickets)).scalar_one()


def _modules(svg: bytes) -> set[tuple[int, int]]:
    """The dark modules drawn by the SVG path (one 1×1 square each: M x,y H… V… H… z)."""
    path = re.search(rb'<path d="([^"]+)"', svg)
    assert path is not None, svg[:200]
    return {(int(x), int(y)) for x, y in re.findall(rb"M(\d+),(\d+)H", path.group(1))}


def _expected_modules(text: str) -> set[tuple[int, int]]:
    import qrcode
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    return {(x, y) for y, row in enumerate(qr.get_matrix()) for x, dark in enumerate(row) if dark}


# ---------------------------------------------------------------- the QR code

def test_qr_svg_encodes_the_status_page_address(api: Api) -> None:
    t = api.issue("A")
    r = api.get(f"/api/v1/public/tickets/{t['public_token']}/qr.svg")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/svg+xml"
    assert "max-age" in r.headers["cache-control"]
    assert r.content.lstrip().startswith(b"<?xml") and b"<svg" in r.content
    # No public_base_url in the test settings: the request's own base URL.
    url = f"http://testserver/t/{t['public_token']}"
    assert _modules(r.content) == _expected_modules(url)
    assert r.content == qr_svg(url)
    assert b"<script" not in r.content and b"style=" not in r.content


def test_qr_svg_uses_the_configured_public_address(api: Api) -> None:
    t = api.issue("A")
    c = api.client.app.state.container
    server = c.settings.server.model_copy(update={"public_base_url": "https://hall.example.gov.cn/q/"})
    c.settings = c.settings.model_copy(update={"server": server})
    r = api.get(f"/api/v1/public/tickets/{t['public_token']}/qr.svg")
    assert r.status_code == 200
    assert _modules(r.content) == _expected_modules(f"https://hall.example.gov.cn/q/t/{t['public_token']}")


def test_qr_svg_of_an_unknown_ticket_is_404(api: Api) -> None:
    r = api.get("/api/v1/public/tickets/no-such-token/qr.svg", headers={"Accept-Language": "en"})
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "ticket_not_found", "message": "No such ticket"}}


# ---------------------------------------------------------------- the public stream

def _stream(api: Api, token: str) -> Any:
    return api.client.websocket_connect(f"/api/v1/public/tickets/{token}/stream")


def test_public_stream_sends_the_body_then_each_change_until_the_call(api: Api) -> None:
    first = api.issue("A")
    mine = api.issue("A")
    api.open("06", "clerk1")
    with _stream(api, mine["public_token"]) as ws:
        msg = ws.receive_json()
        assert msg["type"] == "ticket"
        body = msg["ticket"]
        assert body["number"] == mine["number"] and body["status"] == "waiting" and body["waiting_ahead"] == 1
        assert set(body) >= {"number", "zone", "status", "waiting_ahead", "estimated_wait_s", "window"}
        assert not {"id", "phone", "public_token", "appointment_code", "application_number"} & set(body)

        r = api.post("/api/v1/windows/06/call-next", "clerk1")
        assert r.status_code == 200 and r.json()["number"] == first["number"]
        body = ws.receive_json()["ticket"]
        assert body["status"] == "waiting" and body["waiting_ahead"] == 0 and body["estimated_wait_s"] == 0

        r = api.post("/api/v1/windows/06/call-next", "clerk1", params={"finish_current": "true"})
        assert r.status_code == 200 and r.json()["number"] == mine["number"]
        body = ws.receive_json()["ticket"]
        assert body["status"] == "called" and body["window"] == {"code": "06", "name": "商事登记窗口"}


def test_public_stream_coalesces_a_burst(api: Api) -> None:
    for _ in range(3):
        api.issue("A")
    mine = api.issue("A")
    for window, clerk in (("06", "clerk1"), ("07", "clerk2"), ("08", "clerk3")):
        api.open(window, clerk)
    with _stream(api, mine["public_token"]) as ws:
        assert ws.receive_json()["ticket"]["waiting_ahead"] == 3
        for window, clerk in (("06", "clerk1"), ("07", "clerk2"), ("08", "clerk3")):
            assert api.post(f"/api/v1/windows/{window}/call-next", clerk).status_code == 200
        seen = [ws.receive_json()["ticket"]["waiting_ahead"]]
        while seen[-1] != 0:
            seen.append(ws.receive_json()["ticket"]["waiting_ahead"])
    assert len(seen) < 3, f"three calls in a burst gave {len(seen)} messages: {seen}"


def test_public_stream_follows_a_transfer_to_another_zone(api: Api) -> None:
    mine = api.issue("A")
    api.issue("B")
    api.open("06", "clerk1")
    with _stream(api, mine["public_token"]) as ws:
        assert ws.receive_json()["ticket"]["zone"]["code"] == "A"
        called = api.post("/api/v1/windows/06/call-next", "clerk1").json()
        assert ws.receive_json()["ticket"]["status"] == "called"
        r = api.post(f"/api/v1/tickets/{called['id']}/transfer", "clerk1", json={"to_zone": "B", "reason": "不动产"})
        assert r.status_code == 200, r.text
        body = ws.receive_json()["ticket"]
        assert body["status"] == "waiting" and body["zone"]["code"] == "B"
        api.open("11", "clerk2")  # serves B: the transferred ticket goes first
        assert api.post("/api/v1/windows/11/call-next", "clerk2").json()["number"] == mine["number"]
        body = ws.receive_json()["ticket"]
        assert body["status"] == "called" and body["window"]["code"] == "11"


def test_public_stream_of_an_unknown_ticket_is_closed_with_1008(api: Api) -> None:
    with pytest.raises(WebSocketDisconnect) as e:
        with _stream(api, "no-such-token") as ws:
            ws.receive_text()
    assert e.value.code == 1008


def test_public_stream_answers_ping(api: Api) -> None:
    t = api.issue("A")
    with _stream(api, t["public_token"]) as ws:
        ws.receive_json()
        ws.send_text('{"type":"ping"}')
        assert ws.receive_json() == {"type": "pong"}


# ---------------------------------------------------------------- the kiosk menu

def test_kiosk_menu_says_why_a_zone_is_closed_and_what_is_left(api: Api, clock: Any) -> None:
    api.issue("A")
    with api.hall.db.write() as conn:
        conn.execute(update(T.zones).where(T.zones.c.code == "C").values(enabled=False))
        conn.execute(update(T.zones).where(T.zones.c.code == "B").values(daily_quota=1))
    api.issue("B")
    zones = {z["code"]: z for z in api.get("/api/v1/kiosk/menu", "K1").json()["zones"]}
    a = zones["A"]
    assert a["open"] is True and a["closed_reason"] is None and a["waiting"] == 1
    assert a["quota_left"] == 399 and a["wait_per_person_s"] == 300
    assert a["opening_hours"] == [["09:00", "12:00"], ["13:30", "17:30"]]
    assert zones["B"]["quota_left"] == 0
    assert zones["C"]["open"] is False and zones["C"]["closed_reason"] == "disabled"
    clock.advance(hours=10)  # 20:00 in the hall
    zones = {z["code"]: z for z in api.get("/api/v1/kiosk/menu", "K1").json()["zones"]}
    assert zones["A"]["open"] is False and zones["A"]["closed_reason"] == "hours"


# ---------------------------------------------------------------- Idempotency-Key

def test_the_same_idempotency_key_gives_the_same_ticket_once(api: Api) -> None:
    key = {"Idempotency-Key": "attempt-0001"}
    before = _ticket_count(api)
    r1 = api.post("/api/v1/tickets", "K1", json={"zone": "A", "matter": "A01"}, headers=key)
    r2 = api.post("/api/v1/tickets", "K1", json={"zone": "A", "matter": "A01"}, headers=key)
    assert r1.status_code == r2.status_code == 201
    assert r1.json()["id"] == r2.json()["id"] and r1.json()["number"] == r2.json()["number"]
    assert "idempotent-replayed" not in r1.headers and r2.headers["idempotent-replayed"] == "true"
    assert _ticket_count(api) == before + 1
    # Another key (the next attempt) is another ticket; another principal's same key too.
    r3 = api.post("/api/v1/tickets", "K1", json={"zone": "A", "matter": "A01"}, headers={"Idempotency-Key": "attempt-0002"})
    r4 = api.post("/api/v1/tickets", "op", json={"zone": "A", "matter": "A01"}, headers=key)
    assert len({r1.json()["id"], r3.json()["id"], r4.json()["id"]}) == 3
    assert _ticket_count(api) == before + 3


def test_concurrent_requests_with_one_key_make_one_ticket(api: Api) -> None:
    before = _ticket_count(api)
    out: list[Any] = []

    def post() -> None:
        out.append(api.post("/api/v1/tickets", "K1", json={"zone": "B"}, headers={"Idempotency-Key": "double-tap-1"}))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert [r.status_code for r in out] == [201] * 4
    assert len({r.json()["id"] for r in out}) == 1
    assert _ticket_count(api) == before + 1


def test_an_idempotency_key_reused_with_another_body_is_refused(api: Api) -> None:
    key = {"Idempotency-Key": "attempt-0003", "Accept-Language": "en"}
    assert api.post("/api/v1/tickets", "K1", json={"zone": "A"}, headers=key).status_code == 201
    r = api.post("/api/v1/tickets", "K1", json={"zone": "B"}, headers=key)
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"
    bad = api.post("/api/v1/tickets", "K1", json={"zone": "A"}, headers={"Idempotency-Key": "no spaces!"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation"


def test_a_refused_request_is_not_remembered(api: Api) -> None:
    with api.hall.db.write() as conn:
        conn.execute(update(T.zones).where(T.zones.c.code == "C").values(enabled=False))
    key = {"Idempotency-Key": "attempt-0004"}
    r = api.post("/api/v1/tickets", "K1", json={"zone": "C"}, headers=key)
    assert r.status_code == 409 and r.json()["error"]["code"] == "zone_closed"
    with api.hall.db.write() as conn:
        conn.execute(update(T.zones).where(T.zones.c.code == "C").values(enabled=True))
    r = api.post("/api/v1/tickets", "K1", json={"zone": "C"}, headers=key)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


def test_idempotency_cache_is_bounded_and_expires() -> None:
    async def run() -> None:
        cache = IdempotencyCache(ttl_s=0.0, max_entries=2)
        calls = 0

        async def fn() -> int:
            nonlocal calls
            calls += 1
            return calls

        assert await cache.run("K1", "k1", {}, fn) == (1, False)
        assert await cache.run("K1", "k1", {}, fn) == (2, False)  # expired at once (ttl 0)
        cache.ttl_s = 60.0
        for key in ("a", "b", "c"):
            await cache.run("K1", key, {}, fn)
        assert len(cache._entries) == 2
        assert await cache.run("K1", "c", {}, fn) == (5, True)
    asyncio.run(run())
