"""The queue through HTTP and the display stream."""
from __future__ import annotations

from tests.conftest import Api


def test_kiosk_menu_lists_the_six_sample_zones_with_matters(api: Api):
    r = api.get("/api/v1/kiosk/menu", "K1")
    assert r.status_code == 200
    body = r.json()
    assert body["hall"]["name"] == "衡阳市政务服务中心"
    assert [z["code"] for z in body["zones"]] == list("ABCDEF")
    a = body["zones"][0]
    assert a["open"] is True and a["waiting"] == 0
    a01 = a["matters"][0]
    assert a01["code"] == "A01" and a01["promised_days"] == 1
    assert a01["materials"][0] == {"name": "公司登记（备案）申请书", "copies": 1, "original": True}


def test_issue_answers_the_contract(api: Api):
    t = api.issue("A", matter="A01")
    assert t["number"] == "A001" and t["zone"] == {"code": "A", "name": "商事登记区"}
    assert t["matter"] == {"code": "A01", "name": "公司设立登记"}
    assert t["status"] == "waiting" and t["waiting_ahead"] == 0 and t["priority"] == "normal"
    assert t["status_url"].endswith(f"/t/{t['public_token']}")
    assert "+" in t["issued_at"] or t["issued_at"].endswith("Z")
    t2 = api.issue("A")
    assert t2["number"] == "A002" and t2["waiting_ahead"] == 1 and t2["estimated_wait_s"] == 300
    pub = api.get(f"/api/v1/public/tickets/{t2['public_token']}").json()
    assert pub == {"number": "A002", "zone": {"code": "A", "name": "商事登记区"}, "status": "waiting",
                   "waiting_ahead": 1, "estimated_wait_s": 300, "window": None,
                   "issued_at": pub["issued_at"], "business_date": pub["business_date"]}


def test_bad_input_changes_nothing(api: Api):
    for body in ({"zone": "Z"}, {"zone": "A", "matter": "B01"}, {"zone": "A", "priority": "vip"}, {"zone": ""},
                 {"zone": "A", "phone": "abc"}, {}):
        r = api.post("/api/v1/tickets", "K1", json=body)
        assert r.status_code in (404, 422), body
        assert set(r.json()["error"]) >= {"code", "message"}
    r = api.client.post("/api/v1/tickets", content=b"{not json", headers=api.h("K1", **{"content-type": "application/json"}))
    assert r.status_code == 422
    assert api.issue("A")["number"] == "A001"


def test_a_visit_from_ticket_to_served_with_events_on_the_stream(api: Api):
    with api.client.websocket_connect(f"/api/v1/display/stream?token={api.token('S1')}") as ws:
        snap = ws.receive_json()
        assert snap["type"] == "snapshot" and snap["waiting"]["A"] == 0
        t = api.issue("A")
        ev = ws.receive_json()
        assert ev["type"] == "ticket.issued" and ev["ticket"]["number"] == "A001" and ev["waiting"] == {"A": 1}
        api.open("06", "clerk1")
        assert ws.receive_json()["type"] == "window.opened"
        r = api.post("/api/v1/windows/06/call-next", "clerk1")
        assert r.status_code == 200 and r.json()["number"] == "A001" and r.json()["window"]["code"] == "06"
        ev = ws.receive_json()
        assert ev["type"] == "ticket.called"
        assert ev["announcement"]["text"] == "请A001号到06号窗口办理"
        assert ev["announcement"]["tokens"] == ["请", "A", "0", "0", "1", "号", "到", "0", "6", "号窗口", "办理"]
        assert api.post("/api/v1/windows/06/recall", "clerk1").status_code == 200
        assert ws.receive_json()["type"] == "ticket.recalled"
        assert api.post(f"/api/v1/tickets/{t['id']}/start", "clerk1").json()["status"] == "serving"
        assert ws.receive_json()["type"] == "ticket.started"
        assert api.post(f"/api/v1/tickets/{t['id']}/finish", "clerk1").json()["status"] == "served"
        assert ws.receive_json()["type"] == "ticket.served"
        assert api.post("/api/v1/windows/06/call-next", "clerk1").status_code == 204
        assert api.post("/api/v1/windows/06/pause", "clerk1", json={"reason": "午休"}).json()["state"] == "paused"
        ev = ws.receive_json()
        assert ev["type"] == "window.paused" and ev["window"]["reason"] == "午休"
        r = api.post("/api/v1/windows/06/call-next", "clerk1")
        assert r.status_code == 409 and r.json()["error"]["code"] == "window_not_open"
        assert api.post("/api/v1/windows/06/resume", "clerk1").json()["state"] == "open"
        assert api.post("/api/v1/windows/06/close", "clerk1").json()["state"] == "closed"
    body = api.get(f"/api/v1/tickets/{t['id']}", "op").json()
    assert body["status"] == "served" and body["call_count"] == 2 and body["applications"] == []
    listed = api.get("/api/v1/tickets?zone=A&status=served", "op").json()
    assert [x["number"] for x in listed] == ["A001"]


def test_409s_explain_themselves_in_both_languages(api: Api):
    api.open("06", "clerk1")
    api.issue("A"), api.issue("A")
    api.post("/api/v1/windows/06/call-next", "clerk1")
    r = api.post("/api/v1/windows/06/call-next", "clerk1")
    assert r.status_code == 409
    assert r.json()["error"] == {"code": "window_busy", "message": "06号窗口还有正在呼叫或办理的号 A001"}
    r = api.post("/api/v1/windows/06/call-next", "clerk1", headers={"Accept-Language": "en"})
    assert r.json()["error"]["message"] == "Window 06 still has ticket A001 called or in service"
    r = api.post("/api/v1/windows/06/open", "clerk2")
    assert r.status_code == 409 and r.json()["error"]["code"] == "window_taken"


def test_stream_replays_missed_events_by_seq_then_goes_live(api: Api):
    tok = api.token("S1")
    with api.client.websocket_connect(f"/api/v1/display/stream?token={tok}") as ws:
        seq = ws.receive_json()["seq"]
    issued = [api.issue("A")["number"] for _ in range(3)]
    with api.client.websocket_connect(f"/api/v1/display/stream?token={tok}&since={seq}") as ws:
        replay = [ws.receive_json() for _ in range(3)]
        assert [e["ticket"]["number"] for e in replay] == issued
        assert [e["seq"] for e in replay] == [seq + 1, seq + 2, seq + 3]
        api.issue("B")
        live = ws.receive_json()
        assert live["seq"] == seq + 4 and live["ticket"]["number"] == "B001"


def test_zone_filtered_stream_only_carries_its_zones(api: Api):
    # S2 is configured for zone A only
    with api.client.websocket_connect(f"/api/v1/display/stream?token={api.token('S2')}") as ws:
        snap = ws.receive_json()
        assert set(snap["waiting"]) == {"A"}
        api.issue("B")
        api.issue("A")
        ev = ws.receive_json()
        assert ev["ticket"]["number"] == "A001"


def test_snapshot_endpoint_and_windows_list(api: Api):
    api.open("06", "clerk1")
    api.issue("A")
    api.post("/api/v1/windows/06/call-next", "clerk1")
    snap = api.get("/api/v1/display/snapshot", "S1").json()
    assert snap["calls"][0]["ticket"]["number"] == "A001"
    w06 = next(w for w in snap["windows"] if w["code"] == "06")
    assert w06 == {"code": "06", "name": "商事登记窗口", "state": "open", "current_number": "A001"}
    ws = api.get("/api/v1/windows", "clerk1").json()
    w = next(x for x in ws if x["code"] == "06")
    assert w["clerk"]["display_name"] == "CLERK1" and w["current_ticket"]["number"] == "A001"
    assert w["zones"] == ["A"]


def test_healthz_and_metrics(api: Api):
    assert api.get("/healthz").json()["status"] == "ok"
    api.issue("A")
    text = api.get("/metrics").text
    assert "hall_tickets_issued_total 1" in text
    assert 'hall_http_requests_total{method="POST",status="201"} 1' in text
    counts = {line.split()[0]: int(line.split()[1]) for line in text.splitlines() if line.startswith("hall_write_")}
    assert counts["hall_write_batched_requests_total"] >= counts["hall_write_batches_total"] >= 1, counts


def test_call_next_can_finish_the_current_ticket_in_the_same_step(api: Api):
    api.open("06", "clerk1")
    a, b = api.issue("A"), api.issue("A")
    assert api.post("/api/v1/windows/06/call-next?finish_current=true", "clerk1").json()["number"] == a["number"]
    r = api.post("/api/v1/windows/06/call-next?finish_current=true", "clerk1")
    assert r.json()["number"] == b["number"]
    assert api.get(f"/api/v1/tickets/{a['id']}", "op").json()["status"] == "served"
    assert api.post("/api/v1/windows/06/call-next?finish_current=true", "clerk1").status_code == 204
    assert api.get(f"/api/v1/tickets/{b['id']}", "op").json()["status"] == "served"
