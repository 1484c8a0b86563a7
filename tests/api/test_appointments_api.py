"""Appointments over HTTP: an operator books, the kiosk checks in with the code alone (or with
POST /api/v1/tickets and the booking's zone); refusals come in the error shape, in both languages."""
from __future__ import annotations

from tests.conftest import Api
from tests.support.hall import FakeClock


def _book(api: Api, start: str, end: str, **extra: str) -> dict:
    r = api.post("/api/v1/appointments", "op", json={"zone": "A", "date": "2026-11-23", "start": start, "end": end,
                                                     "source": "一网通办", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_book_check_in_at_the_kiosk_and_list(api: Api, clock: FakeClock) -> None:
    booking = _book(api, "10:00", "10:30", matter="A01")
    assert booking["status"] == "booked" and booking["code"].isdigit() and booking["matter"] == "A01"
    normal = api.issue("A")
    r = api.post("/api/v1/appointments/check-in", "K1", json={"code": booking["code"]})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["zone"]["code"] == "A" and t["matter"]["code"] == "A01"
    assert t["appointment"] == {"code": booking["code"], "start": "10:00", "end": "10:30"}
    assert t["waiting_ahead"] == 0  # due now: ahead of the normal ticket issued before it
    again = api.post("/api/v1/appointments/check-in", "K1", json={"code": booking["code"]},
                     headers={"Accept-Language": "en"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "appointment_used"
    assert booking["code"] in again.json()["error"]["message"]
    # the same through POST /api/v1/tickets: the zone may be left out
    second = _book(api, "10:00", "10:30")
    r = api.post("/api/v1/tickets", "K1", json={"appointment_code": second["code"]})
    assert r.status_code == 201 and r.json()["waiting_ahead"] == 1, r.text
    third = _book(api, "10:00", "10:30")
    r = api.post("/api/v1/tickets", "K1", json={"zone": "B", "appointment_code": third["code"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "appointment_other_zone"
    listed = api.get("/api/v1/appointments?date=2026-11-23", "clerk1").json()
    assert [(b["code"], b["status"]) for b in listed] == [
        (booking["code"], "checked_in"), (second["code"], "checked_in"), (third["code"], "booked")]
    api.open("06", "clerk1")
    called = api.post("/api/v1/windows/06/call-next", "clerk1").json()
    assert called["id"] == t["id"] and normal["id"] != t["id"]


def test_unknown_early_and_cancelled_bookings_are_refused_in_plain_words(api: Api, clock: FakeClock) -> None:
    r = api.post("/api/v1/appointments/check-in", "K1", json={"code": "00000000"})
    assert r.status_code == 404 and "00000000" in r.json()["error"]["message"]
    early = _book(api, "14:00", "14:30")
    r = api.post("/api/v1/appointments/check-in", "K1", json={"code": early["code"]}, headers={"Accept-Language": "en"})
    assert r.status_code == 409 and "14:00" in r.json()["error"]["message"]
    r = api.post(f"/api/v1/appointments/{early['code']}/cancel", "op")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = api.post("/api/v1/appointments/check-in", "K1", json={"code": early["code"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "appointment_state"
    bad = api.post("/api/v1/appointments", "op", json={"zone": "A", "date": "2026-11-23", "start": "11:00", "end": "10:00"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "appointment_slot_invalid"
    assert api.post("/api/v1/tickets", "K1", json={}).status_code == 422  # neither a zone nor a booking
    assert api.post("/api/v1/appointments", "clerk1", json={"zone": "A", "date": "2026-11-23", "start": "11:00",
                                                            "end": "12:00"}).status_code == 403
