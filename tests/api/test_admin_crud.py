"""The operator's administration API: zones, matters, windows, printers, devices, holidays,
the layout as TOML, and the supervision overview.

Each change is checked for its answer, its audit entry and its `config.changed` event; refused
changes (409, 422) for their error shape and for changing nothing; live effect for the kiosk
menu, the clerk's calls, the calendar and device tokens without a restart. Most tests use the
API harness (SQLite, restored before each test); `test_admin_on_both_databases` runs the core of
it on a SQLite file and on a real PostgreSQL, and the last test checks that another worker's
caches follow a change through the PostgreSQL event listener.
"""
from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from starlette.websockets import WebSocketDisconnect

from kiosk_server.config import parse_config
from kiosk_server.db import tables as T
from tests.api.harness import Harness, assert_error_shape
from tests.support.hall import PASSWORD, FakeClock, prepare

ADMIN = "/api/v1/admin"


# ---------------------------------------------------------------- helpers

def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def refused(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: expected {status}, got {r.status_code} {r.text}"
    body = r.json()
    assert_error_shape(status, body)
    assert body["error"]["code"] == code, body
    return body["error"]


def delete(h: Harness, url: str, who: str = "op", **kw: Any) -> Any:
    return h.request("DELETE", url, who, **kw)


def audit(h: Harness, action: str) -> list[dict[str, Any]]:
    return h.container.read(lambda conn: [dict(r) for r in conn.execute(
        select(T.audit_log).where(T.audit_log.c.action == action).order_by(T.audit_log.c.id)).mappings()])


def changes(h: Harness, what: str | None = None) -> list[dict[str, Any]]:
    rows = h.container.read(lambda conn: [r.payload for r in conn.execute(
        select(T.events.c.payload).where(T.events.c.type == "config.changed").order_by(T.events.c.seq))])
    return [p for p in rows if what is None or p.get("what") == what]


def export(h: Harness) -> str:
    r = h.get(f"{ADMIN}/config/export", "op")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/toml")
    return "\n".join(line for line in r.text.splitlines() if not line.startswith("#")).strip()  # no time stamp


def snapshot(h: Harness) -> tuple[Any, ...]:
    """Everything an administrative change could touch."""
    def counts(conn: Any) -> tuple[int, int, int]:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (T.audit_log, T.events, T.window_zones))
    return (export(h), h.container.read(counts), ok(h.get(f"{ADMIN}/devices", "op")),
            ok(h.get(f"{ADMIN}/windows", "op")))


def import_toml(h: Harness, text: str, **headers: str) -> Any:
    return h.request("POST", f"{ADMIN}/config/import", "op", content=text.encode("utf-8"),
                     headers={"content-type": "text/plain; charset=utf-8", **headers})


def sign_in_again(h: Harness, *who: str) -> None:
    """After the clock jumped past the sessions' expiry."""
    for name in who:
        h.tokens[name] = ok(h.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD}))["token"]


def menu_zone(h: Harness, code: str, who: str = "K1") -> dict[str, Any] | None:
    return next((z for z in ok(h.get("/api/v1/kiosk/menu", who))["zones"] if z["code"] == code), None)


# ---------------------------------------------------------------- zones

def test_zone_crud_is_audited_and_announced(hall_api: Harness) -> None:
    h = hall_api
    created = ok(h.post(f"{ADMIN}/zones", "op", json={"code": "N", "name": "新区", "prefix": "N", "daily_quota": 50}),
                 201)
    assert created == {"code": "N", "name": "新区", "prefix": "N", "daily_quota": 50, "opening_hours": None,
                       "position": 6, "enabled": True, "matters": 0, "windows": []}
    assert [z["code"] for z in ok(h.get(f"{ADMIN}/zones", "op"))] == ["A", "B", "C", "D", "E", "F", "N"]

    changed = ok(h.patch(f"{ADMIN}/zones/N", "op", json={"name": "新综合区", "opening_hours": [["08:30", "18:00"]],
                                                           "position": 0}))
    assert (changed["name"], changed["opening_hours"], changed["position"]) == ("新综合区", [["08:30", "18:00"]], 0)
    assert ok(h.patch(f"{ADMIN}/zones/N", "op", json={"opening_hours": None}))["opening_hours"] is None
    assert ok(h.patch(f"{ADMIN}/zones/N", "op", json={}))["name"] == "新综合区"  # nothing sent: nothing written

    assert ok(delete(h, f"{ADMIN}/zones/N")) == {"code": "N", "deleted": True, "matters": []}
    assert "N" not in [z["code"] for z in ok(h.get(f"{ADMIN}/zones", "op"))]
    refused(h.patch(f"{ADMIN}/zones/N", "op", json={"name": "x"}), 404, "zone_not_found")

    create, *updates = audit(h, "zone.create") + audit(h, "zone.update")
    assert create["object_type"] == "zone" and create["object_id"] == "N" and create["actor"] == "op"
    assert create["detail"]["prefix"] == "N" and create["detail"]["daily_quota"] == 50
    assert len(updates) == 2, "an update that changes nothing is not audited"
    assert updates[0]["detail"]["changed"]["name"] == {"from": "新区", "to": "新综合区"}
    assert set(updates[0]["detail"]["changed"]) == {"name", "opening_hours", "position"}
    assert audit(h, "zone.delete")[0]["object_id"] == "N"
    assert changes(h, "zones") == [{"what": "zones", "code": "N", "action": a}
                                   for a in ("create", "update", "update", "delete")]


def test_deleting_a_zone_answers_the_deleted_zone_and_its_matters(hall_api: Harness) -> None:
    h = hall_api
    ok(h.post(f"{ADMIN}/zones", "op", json={"code": "N", "name": "新区", "prefix": "N"}), 201)
    ok(h.post(f"{ADMIN}/matters", "op", json={"code": "N01", "zone": "N", "name": "事项"}), 201)
    assert ok(delete(h, f"{ADMIN}/zones/N")) == {"code": "N", "deleted": True, "matters": ["N01"]}
    refused(h.patch(f"{ADMIN}/matters/N01", "op", json={"name": "x"}), 404, "matter_not_found")


def test_the_audit_log_pages_and_filters_by_action_prefix(hall_api: Harness) -> None:
    h = hall_api
    ok(h.post(f"{ADMIN}/zones", "op", json={"code": "N", "name": "新区", "prefix": "N"}), 201)
    ok(h.patch(f"{ADMIN}/zones/N", "op", json={"name": "新综合区"}))
    ok(h.post(f"{ADMIN}/matters", "op", json={"code": "N01", "zone": "N", "name": "事项"}), 201)
    zone = ok(h.get(f"{ADMIN}/audit?action=zone.", "aud"))
    assert [(e["action"], e["object_id"]) for e in zone] == [("zone.update", "N"), ("zone.create", "N")]
    assert [e["action"] for e in ok(h.get(f"{ADMIN}/audit?action=zone.create", "aud"))] == ["zone.create"]
    assert ok(h.get(f"{ADMIN}/audit?action=zone_", "aud")) == []  # a LIKE wildcard is a plain character
    older = ok(h.get(f"{ADMIN}/audit?action=zone.&limit=1&before_id={zone[0]['id']}", "aud"))
    assert [e["id"] for e in older] == [zone[1]["id"]]
    refused(h.get(f"{ADMIN}/audit?action=zone%25", "aud"), 422, "validation")
    refused(h.get(f"{ADMIN}/audit?action=zone.", "op"), 403, "forbidden")


def test_a_new_zone_matter_and_window_work_at_once(hall_api: Harness) -> None:
    """Kiosk menu, ticket and call on a zone, matter and window added a moment ago: no restart."""
    h = hall_api
    assert menu_zone(h, "N") is None  # the menu has been read once before the change
    ok(h.post(f"{ADMIN}/zones", "op", json={"code": "N", "name": "新区", "prefix": "N"}), 201)
    ok(h.post(f"{ADMIN}/matters", "op", json={
        "code": "N01", "zone": "N", "name": "新事项", "department": "新局", "case_type": "immediate", "fee": "免费",
        "materials": [{"name": "身份证", "copies": 1, "original": True}, {"name": "申请表", "copies": 2}]}), 201)
    window = ok(h.post(f"{ADMIN}/windows", "op", json={"code": "90", "name": "新窗口", "zones": ["N", "A"],
                                                        "led_address": 90}), 201)
    assert window == {"code": "90", "name": "新窗口", "zones": ["N", "A"], "led_address": 90, "enabled": True,
                      "state": "closed", "clerk": None}

    zone = menu_zone(h, "N")
    assert zone is not None and zone["open"] and zone["prefix"] == "N"
    assert zone["matters"] == [{"code": "N01", "name": "新事项", "department": "新局", "case_type": "immediate",
                                "promised_days": 0, "fee": "免费", "materials": [
                                    {"name": "身份证", "copies": 1, "original": True},
                                    {"name": "申请表", "copies": 2, "original": True}]}]
    ticket = ok(h.post("/api/v1/tickets", "K1", json={"zone": "N", "matter": "N01"}), 201)
    assert ticket["number"] == "N001" and ticket["matter"] == {"code": "N01", "name": "新事项"}

    clerk3 = ok(h.post("/api/v1/auth/login", json={"username": "clerk3", "password": PASSWORD}))["token"]
    headers = {"Authorization": f"Bearer {clerk3}"}
    assert h.client.post("/api/v1/windows/90/open", headers=headers).status_code == 200
    called = h.client.post("/api/v1/windows/90/call-next", headers=headers)
    assert called.status_code == 200, called.text
    assert (called.json()["number"], called.json()["window"]["code"]) == ("N001", "90")


def test_zone_in_use_and_referenced_zones_are_not_deleted(hall_api: Harness) -> None:
    h = hall_api
    before = snapshot(h)
    err = refused(delete(h, f"{ADMIN}/zones/A"), 409, "zone_served")
    assert "01, 06, 07, 08" in err["message"]
    assert snapshot(h) == before

    ok(h.post(f"{ADMIN}/zones", "op", json={"code": "T", "name": "临时区", "prefix": "T"}), 201)
    ok(h.post("/api/v1/tickets", "K1", json={"zone": "T"}), 201)
    before = snapshot(h)
    err = refused(delete(h, f"{ADMIN}/zones/T", headers={"Accept-Language": "en"}), 409, "zone_in_use")
    assert "enabled=false" in err["message"] and "tickets" in err["message"]
    assert "停用" in refused(delete(h, f"{ADMIN}/zones/T"), 409, "zone_in_use")["message"]
    assert snapshot(h) == before
    # Disabling is the way: the kiosk shows it closed and issues nothing there.
    assert ok(h.patch(f"{ADMIN}/zones/T", "op", json={"enabled": False}))["enabled"] is False
    assert menu_zone(h, "T")["open"] is False
    refused(h.post("/api/v1/tickets", "K1", json={"zone": "T"}), 409, "zone_closed")

    ok(h.post(f"{ADMIN}/zones", "op", json={"code": "Y", "name": "分屏区", "prefix": "Y"}), 201)
    ok(h.post(f"{ADMIN}/devices", "op", json={"code": "S9", "name": "分屏", "role": "display", "zones": ["Y"]}), 201)
    assert "S9" in refused(delete(h, f"{ADMIN}/zones/Y"), 409, "zone_shown")["message"]


def test_prefix_and_codes_are_unique(hall_api: Harness) -> None:
    h = hall_api
    before = snapshot(h)
    refused(h.post(f"{ADMIN}/zones", "op", json={"code": "A", "name": "x", "prefix": "Z"}), 409, "zone_exists")
    assert "B" in refused(h.post(f"{ADMIN}/zones", "op", json={"code": "Z", "name": "x", "prefix": "B"}), 409,
                          "prefix_taken")["message"]
    refused(h.patch(f"{ADMIN}/zones/A", "op", json={"prefix": "C"}), 409, "prefix_taken")
    refused(h.post(f"{ADMIN}/matters", "op", json={"code": "B01", "zone": "A", "name": "x"}), 409, "matter_exists")
    refused(h.post(f"{ADMIN}/windows", "op", json={"code": "06", "name": "x", "zones": ["A"]}), 409, "window_exists")
    refused(h.post(f"{ADMIN}/printers", "op", json={"code": "P1", "name": "x", "transport": {
        "kind": "network", "host": "127.0.0.1"}}), 409, "printer_exists")
    refused(h.post(f"{ADMIN}/devices", "op", json={"code": "K1", "name": "x", "role": "kiosk"}), 409, "device_exists")
    refused(h.post(f"{ADMIN}/holidays", "op", json={"date": "2027-01-01", "name": "x"}), 409, "holiday_exists")
    assert snapshot(h) == before


# ---------------------------------------------------------------- bad bodies

BAD = [
    ("POST", "/zones", {"code": "Z", "name": "x", "prefix": "z"}),
    ("POST", "/zones", {"code": "Z", "name": "x", "prefix": "Z", "daily_quota": 0}),
    ("POST", "/zones", {"code": "Z", "name": "x", "prefix": "Z", "opening_hours": [["18:00", "09:00"]]}),
    ("POST", "/zones", {"code": "Z", "name": "x", "prefix": "Z", "opening_hours": [["9:00", "18:00"]]}),
    ("POST", "/zones", {"code": "Z", "name": "x", "prefix": "Z", "colour": "red"}),
    ("POST", "/zones", {"code": "Z Z", "name": "x", "prefix": "Z"}),
    ("POST", "/zones", {"code": "Z", "name": "   ", "prefix": "Z"}),
    ("PATCH", "/zones/A", {"name": None}),
    ("PATCH", "/zones/A", {"daily_quota": 10000}),
    ("POST", "/matters", {"code": "Z01", "zone": "A", "name": "x", "materials": [{"name": "", "copies": 1}]}),
    ("POST", "/matters", {"code": "Z01", "zone": "A", "name": "x", "materials": [{"name": "  ", "copies": 1}]}),
    ("POST", "/matters", {"code": "Z01", "zone": "A", "name": "x", "materials": [{"name": "a", "copies": 0}]}),
    ("POST", "/matters", {"code": "Z01", "zone": "A", "name": "x", "materials": [{"name": "a", "copies": 100}]}),
    ("POST", "/matters", {"code": "Z01", "zone": "A", "name": "x", "case_type": "urgent"}),
    ("POST", "/matters", {"code": "Z01", "zone": "A", "name": "x", "promised_days": 366}),
    ("PATCH", "/matters/A01", {"materials": [{"name": "a", "copies": 1, "colour": "red"}]}),
    ("PATCH", "/matters/A01", {"materials": None}),
    ("POST", "/windows", {"code": "99", "name": "x", "zones": []}),
    ("POST", "/windows", {"code": "99", "name": "x", "zones": ["A", "A"]}),
    ("POST", "/windows", {"code": "99", "name": "x", "zones": ["A"], "led_address": 256}),
    ("PATCH", "/windows/07", {"zones": None}),
    ("POST", "/printers", {"code": "P9", "name": "x", "transport": {"kind": "pigeon"}}),
    ("POST", "/printers", {"code": "P9", "name": "x", "transport": {"kind": "network", "host": "h", "speed": 1}}),
    ("POST", "/printers", {"code": "P9", "name": "x", "transport": {"kind": "file", "path": "/dev/usb/lp0"},
                           "profile": {"base": "99mm"}}),
    ("PATCH", "/printers/P1", {"transport": {"kind": "usb", "vendor_id": "nope", "product_id": 1}}),
    ("POST", "/devices", {"code": "X1", "name": "x", "role": "operator"}),
    ("POST", "/devices", {"code": "X 1", "name": "x", "role": "kiosk"}),
    ("PATCH", "/devices/K1", {"role": None}),
    ("POST", "/holidays", {"date": "2027-02-30", "name": "x"}),
    ("POST", "/holidays", {"date": "2027-02-01", "kind": "vacation", "name": "x"}),
]


@pytest.mark.parametrize("method,path,body", BAD, ids=[f"{m} {p} {b}" for m, p, b in BAD])
def test_an_invalid_body_is_422_and_changes_nothing(hall_api: Harness, method: str, path: str, body: Any) -> None:
    h = hall_api
    before = snapshot(h)
    refused(h.request(method, ADMIN + path, "op", json=body), 422, "validation")
    assert snapshot(h) == before


REFERENCES = [
    ("POST", "/matters", {"code": "Z01", "zone": "NOPE", "name": "x"}, "zone_unknown"),
    ("PATCH", "/matters/A01", {"zone": "NOPE"}, "zone_unknown"),
    ("POST", "/windows", {"code": "99", "name": "x", "zones": ["A", "NOPE"]}, "zone_unknown"),
    ("PATCH", "/windows/07", {"zones": ["NOPE"]}, "zone_unknown"),
    ("POST", "/devices", {"code": "X1", "name": "x", "role": "display", "zones": ["NOPE"]}, "zone_unknown"),
    ("POST", "/devices", {"code": "X1", "name": "x", "role": "kiosk", "printer": "P9"}, "printer_unknown"),
    ("POST", "/devices", {"code": "X1", "name": "x", "role": "display", "printer": "P1"}, "device_printer_kiosk_only"),
    ("PATCH", "/devices/K1", {"role": "display"}, "device_printer_kiosk_only"),
    ("POST", "/printers", {"code": "P9", "name": "x", "transport": {"kind": "file", "path": "/tmp/hall.db"}},
     "printer_file_path"),
    ("PATCH", "/printers/P1", {"transport": {"kind": "file", "path": "/dev/../etc/passwd"}}, "printer_file_path"),
]


@pytest.mark.parametrize("method,path,body,code", REFERENCES, ids=[f"{m} {p} {c}" for m, p, _b, c in REFERENCES])
def test_a_body_naming_what_does_not_exist_is_422_and_changes_nothing(hall_api: Harness, method: str, path: str,
                                                                        body: Any, code: str) -> None:
    h = hall_api
    before = snapshot(h)
    err = refused(h.request(method, ADMIN + path, "op", json=body, headers={"Accept-Language": "en"}), 422, code)
    assert err["message"] != code
    assert snapshot(h) == before


# ---------------------------------------------------------------- matters

def test_matter_crud(hall_api: Harness) -> None:
    h = hall_api
    m = ok(h.post(f"{ADMIN}/matters", "op", json={
        "code": "A09", "zone": "A", "name": "股权出质登记", "promised_days": 3,
        "materials": [{"name": "出质登记申请书"}], "joint_departments": ["市场监督管理局", "税务局"]}), 201)
    assert m["position"] == 4 and m["case_type"] == "promised" and m["joint_departments"] == ["市场监督管理局", "税务局"]
    assert [x["code"] for x in ok(h.get(f"{ADMIN}/matters?zone=A", "op"))] == ["A01", "A02", "A03", "A04", "A09"]
    assert len(ok(h.get(f"{ADMIN}/matters", "op"))) == 17

    moved = ok(h.patch(f"{ADMIN}/matters/A09", "op", json={"zone": "B", "fee": None, "enabled": False,
                                                            "materials": [{"name": "申请书", "copies": 2,
                                                                           "original": False}]}))
    assert (moved["zone"], moved["position"], moved["enabled"]) == ("B", 3, False)
    assert moved["materials"] == [{"name": "申请书", "copies": 2, "original": False}]
    assert "A09" not in [x["code"] for x in menu_zone(h, "B")["matters"]]  # disabled: not offered
    ok(h.patch(f"{ADMIN}/matters/A09", "op", json={"enabled": True}))
    assert "A09" in [x["code"] for x in menu_zone(h, "B")["matters"]]
    detail = audit(h, "matter.update")[0]["detail"]["changed"]
    assert detail["zone"] == {"from": "A", "to": "B"} and "materials" in detail

    assert ok(delete(h, f"{ADMIN}/matters/A09")) == {"code": "A09", "deleted": True}
    assert [a["object_id"] for a in audit(h, "matter.delete")] == ["A09"]
    assert [c["action"] for c in changes(h, "matters")] == ["create", "update", "update", "delete"]


def test_a_matter_with_tickets_is_not_deleted(hall_api: Harness) -> None:
    h = hall_api
    ok(h.post("/api/v1/tickets", "K1", json={"zone": "A", "matter": "A01"}), 201)
    before = snapshot(h)
    refused(delete(h, f"{ADMIN}/matters/A01"), 409, "matter_in_use")
    assert snapshot(h) == before
    assert ok(h.patch(f"{ADMIN}/matters/A01", "op", json={"enabled": False}))["enabled"] is False


# ---------------------------------------------------------------- windows

def test_window_crud_and_led_addresses(hall_api: Harness) -> None:
    h = hall_api
    refused(h.post(f"{ADMIN}/windows", "op", json={"code": "99", "name": "x", "zones": ["A"], "led_address": 6}),
            409, "led_address_taken")
    w = ok(h.post(f"{ADMIN}/windows", "op", json={"code": "99", "name": "临时窗口", "zones": ["B", "A"]}), 201)
    assert w["led_address"] is None and w["zones"] == ["B", "A"]
    assert "99" in [x["code"] for x in ok(h.get("/api/v1/windows", "op"))]
    refused(h.patch(f"{ADMIN}/windows/99", "op", json={"led_address": 7}), 409, "led_address_taken")
    ok(h.patch(f"{ADMIN}/windows/07", "op", json={"led_address": None}))
    w = ok(h.patch(f"{ADMIN}/windows/99", "op", json={"led_address": 7, "zones": ["C"], "name": "社保临时窗口"}))
    assert (w["led_address"], w["zones"], w["name"]) == (7, ["C"], "社保临时窗口")
    assert [z["windows"] for z in ok(h.get(f"{ADMIN}/zones", "op")) if z["code"] == "C"] == [["21", "22", "99"]]
    assert ok(delete(h, f"{ADMIN}/windows/99")) == {"code": "99", "deleted": True}
    assert "99" not in [x["code"] for x in ok(h.get(f"{ADMIN}/windows", "op"))]
    assert [c["action"] for c in changes(h, "windows")] == ["create", "update", "update", "delete"]
    assert audit(h, "window.update")[1]["detail"]["changed"]["zones"] == {"from": ["B", "A"], "to": ["C"]}


def test_a_window_with_a_called_ticket_is_neither_disabled_nor_deleted(hall_api: Harness) -> None:
    h, t = hall_api, hall_api.template
    before = snapshot(h)
    assert "A001" in refused(h.patch(f"{ADMIN}/windows/06", "op", json={"enabled": False}), 409,
                             "window_busy")["message"]
    refused(delete(h, f"{ADMIN}/windows/06"), 409, "window_busy")
    assert snapshot(h) == before
    # Served: it has a history now, so it can be disabled but not deleted.
    assert h.post(f"/api/v1/tickets/{t.ticket_called}/start", "clerk1").status_code == 200
    assert h.post(f"/api/v1/tickets/{t.ticket_called}/finish", "clerk1").status_code == 200
    refused(delete(h, f"{ADMIN}/windows/06"), 409, "window_in_use")
    w = ok(h.patch(f"{ADMIN}/windows/06", "op", json={"enabled": False}))
    assert (w["enabled"], w["state"], w["clerk"]) == (False, "closed", None)
    assert "06" not in [x["code"] for x in ok(h.get("/api/v1/windows", "op"))]
    refused(h.post("/api/v1/windows/06/call-next", "clerk1"), 404, "window_not_found")


def test_disabling_an_idle_open_window_closes_it(hall_api: Harness) -> None:
    h = hall_api
    seq = ok(h.get("/api/v1/display/snapshot", "S1"))["seq"]
    w = ok(h.patch(f"{ADMIN}/windows/07", "op", json={"enabled": False}))
    assert (w["enabled"], w["state"], w["clerk"]) == (False, "closed", None)
    closed, changed = h.container.read(lambda conn: [(r.type, r.payload) for r in conn.execute(
        select(T.events.c.type, T.events.c.payload).where(T.events.c.seq > seq).order_by(T.events.c.seq))])
    assert closed == ("window.closed", {"window": {"code": "07", "name": "商事登记首席代表", "state": "closed"}})
    assert changed == ("config.changed", {"what": "windows", "code": "07", "action": "update"})
    assert audit(h, "window.update")[0]["detail"]["changed"]["state"] == {"from": "open", "to": "closed"}
    ok(h.patch(f"{ADMIN}/windows/07", "op", json={"enabled": True}))
    assert h.post("/api/v1/windows/07/open", "clerk2").status_code == 200


# ---------------------------------------------------------------- printers

def test_printer_crud(hall_api: Harness) -> None:
    h = hall_api
    p = ok(h.post(f"{ADMIN}/printers", "op", json={"code": "P2", "name": "二楼取号机打印机", "transport": {
        "kind": "network", "host": "127.0.0.1", "port": 9101}, "profile": {"base": "58mm", "charset": "GBK"}}), 201)
    assert (p["state"], p["kiosks"], p["enabled"]) == ("unknown", [], True) and p["message"]
    assert [x["code"] for x in ok(h.get(f"{ADMIN}/printers", "op"))] == ["P1", "P2"]
    p = ok(h.patch(f"{ADMIN}/printers/P2", "op", json={"enabled": False, "transport": {"kind": "file",
                                                                                        "path": "/dev/usb/lp1"}}))
    assert (p["enabled"], p["state"], p["transport"]) == (False, "unavailable", {"kind": "file", "path": "/dev/usb/lp1"})
    ok(h.post(f"{ADMIN}/devices", "op", json={"code": "K2", "name": "二楼取号机", "role": "kiosk", "printer": "P2"}),
       201)
    assert "K2" in refused(delete(h, f"{ADMIN}/printers/P2"), 409, "printer_in_use")["message"]
    ok(h.patch(f"{ADMIN}/devices/K2", "op", json={"printer": None}))
    assert ok(delete(h, f"{ADMIN}/printers/P2")) == {"code": "P2", "deleted": True}
    assert [c["action"] for c in changes(h, "printers")] == ["create", "update", "delete"]
    assert audit(h, "printer.create")[0]["detail"]["transport"]["port"] == 9101
    # P1 printed the template's tickets: it keeps its history, so it is disabled rather than deleted.
    ok(h.patch(f"{ADMIN}/devices/K1", "op", json={"printer": None}))
    refused(delete(h, f"{ADMIN}/printers/P1"), 409, "printer_has_jobs")


def test_a_kiosk_on_a_disabled_printer_is_told_at_once(hall_api: Harness) -> None:
    h = hall_api
    assert ok(h.get("/api/v1/kiosk/menu", "K1"))["printer"]["code"] == "P1"
    ok(h.patch(f"{ADMIN}/printers/P1", "op", json={"enabled": False}))
    assert ok(h.get("/api/v1/kiosk/menu", "K1"))["printer"]["state"] == "unavailable"
    assert ok(h.post("/api/v1/tickets", "K1", json={"zone": "A"}), 201)["print"]["state"] == "unavailable"


# ---------------------------------------------------------------- devices

def test_device_crud_shows_the_token_once_and_never_a_hash(hall_api: Harness) -> None:
    h = hall_api
    created = ok(h.post(f"{ADMIN}/devices", "op", json={"code": "K9", "name": "自助区取号机", "role": "kiosk",
                                                         "printer": "P1"}), 201)
    token = created.pop("token")
    assert len(token) >= 24
    assert created == {"code": "K9", "name": "自助区取号机", "role": "kiosk", "zones": None, "printer": "P1",
                       "has_token": True, "revoked": False, "revoked_at": None, "created_at": created["created_at"]}
    auth = {"Authorization": f"Bearer {token}"}
    assert h.client.get("/api/v1/kiosk/menu", headers=auth).status_code == 200

    listed = h.get(f"{ADMIN}/devices", "op")
    assert [d["code"] for d in ok(listed)] == ["K1", "K9", "S1", "S2"]
    hashes = h.container.read(lambda conn: list(conn.execute(select(T.devices.c.token_hash)).scalars()))
    assert token not in listed.text and not any(x and x in listed.text for x in hashes)
    assert all("token" not in d and "token_hash" not in d for d in listed.json())
    assert "token" not in str(audit(h, "device.create")[0]["detail"]).replace("'token': 'issued'", "")
    assert token not in str(h.container.read(lambda conn: list(conn.execute(select(T.audit_log)).all())))

    # A kiosk turned into a hall screen: its token serves the screen at once, and no longer the kiosk.
    refused(h.patch(f"{ADMIN}/devices/K9", "op", json={"role": "display"}), 422, "device_printer_kiosk_only")
    d = ok(h.patch(f"{ADMIN}/devices/K9", "op", json={"role": "display", "printer": None, "zones": ["A"],
                                                      "name": "商事分屏"}))
    assert (d["role"], d["printer"], d["zones"]) == ("display", None, ["A"])
    assert h.client.get("/api/v1/kiosk/menu", headers=auth).status_code == 403
    assert h.client.get("/api/v1/display/snapshot", headers=auth).status_code == 200

    with h.client.websocket_connect("/api/v1/display/stream", headers=auth) as ws:
        assert ws.receive_json()["type"] == "snapshot"
        assert ok(delete(h, f"{ADMIN}/devices/K9")) == {"code": "K9", "deleted": True}
        with pytest.raises(WebSocketDisconnect):  # its stream is closed
            while True:
                ws.receive_json()
    assert h.client.get("/api/v1/display/snapshot", headers=auth).status_code == 401
    assert [c["action"] for c in changes(h, "devices")] == ["create", "update", "delete"]
    refused(delete(h, f"{ADMIN}/devices/K9"), 404, "device_not_found")


def test_a_device_issued_a_token_through_the_old_route_keeps_working(hall_api: Harness) -> None:
    h = hall_api
    ok(h.post(f"{ADMIN}/devices", "op", json={"code": "S9", "name": "屏", "role": "display"}), 201)
    token = ok(h.post(f"{ADMIN}/devices/S9/token", "op"))["token"]
    assert h.client.get("/api/v1/display/snapshot", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert ok(h.post(f"{ADMIN}/devices/S9/revoke", "op"))["revoked"] is True
    d = next(d for d in ok(h.get(f"{ADMIN}/devices", "op")) if d["code"] == "S9")
    assert d["revoked"] and d["revoked_at"] is not None


# ---------------------------------------------------------------- holidays

def test_a_holiday_closes_the_hall_at_once_and_its_removal_opens_it(hall_api: Harness) -> None:
    h = hall_api
    assert menu_zone(h, "A")["open"]  # the hall object, with its calendar, is cached now
    day = ok(h.post(f"{ADMIN}/holidays", "op", json={"date": "2026-11-23", "name": "临时闭厅"}), 201)
    assert day == {"date": "2026-11-23", "kind": "holiday", "name": "临时闭厅"}
    assert not menu_zone(h, "A")["open"]
    refused(h.post("/api/v1/tickets", "K1", json={"zone": "A"}), 409, "zone_closed")
    assert ok(h.get(f"{ADMIN}/holidays?year=2026", "op")) == [day]
    assert [x["date"] for x in ok(h.get(f"{ADMIN}/holidays", "op"))] == ["2026-11-23", "2027-01-01", "2027-10-01"]

    assert ok(delete(h, f"{ADMIN}/holidays/2026-11-23")) == {"date": "2026-11-23", "deleted": True}
    assert menu_zone(h, "A")["open"]
    ok(h.post("/api/v1/tickets", "K1", json={"zone": "A"}), 201)
    refused(delete(h, f"{ADMIN}/holidays/2026-11-23"), 404, "holiday_not_found")
    assert [c["code"] for c in changes(h, "holidays")] == ["2026-11-23", "2026-11-23"]
    assert audit(h, "holiday.create")[0]["detail"] == {"kind": "holiday", "name": "临时闭厅"}


def test_a_make_up_working_day_opens_a_weekend(hall_api: Harness) -> None:
    h = hall_api
    h.clock.set(h.clock.now() + timedelta(days=5))  # Saturday 28 November, 10:00
    sign_in_again(h, "op")
    assert not menu_zone(h, "A")["open"]
    ok(h.post(f"{ADMIN}/holidays", "op", json={"date": "2026-11-28", "kind": "workday", "name": "调休上班"}), 201)
    assert menu_zone(h, "A")["open"]


# ---------------------------------------------------------------- export and import

def test_export_is_a_configuration_check_config_accepts_without_secrets(hall_api: Harness, tmp_path: Path) -> None:
    h = hall_api
    ok(h.patch(f"{ADMIN}/zones/F", "op", json={"enabled": False, "opening_hours": [["09:00", "11:30"]]}))
    ok(h.patch(f"{ADMIN}/matters/C02", "op", json={"enabled": False}))
    ok(h.patch(f"{ADMIN}/windows/51", "op", json={"enabled": False, "led_address": None}))
    text = export(h)
    data = tomllib.loads(text)
    s = parse_config(data, env={}, require_secrets=False)  # what check-config runs
    assert s.layout is not None and [z.code for z in s.layout.zones] == ["A", "B", "C", "D", "E", "F"]
    f = next(z for z in s.layout.zones if z.code == "F")
    assert (f.enabled, f.opening_hours) == (False, [["09:00", "11:30"]])
    assert not next(m for z in s.layout.zones for m in z.matters if m.code == "C02").enabled
    w51 = next(w for w in s.layout.windows if w.code == "51")
    assert (w51.enabled, w51.led_address) == (False, None)
    assert [d.code for d in s.layout.devices] == ["K1", "S1", "S2"]
    assert next(d for d in s.layout.devices if d.code == "K1").printer == "P1"
    secrets = list(h.template.hall.env.values()) + list(h.tokens.values())
    secrets += h.container.read(lambda conn: [x for x in conn.execute(select(T.devices.c.token_hash)).scalars() if x])
    assert not [x for x in secrets if x in text]
    assert "token" not in text and "secret" not in text and "status" not in text


def test_export_then_import_gives_the_same_layout(hall_api: Harness) -> None:
    h = hall_api
    ok(h.post(f"{ADMIN}/zones", "op", json={"code": "N", "name": "新区 \"引号\" \\ 反斜杠", "prefix": "N"}), 201)
    ok(h.post(f"{ADMIN}/matters", "op", json={"code": "N01", "zone": "N", "name": "事项", "fee": None,
                                              "materials": [{"name": "表\t格", "copies": 3, "original": False}]}), 201)
    ok(h.patch(f"{ADMIN}/zones/E", "op", json={"enabled": False}))
    ok(h.post(f"{ADMIN}/holidays", "op", json={"date": "2027-02-06", "kind": "workday", "name": "春节调休"}), 201)
    original = export(h)
    before = {k: ok(h.get(f"{ADMIN}/{k}", "op")) for k in ("zones", "matters", "windows", "devices", "holidays")}

    # Changes the import undoes (it updates by code; it deletes nothing, so a deleted window comes back).
    ok(h.patch(f"{ADMIN}/zones/A", "op", json={"name": "改名", "daily_quota": 9, "prefix": "AZ"}))
    ok(h.patch(f"{ADMIN}/zones/E", "op", json={"enabled": True}))
    ok(h.patch(f"{ADMIN}/matters/A01", "op", json={"zone": "B", "materials": []}))
    ok(h.patch(f"{ADMIN}/windows/41", "op", json={"zones": ["A"], "led_address": None}))
    ok(delete(h, f"{ADMIN}/windows/01"))
    ok(h.patch(f"{ADMIN}/devices/S2", "op", json={"zones": None}))
    assert export(h) != original

    result = ok(import_toml(h, original))
    assert result == {"hall": "HY", "zones": 7, "matters": 17, "windows": 11, "printers": 1, "devices": 3,
                      "holidays": 3, "ignored": []}
    assert export(h) == original
    assert {k: ok(h.get(f"{ADMIN}/{k}", "op")) for k in before} == before
    assert audit(h, "config.import")[-1]["actor"] == "op"
    assert changes(h)[-1] == {"what": "layout"}


def test_export_imports_into_an_empty_database_as_the_same_layout(hall_api: Harness, tmp_path: Path) -> None:
    """The exported file, checked and imported as `kiosk-server import-config` does, into a
    fresh database: exporting that database gives the same file."""
    from datetime import datetime, timezone

    from kiosk_server.db import migrate
    from kiosk_server.db.engine import Database, make_engine
    from kiosk_server.services import admin
    from kiosk_server.services.context import SYSTEM, load_hall
    from kiosk_server.services.layout import import_layout
    from kiosk_server.services.security import Keys
    h = hall_api
    ok(h.patch(f"{ADMIN}/matters/B02", "op", json={"enabled": False, "department": None}))
    text = export(h)
    settings = parse_config(tomllib.loads(text), env={}, require_secrets=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        migrate.upgrade(engine)
        db = Database(engine)
        with db.write() as conn:
            import_layout(conn, settings.layout, keys=Keys("k" * 40, "0" * 64), device_tokens={}, actor=SYSTEM,
                          now=datetime.now(timezone.utc))
        with db.read() as conn:
            again = admin.to_toml(admin.export_layout(conn, load_hall(conn)))
    finally:
        engine.dispose()
    assert again.strip() == text.strip()


def test_config_import_reports_every_problem_with_its_key_path_and_changes_nothing(hall_api: Harness) -> None:
    h = hall_api
    before = snapshot(h)
    text = export(h).replace('prefix = "B"', 'prefix = "b"', 1).replace('zones = ["F"]', 'zones = ["F", "Q"]', 1)
    err = refused(import_toml(h, text, **{"Accept-Language": "en"}), 422, "config_invalid")
    assert err["message"].startswith("The configuration has 2 problem")
    assert {d["path"] for d in err["details"]} == {"zones.1.prefix", "windows.10.zones"}
    assert any("'Q'" in d["message"] for d in err["details"])
    assert snapshot(h) == before

    err = refused(import_toml(h, "[hall\ncode = 1"), 422, "config_invalid")
    assert err["details"][0]["path"] == "(file)" and "TOML" in err["details"][0]["message"]
    err = refused(import_toml(h, "[server]\nport = 8080\n"), 422, "config_invalid")
    assert err["details"] == [{"path": "hall", "message": "no hall layout: [hall] and [[zones]] are required"}]
    err = refused(import_toml(h, export(h).replace('code = "HY"', 'code = "XX"', 1)), 422, "config_hall_mismatch")
    assert "XX" in err["message"] and "HY" in err["message"]
    text = export(h).replace('transport = { kind = "network", host = "127.0.0.1", port = 9100 }',
                             'transport = { kind = "file", path = "/var/lib/hall/hall.db" }')
    err = refused(import_toml(h, text), 422, "config_invalid")
    assert err["details"][0]["path"] == "printers.0.transport"
    # The file gives a new zone the prefix of a zone of the hall that the file does not name.
    text = export(h).replace("[[windows]]", '[[zones]]\ncode = "Z"\nname = "新"\nprefix = "YY"\n\n[[windows]]', 1)
    ok(h.post(f"{ADMIN}/zones", "op", json={"code": "Y", "name": "已有", "prefix": "YY"}), 201)
    before = snapshot(h)
    err = refused(import_toml(h, text), 422, "config_invalid")
    assert err["details"] == [{"path": "zones", "message": "prefix 'YY' is used by two zones (with one already in "
                                                           "the hall)"}]
    assert snapshot(h) == before


def test_config_import_ignores_server_sections_and_issues_no_tokens(hall_api: Harness) -> None:
    h = hall_api
    text = export(h) + '\n[[devices]]\ncode = "K7"\nname = "新取号机"\nrole = "kiosk"\ntoken_env = "HALL_TOKEN_K7"\n'
    text = "[server]\nport = 9999\n\n[security]\nsession_idle_minutes = 5\n\n" + text
    result = ok(import_toml(h, text, **{"content-type": "application/toml"}))
    assert result["ignored"] == ["server", "security"] and result["devices"] == 4
    k7 = next(d for d in ok(h.get(f"{ADMIN}/devices", "op")) if d["code"] == "K7")
    assert k7["has_token"] is False  # the environment of the server is not read: issue one through the API
    assert ok(h.post(f"{ADMIN}/devices/K7/token", "op"))["token"]


# ---------------------------------------------------------------- supervision

def test_supervision_overview(hall_api: Harness) -> None:
    h, t = hall_api, hall_api.template
    o = ok(h.get("/api/v1/supervision/overview", "op"))
    assert o["hall"] == {"code": "HY", "name": "衡阳市政务服务中心"} and o["business_date"] == "2026-11-23"
    w06 = next(w for w in o["windows"] if w["code"] == "06")
    assert w06["state"] == "open" and w06["clerk"]["display_name"] == "CLERK1" and w06["since"] is not None
    assert w06["current_ticket"]["number"] == "A001" and w06["current_ticket"]["status"] == "called"
    a = next(z for z in o["zones"] if z["code"] == "A")
    assert (a["waiting"], a["oldest_number"], a["open_windows"], a["open"]) == (1, "A002", 2, True)
    assert [p["code"] for p in o["printers"]] == ["P1"] and o["printers"][0]["state"] == "unknown"
    assert o["alarms"] == []

    assert h.post("/api/v1/windows/07/pause", "clerk2", json={"reason": "午休"}).status_code == 200
    assert h.post(f"/api/v1/tickets/{t.ticket_called}/start", "clerk1").status_code == 200
    h.container.write(lambda conn: conn.execute(update(T.printers).values(
        status={"online": True, "cover_open": False, "paper_near_end": False, "paper_out": True, "error": "paper_out",
                "polled": True}, status_at=h.clock.now())))
    h.clock.advance(minutes=20)  # within the sessions' idle time
    o = ok(h.get("/api/v1/supervision/overview?wait_alarm_s=1140", "op", headers={"Accept-Language": "en"}))
    assert next(w for w in o["windows"] if w["code"] == "06")["current_ticket"]["status"] == "serving"
    w07 = next(w for w in o["windows"] if w["code"] == "07")
    assert (w07["state"], w07["pause_reason"]) == ("paused", "午休")
    p1 = o["printers"][0]
    assert (p1["state"], p1["error"]) == ("no_paper", "paper_out") and p1["since"] is not None
    kinds = {(x["kind"], x["object"], x["severity"]) for x in o["alarms"]}
    assert kinds == {("printer", "P1", "alarm"), ("wait", "A", "alarm"), ("wait", "B", "alarm"),
                     ("pause", "07", "warning")}
    wait_a = next(x for x in o["alarms"] if x["object"] == "A")
    assert "20 min" in wait_a["message"] and "A002" in wait_a["message"]
    assert ok(h.get("/api/v1/supervision/overview", "op"))["alarms"][-1]["kind"] == "pause"  # default: 30 min wait
    assert o["alarms"][0]["severity"] == "alarm"
    quiet = ok(h.get("/api/v1/supervision/overview?wait_alarm_s=3600&pause_alarm_s=3600", "op"))
    assert {x["kind"] for x in quiet["alarms"]} == {"printer"}


# ---------------------------------------------------------------- both databases

def _client(url: str) -> tuple[Any, TestClient, dict[str, str]]:
    from kiosk_server.main import create_app
    hall = prepare(url)
    app = create_app(hall.settings, clock=FakeClock(), run_sweeper=False)
    client = TestClient(app, raise_server_exceptions=False)
    op = client.post("/api/v1/auth/login", json={"username": "op", "password": PASSWORD}).json()["token"]
    return hall, client, {"Authorization": f"Bearer {op}"}


def test_admin_on_both_databases(db_url: str) -> None:
    """The core of every resource on SQLite and PostgreSQL: references the database refuses
    (in a savepoint) and the advisory lock of PostgreSQL included."""
    hall, client, op = _client(db_url)
    kiosk = {"Authorization": f"Bearer {hall.device_tokens['K1']}"}

    def call(method: str, path: str, body: Any = None, status: int = 200, headers: Any = None) -> Any:
        r = client.request(method, ADMIN + path, json=body, headers=headers or op)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text

    try:
        call("POST", "/zones", {"code": "N", "name": "新区", "prefix": "N"}, 201)
        call("POST", "/matters", {"code": "N01", "zone": "N", "name": "新事项", "materials": [{"name": "表"}]}, 201)
        call("POST", "/windows", {"code": "90", "name": "新窗口", "zones": ["N"], "led_address": 90}, 201)
        call("POST", "/printers", {"code": "P2", "name": "打印机", "transport": {"kind": "network", "host": "h"}}, 201)
        token = call("POST", "/devices", {"code": "K2", "name": "取号机", "role": "kiosk", "printer": "P2"}, 201)["token"]
        call("POST", "/holidays", {"date": "2027-05-01", "name": "劳动节"}, 201)
        r = client.post("/api/v1/tickets", json={"zone": "N", "matter": "N01"}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201 and r.json()["number"] == "N001", r.text

        assert call("DELETE", "/matters/N01", status=409)["error"]["code"] == "matter_in_use"  # found by the database
        assert call("DELETE", "/zones/N", status=409)["error"]["code"] == "zone_served"
        assert call("DELETE", "/printers/P2", status=409)["error"]["code"] == "printer_in_use"  # K2 prints there
        call("PATCH", "/devices/K2", {"printer": None})
        assert call("DELETE", "/printers/P2", status=409)["error"]["code"] == "printer_has_jobs"  # the ticket's slip
        call("PATCH", "/windows/90", {"zones": ["A"], "name": "改", "led_address": None})
        call("DELETE", "/windows/90")
        call("DELETE", "/devices/K2")
        call("DELETE", "/holidays/2027-05-01")
        call("PATCH", "/zones/N", {"enabled": False})
        call("PATCH", "/matters/N01", {"zone": "A"})

        assert call("DELETE", "/zones/N", status=409)["error"]["code"] == "zone_in_use"
        text = call("GET", "/config/export")
        call("PATCH", "/zones/A", {"name": "改名"})
        r = client.post(f"{ADMIN}/config/import", content=text.encode(), headers={**op, "content-type": "text/plain"})
        assert r.status_code == 200, r.text
        assert call("GET", "/config/export").split("\n", 2)[2] == text.split("\n", 2)[2]
        assert client.get("/api/v1/kiosk/menu", headers=kiosk).status_code == 200
        with hall.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(T.events)
                                .where(T.events.c.type == "config.changed")).scalar_one() >= 16
    finally:
        client.close()
        client.app.state.container.db.dispose()
        hall.db.dispose()


@pytest.mark.postgres
def test_another_worker_follows_a_change_through_the_event_listener(pg_url: str) -> None:
    """Two workers on one PostgreSQL database. Worker B has the hall (and its calendar) and a
    device's session cached; worker A adds today as a holiday and removes the device. When the
    config.changed events reach B through its listener, B refuses both at once."""
    from kiosk_server.db import queries
    from kiosk_server.main import create_app
    from kiosk_server.realtime.pg_listener import PgFanout
    hall_a, client_a, op = _client(pg_url)
    app_b = create_app(hall_a.settings, clock=FakeClock(), run_sweeper=False)
    client_b = TestClient(app_b, raise_server_exceptions=False)
    b = app_b.state.container
    kiosk = {"Authorization": f"Bearer {hall_a.device_tokens['K1']}"}
    try:
        fanout = PgFanout(pg_url, lambda since, n: b.read(queries.events_since, b.hall, since, n), b.deliver,
                          b.read(queries.last_seq))
        assert client_b.get("/api/v1/kiosk/menu", headers=kiosk).status_code == 200  # B caches K1 and the hall
        assert next(z for z in client_b.get("/api/v1/kiosk/menu", headers=kiosk).json()["zones"]
                    if z["code"] == "A")["open"]
        assert client_a.post(f"{ADMIN}/holidays", json={"date": "2026-11-23", "name": "闭厅"}, headers=op).status_code == 201
        assert client_a.request("DELETE", f"{ADMIN}/devices/K1", headers=op).status_code == 200
        assert fanout.catch_up() == 2   # what B's listener does on each NOTIFY
        assert client_b.get("/api/v1/kiosk/menu", headers=kiosk).status_code == 401
        op_b = {"Authorization": op["Authorization"]}
        r = client_b.post("/api/v1/tickets", json={"zone": "A"}, headers=op_b)
        assert r.status_code == 409 and r.json()["error"]["code"] == "zone_closed", r.text
    finally:
        for client in (client_a, client_b):
            client.close()
            client.app.state.container.db.dispose()
        hall_a.db.dispose()


# ---------------------------------------------------------------- printers at run time

@pytest.mark.timeout(60)
def test_printers_enabled_or_added_through_the_api_print_without_a_restart(tmp_path: Path) -> None:
    """The app with its real spoolers and two printer simulators on loopback. The hall starts
    with its printer disabled (no spooler runs); enabling it starts the spoolers, and a printer
    added and given to the kiosk prints the kiosk's next ticket."""
    from printer_driver.simulator import PrinterSimulator

    from kiosk_server.main import create_app
    hall = prepare(f"sqlite:///{tmp_path / 'hall.db'}")
    with PrinterSimulator() as sim1, PrinterSimulator() as sim2:
        def transport(sim: PrinterSimulator) -> dict[str, Any]:
            return {"kind": "network", "host": "127.0.0.1", "port": sim.port, "connect_timeout": 1.0,
                    "write_timeout": 1.0, "status_timeout": 1.0}
        with hall.db.write() as conn:
            conn.execute(update(T.printers).values(transport=transport(sim1), enabled=False))
        printing = hall.settings.printing.model_copy(update={"poll_s": 0.05, "backoff_s": 0.05})
        app = create_app(hall.settings.model_copy(update={"printing": printing}), clock=FakeClock(),
                         run_sweeper=False, run_spoolers=True)
        with TestClient(app) as client:
            c = app.state.container
            assert c.printing is None
            op = {"Authorization": "Bearer " + ok(client.post("/api/v1/auth/login", json={
                "username": "op", "password": PASSWORD}))["token"]}
            kiosk = {"Authorization": f"Bearer {hall.device_tokens['K1']}"}
            assert ok(client.patch(f"{ADMIN}/printers/P1", json={"enabled": True}, headers=op))["enabled"]
            assert c.printing is not None
            ok(client.post("/api/v1/tickets", json={"zone": "A"}, headers=kiosk), 201)
            sim1.wait_for_slips(1, timeout=15)

            ok(client.post(f"{ADMIN}/printers", json={"code": "P2", "name": "二号", "transport": transport(sim2)},
                           headers=op), 201)
            ok(client.patch(f"{ADMIN}/devices/K1", json={"printer": "P2"}, headers=op))
            ok(client.post("/api/v1/tickets", json={"zone": "A"}, headers=kiosk), 201)
            sim2.wait_for_slips(1, timeout=15)
            assert len(sim1.slips) == 1
    hall.db.dispose()
