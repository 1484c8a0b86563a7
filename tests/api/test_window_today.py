"""GET /api/v1/windows/{code}/today: the clerk console's view of its window's day."""
from __future__ import annotations

from tests.conftest import Api
from tests.support.hall import FakeClock


def _today(api: Api, code: str, who: str) -> dict:
    r = api.get(f"/api/v1/windows/{code}/today", who)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_windows_day_counts_calls_services_no_shows_and_transfers(api: Api, clock: FakeClock) -> None:
    api.open("06", "clerk1")
    api.open("07", "clerk2")
    first, second, third = api.issue("A"), api.issue("A"), api.issue("A")
    empty = _today(api, "06", "clerk1")
    assert empty["window"] == {"code": "06", "name": "商事登记窗口", "state": "open", "pause_reason": None}
    assert empty["zones"] == [{"code": "A", "name": "商事登记区", "waiting": 3}]
    assert empty["figures"] == {"called": 0, "served": 0, "missed": 0, "transferred_out": 0, "avg_service_s": None}
    assert empty["transferred_in"] == [] and empty["missed"] == []
    assert [z["code"] for z in empty["hall_zones"]] == list("ABCDEF")

    assert api.post("/api/v1/windows/06/call-next", "clerk1").json()["id"] == first["id"]
    assert api.post("/api/v1/windows/06/recall", "clerk1").status_code == 200  # a recall is not a call
    api.post(f"/api/v1/tickets/{first['id']}/start", "clerk1")
    clock.advance(seconds=120)
    assert api.post(f"/api/v1/tickets/{first['id']}/finish", "clerk1").json()["status"] == "served"
    assert api.post("/api/v1/windows/06/call-next", "clerk1").json()["id"] == second["id"]
    assert api.post(f"/api/v1/tickets/{second['id']}/no-show", "clerk1").json()["status"] == "missed"
    assert api.post("/api/v1/windows/06/call-next", "clerk1").json()["id"] == third["id"]
    r = api.post(f"/api/v1/tickets/{third['id']}/transfer", "clerk1", json={"to_window": "07", "reason": "需首席代表审核"})
    assert r.status_code == 200, r.text

    day = _today(api, "06", "clerk1")
    assert day["figures"] == {"called": 3, "served": 1, "missed": 1, "transferred_out": 1, "avg_service_s": 120.0}
    assert [(m["id"], m["number"], m["queue_zone"], m["miss_count"]) for m in day["missed"]] == \
        [(second["id"], "A002", "A", 1)]
    assert day["zones"] == [{"code": "A", "name": "商事登记区", "waiting": 1}]  # the transferred ticket waits in A
    assert day["transferred_in"] == []

    at_07 = _today(api, "07", "clerk2")
    assert [(t["number"], t["from_window"], t["reason"]) for t in at_07["transferred_in"]] == \
        [("A003", "06", "需首席代表审核")]
    assert at_07["figures"]["called"] == 0 and at_07["missed"] == day["missed"]  # 07 serves zone A too
    body = api.get(f"/api/v1/tickets/{third['id']}", "clerk2").json()
    assert [(x["from_window"], x["to_window"], x["reason"]) for x in body["transfers"]] == \
        [("06", "07", "需首席代表审核")]

    # The transferred ticket is 07's next call; then it is no longer "transferred in".
    assert api.post("/api/v1/windows/07/call-next", "clerk2").json()["id"] == third["id"]
    assert _today(api, "07", "clerk2")["transferred_in"] == []
    # Requeued: off the missed list.
    assert api.post(f"/api/v1/tickets/{second['id']}/requeue", "clerk1").json()["status"] == "waiting"
    assert _today(api, "06", "clerk1")["missed"] == []
    assert _today(api, "06", "op")["figures"]["called"] == 3  # an operator reads any window


def test_a_clerk_reads_only_the_window_it_holds(api: Api) -> None:
    api.open("06", "clerk1")
    for who, code in (("clerk2", "06"), ("clerk1", "07")):
        r = api.get(f"/api/v1/windows/{code}/today", who)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "window_not_yours"
    r = api.get("/api/v1/windows/99/today", "clerk1")
    assert r.status_code == 404 and r.json()["error"]["code"] == "window_not_found"
    assert api.get("/api/v1/windows/06/today", "K1").status_code == 403
    assert api.get("/api/v1/windows/06/today").status_code == 401
