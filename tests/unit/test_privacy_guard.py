"""No phone or ID number in an event: the pattern, the guard on every appended event, and the
API answer when a clerk types one into a pause reason (which every screen would show)."""
from __future__ import annotations

import pytest

from kiosk_server.domain.errors import Invalid
from kiosk_server.domain.privacy import personal_number
from kiosk_server.services.events import check_public
from kiosk_server.services.tickets import announcement
from tests.conftest import Api

PHONE = "13987654321"
ID_NUMBER = "43010419900101123X"


@pytest.mark.parametrize("text, kind", [
    (PHONE, "phone"), ("请拨 +86 139 8765 4321", "phone"), ("139-8765-4321", "phone"), ("１３９８７６５４３２１", "phone"),
    (ID_NUMBER, "id_number"), ("430104199001011234", "id_number"), ("身份证430104900101123", "id_number"),
    ("A0001", None), ("W01", None), ("2026-11-23T02:00:00+00:00", None), ("12345678901", None),
    ("0734-12345678", None), ("请A0001号到06号窗口办理", None), ("1398765432100", None),
])
def test_phone_and_id_numbers_are_recognised(text: str, kind: str | None):
    assert personal_number(text) == kind


def test_an_event_payload_with_a_personal_number_is_refused():
    called = {"ticket": {"id": 7, "number": "A0007", "zone": "A"}, "window": {"code": "06", "name": "商事登记窗口"},
              "announcement": announcement("A0007", "06"), "waiting": {"A": 12}}
    check_public(called)  # an ordinary call passes
    for bad in ({"window": {"code": "06", "reason": f"有事请拨{PHONE}"}},
                {"printer": {"code": "P1"}, "error": f"id {ID_NUMBER}"},
                {"nested": [{"deep": ["x", "１３９ ８７６５ ４３２１"]}]}):
        with pytest.raises(Invalid) as e:
            check_public(bad)
        assert e.value.code == "personal_data_in_event"


def test_a_pause_reason_with_a_phone_number_is_refused_and_changes_nothing(api: Api):
    api.open("06", "clerk1")
    r = api.post("/api/v1/windows/06/pause", "clerk1", json={"reason": f"请联系{PHONE}"})
    assert r.status_code == 422
    assert r.json()["error"] == {"code": "personal_data_in_event", "message": "公开显示的内容不能包含手机号或身份证号"}
    r = api.post("/api/v1/windows/06/pause", "clerk1", json={"reason": ID_NUMBER}, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and "phone or ID number" in r.json()["error"]["message"]
    windows = {w["code"]: w for w in api.get("/api/v1/windows", "clerk1").json()}
    assert windows["06"]["state"] == "open" and windows["06"]["pause_reason"] is None
    assert api.post("/api/v1/windows/06/pause", "clerk1", json={"reason": "午休"}).status_code == 200
