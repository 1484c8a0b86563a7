"""A ticket's public status page (/t/<public token>, what the ticket's QR code opens) on a phone-sized
Debian chromium against a real `kiosk-server serve`.

Three tickets wait in zone A; the page follows the third. The clerk of window 06 signs in over
HTTP, opens the window and calls: the page shows the people ahead falling 2 → 1 → 0 without a
reload (the public websocket), then the call with window 06, big, then service and the end. A
second page whose websocket is refused falls back to polling and still sees the call. The
language switch leaves no interface text in Chinese. Screenshots in test-output/<test>/.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import (
    CJK_TEXT_JS, CONTRAST_JS, UNLABELLED_JS, Browser, LiveHall, browser, page_server, shot, wait_js,
)

pytestmark = pytest.mark.slow

PHONE = (390, 844)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHall]:
    with page_server(tmp_path_factory.mktemp("status-hall")) as hall:
        yield hall


@pytest.fixture(scope="module")
def b() -> Iterator[Browser]:
    with browser() as chromium:
        yield chromium


def text(page: Any, selector: str) -> str:
    return page.locator(selector).inner_text()


def ahead_is(page: Any, n: int, what: str) -> None:
    wait_js(page, f"document.getElementById('ahead') && document.getElementById('ahead').textContent === '{n} 人'",
            3, what)


def test_status_page_follows_the_ticket_live_until_served(b: Browser, live: LiveHall) -> None:
    first, second, mine = live.issue("A"), live.issue("A"), live.issue("A", "A01")
    clerk = live.login(live.clerks["06"])
    assert live.http.post("/api/v1/windows/06/open", headers=clerk).status_code == 200

    page = b.page(live.base, viewport=PHONE)
    page.goto(f"{live.base}/t/{mine['public_token']}")
    wait_js(page, "window.ticketStatus && ticketStatus.mode === 'live'", 5, "the live stream")
    assert text(page, "#number") == mine["number"] and text(page, "#status") == "等候中"
    ahead_is(page, 2, "two ahead")
    assert text(page, "#est-wait").startswith("约 ")
    assert page.evaluate(UNLABELLED_JS) == [] and page.evaluate(CONTRAST_JS, 4.5) == []
    shot(page, "1-waiting-two-ahead")
    page.evaluate("window.__same_page = true")

    def call_next() -> dict[str, Any]:
        r = live.http.post("/api/v1/windows/06/call-next", params={"finish_current": "true"}, headers=clerk)
        assert r.status_code == 200, r.text
        return dict(r.json())

    assert call_next()["number"] == first["number"]
    ahead_is(page, 1, "one ahead after the first call")
    shot(page, "2-one-ahead")
    assert call_next()["number"] == second["number"]
    ahead_is(page, 0, "none ahead after the second call")
    shot(page, "3-none-ahead")

    called = call_next()
    assert called["number"] == mine["number"]
    wait_js(page, "document.getElementById('call') !== null", 3, "the call")
    assert text(page, "#status") == "已叫号"
    assert text(page, "#window-code") == "06号窗口"
    assert "商事登记窗口" in text(page, "#call")
    assert page.title() == "请到06号窗口"
    size = page.locator("#window-code").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 48
    assert page.evaluate(CONTRAST_JS, 4.5) == []
    shot(page, "4-called")

    assert live.http.post(f"/api/v1/tickets/{called['id']}/start", headers=clerk).status_code == 200
    wait_js(page, "document.getElementById('status').textContent === '办理中'", 3, "in service")
    shot(page, "5-serving")
    assert live.http.post(f"/api/v1/tickets/{called['id']}/finish", headers=clerk).status_code == 200
    wait_js(page, "document.getElementById('status').textContent === '已办结'", 3, "served")
    assert "感谢" in text(page, "#message")
    assert page.evaluate("window.__same_page") is True and page.evaluate("ticketStatus.polls") == 1
    assert page.evaluate("ticketStatus.messages") >= 6
    shot(page, "6-served")

    # Nothing personal is on the page: only the public body's fields.
    body = live.http.get(f"/api/v1/public/tickets/{mine['public_token']}").json()
    assert set(body) <= {"number", "zone", "status", "waiting_ahead", "estimated_wait_s", "window", "issued_at",
                         "business_date"}

    # English: no interface text left in Chinese (the zone and window names are hall data).
    page.click("#lang-slot button")
    wait_js(page, "document.documentElement.lang === 'en'", 2, "English")
    assert text(page, "#status") == "Done"
    cjk = [s for s in page.evaluate(CJK_TEXT_JS) if s != "中文"]
    assert cjk == [], cjk
    shot(page, "7-served-en")


def test_status_page_polls_when_the_websocket_is_refused(b: Browser, live: LiveHall) -> None:
    mine = live.issue("B")
    page = b.page(live.base, viewport=PHONE, locale="en")
    page.route_web_socket("**/stream", lambda ws: ws.close(code=1011, reason="test: no websocket"))
    page.goto(f"{live.base}/t/{mine['public_token']}?poll=2&lang=en")
    wait_js(page, "window.ticketStatus && ticketStatus.mode === 'polling'", 5, "polling")
    assert text(page, "#mode") == "Refreshing every 2 s"
    assert text(page, "#status") == "Waiting"
    clerk = live.login(live.clerks["11"])
    assert live.http.post("/api/v1/windows/11/open", headers=clerk).status_code == 200
    r = live.http.post("/api/v1/windows/11/call-next", headers=clerk)
    assert r.status_code == 200 and r.json()["number"] == mine["number"], r.text
    wait_js(page, "document.getElementById('call') !== null", 5, "the call, by polling")
    assert text(page, "#window-code") == "Window 11"
    assert page.evaluate("ticketStatus.polls") >= 2 and page.evaluate("ticketStatus.messages") == 0
    cjk = [s for s in page.evaluate(CJK_TEXT_JS) if s != "中文"]
    assert cjk == [], cjk
    shot(page, "polling-called-en")


def test_status_page_of_an_unknown_ticket(b: Browser, live: LiveHall) -> None:
    page = b.page(live.base, viewport=PHONE)
    page.goto(f"{live.base}/t/no-such-ticket")
    wait_js(page, "window.ticketStatus && ticketStatus.notFound", 5, "not found")
    assert text(page, "#message") == "未找到该号票，请核对二维码"
    shot(page, "unknown")
