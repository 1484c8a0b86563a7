"""The ticket machine page (/kiosk) in Debian's chromium against a real `kiosk-server serve`.

One server for the module (SQLite, the sample hall open around the clock, kiosk K1 with its
printer P1, an operator op1, clerks per window); each test uses its own zones so that none
depends on another's tickets:

  A  a citizen takes a ticket for matter A01, portrait 1080×1920 and landscape 1920×1080: number,
     people ahead, estimated wait, the QR code (the image loads), the printer's state; every
     control labelled and every text ≥ 4.5:1 on each screen; waiting counts follow the stream;
  B  a double tap, two taps, two synchronous clicks and a request the network delivers twice
     each give exactly one ticket (counted in the database);
  C  closed by the operator while the kiosk is open (config.changed): greyed with its reason;
  D  quota reached: greyed with its reason; G added by the operator: appears without a reload;
  E  the quota runs out between the menu and the tap: the server's refusal is shown;
  F  appointment check-in and return visit through the keypad;
  and the idle timeout, and the language switch (no interface text left in Chinese).

Screenshots in test-output/<test>/. Every wait is bounded.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from kiosk_server.db import tables as T
from tests.support.browser import (
    CJK_TEXT_JS, CONTRAST_JS, UNLABELLED_JS, Browser, LiveHall, browser, page_server, shot, wait_js,
)

pytestmark = pytest.mark.slow

PORTRAIT = (1080, 1920)
LANDSCAPE = (1920, 1080)
LANG_BUTTON_EN = "中文"  # the switch back names its language in that language (lang_switch in common.json)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHall]:
    with page_server(tmp_path_factory.mktemp("kiosk-hall"), operators=["op1"]) as hall:
        yield hall


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as b:
        yield b


@pytest.fixture
def b(chromium: Browser) -> Iterator[Browser]:
    yield chromium
    errors, chromium.errors[:] = list(chromium.errors), []
    assert not errors, f"uncaught errors in the page: {errors}"


def tickets(live: LiveHall, zone: str) -> list[dict[str, Any]]:
    with live.prepared.db.read() as conn:
        zid = conn.execute(select(T.zones.c.id).where(T.zones.c.code == zone)).scalar_one()
        rows = conn.execute(select(T.tickets).where(T.tickets.c.zone_id == zid).order_by(T.tickets.c.id)).mappings()
        return [dict(r) for r in rows]


def count(live: LiveHall, zone: str) -> int:
    with live.prepared.db.read() as conn:
        return conn.execute(select(func.count()).select_from(T.tickets).join(T.zones, T.zones.c.id == T.tickets.c.zone_id)
                            .where(T.zones.c.code == zone)).scalar_one()


def open_kiosk(b: Browser, live: LiveHall, viewport: tuple[int, int] = PORTRAIT, query: str = "&guard=50") -> Any:
    """The kiosk page; its tap guard is shortened to 50 ms except where the test is about it."""
    page = b.page(live.base, viewport=viewport)
    page.goto(f"{live.base}/kiosk?token={live.kiosk_token}{query}")
    on_screen(page, "home")
    assert "token" not in page.url, "the device token stays in the address bar"
    return page


def on_screen(page: Any, screen: str, timeout_s: float = 5) -> None:
    """The screen is shown and past its tap guard (taps in its first moments are ignored)."""
    wait_js(page, f"document.getElementById('screen').dataset.screen === '{screen}'"
                  " && document.getElementById('screen').dataset.ready === '1'", timeout_s, f"the {screen} screen")


def accessible(page: Any, what: str) -> None:
    assert page.evaluate(UNLABELLED_JS) == [], f"{what}: controls without a label"
    assert page.evaluate(CONTRAST_JS, 4.5) == [], f"{what}: text under 4.5:1"


def tile(page: Any, zone: str) -> Any:
    return page.locator(f".k-tile[data-zone='{zone}']")


def operator(live: LiveHall) -> dict[str, str]:
    return live.login("op1")


def take_to_guide(page: Any, zone: str, matter: str) -> None:
    tile(page, zone).click()
    on_screen(page, "zone")
    page.click(f".k-matter[data-matter='{matter}']")
    on_screen(page, "guide")


# ---------------------------------------------------------------- taking a ticket

@pytest.mark.parametrize("viewport", [PORTRAIT, LANDSCAPE], ids=["portrait", "landscape"])
def test_a_citizen_takes_a_ticket_for_a_matter(b: Browser, live: LiveHall, viewport: tuple[int, int]) -> None:
    name = "portrait" if viewport == PORTRAIT else "landscape"
    page = open_kiosk(b, live, viewport)
    menu = live.http.get("/api/v1/kiosk/menu", headers={"Authorization": f"Bearer {live.kiosk_token}"}).json()
    a = next(z for z in menu["zones"] if z["code"] == "A")
    assert page.locator(".k-tile").count() == len(menu["zones"])
    assert tile(page, "A").locator(".k-tile-name").inner_text() == a["name"]
    accessible(page, f"{name} home")
    shot(page, f"{name}-1-home")

    # The waiting count follows the stream (a ticket issued elsewhere), no reload.
    page.evaluate("window.__same_page = true")
    before = a["waiting"]
    live.issue("A")
    wait_js(page, f"document.querySelector(\".k-tile[data-zone='A'] [data-role=waiting]\").textContent.includes('{before + 1}')",
            3, "tile A shows the new waiting count")

    tile(page, "A").click()
    on_screen(page, "zone")
    assert page.locator(".k-matter").count() == len(a["matters"]) + 1  # and "not sure: take a ticket"
    accessible(page, f"{name} zone")
    shot(page, f"{name}-2-zone")

    page.click(".k-matter[data-matter='A01']")
    on_screen(page, "guide")
    a01 = a["matters"][0]
    names = page.locator(".k-material-name").all_inner_texts()
    assert names == [m["name"] for m in a01["materials"]]
    tags = page.locator(".k-material .k-tag-orig, .k-material .k-tag-copy").evaluate_all(
        "els => els.map(e => e.classList.contains('k-tag-orig'))")
    assert tags == [m["original"] for m in a01["materials"]]
    facts = page.locator(".k-facts").inner_text()
    assert a01["department"] in facts and a01["fee"] in facts and "1 个工作日内办结" in facts and "承诺件" in facts
    assert page.locator("[data-action=take-priority]").inner_text().startswith("优先取号")
    for sel in ("[data-action=take]", "[data-action=take-priority]", "[data-action=back]", "[data-action=home]"):
        box = page.locator(sel).bounding_box()
        assert box and box["height"] >= 64 and box["width"] >= 64, (sel, box)
    accessible(page, f"{name} guide")
    shot(page, f"{name}-3-guide")

    n = count(live, "A")
    page.click("[data-action=take]")
    on_screen(page, "result")
    assert count(live, "A") == n + 1
    mine = tickets(live, "A")[-1]
    assert mine["matter_id"] is not None and mine["priority"] == "normal"
    number = page.locator("#ticket-number").inner_text()
    assert number == mine["number"]
    result = page.evaluate("kiosk.state.result")
    assert page.locator("#ahead").inner_text() == f"{result['waiting_ahead']} 人" and result["waiting_ahead"] >= 1
    assert page.locator("#est-wait").inner_text().startswith("约 ")
    wait_js(page, "document.getElementById('qr').complete && document.getElementById('qr').naturalWidth > 0", 3,
            "the QR code image loaded")
    assert page.locator("#qr").get_attribute("src") == f"/api/v1/public/tickets/{result['public_token']}/qr.svg"
    assert live.http.get(page.locator("#qr").get_attribute("src")).headers["content-type"] == "image/svg+xml"
    state = page.locator("#print-state").get_attribute("data-state")
    assert state == ("none" if result["print"] is None else result["print"]["state"])
    expected = {"queued": "号票正在打印，请从出票口取走", "unavailable": "打印机暂不可用：请拍照或扫描此二维码",
                "none": "本机不打印号票：请拍照或扫描此二维码"}[state]
    assert page.locator("#print-state").inner_text() == expected
    number_size = page.locator("#ticket-number").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert number_size >= 200
    accessible(page, f"{name} result")
    shot(page, f"{name}-4-result")

    page.click("[data-action=done]")
    on_screen(page, "home")
    assert page.evaluate("window.__same_page") is True
    # The printer: the kiosk shows what the server knows (unreachable in this test hall, or not yet polled).
    printer = live.http.get("/api/v1/kiosk/menu", headers={"Authorization": f"Bearer {live.kiosk_token}"}).json()["printer"]
    if printer["state"] == "unavailable":
        wait_js(page, "!document.getElementById('printer').hidden", 3, "the printer warning")
        assert page.locator("#printer").inner_text().startswith(printer["message"])  # zh-CN: no capitals
        accessible(page, f"{name} home with the printer warning")


def test_a_priority_ticket_is_taken_by_touch(b: Browser, live: LiveHall) -> None:
    page = open_kiosk(b, live)
    tile(page, "A").tap()
    on_screen(page, "zone")
    page.tap(".k-matter[data-matter='']")  # not sure which matter: a ticket for the zone
    on_screen(page, "guide")
    page.tap("[data-action=take-priority]")
    on_screen(page, "result")
    mine = tickets(live, "A")[-1]
    assert mine["priority"] == "priority" and mine["matter_id"] is None
    assert page.locator(".k-badge").inner_text() == "优先"
    shot(page, "priority-result")


# ---------------------------------------------------------------- never two tickets

def test_a_double_tap_takes_one_ticket(b: Browser, live: LiveHall) -> None:
    page = open_kiosk(b, live, query="")  # the real tap guard (300 ms)
    attempts = {
        "dblclick": lambda: page.dblclick("[data-action=take]"),
        "two synchronous clicks": lambda: page.evaluate(
            "() => { const b = document.querySelector('[data-action=take]'); b.click(); b.click(); }"),
    }
    for what, tap in attempts.items():
        take_to_guide(page, "B", "B01")
        n = count(live, "B")
        issued = page.evaluate("kiosk.state.issued")
        try:
            tap()
        except Exception:  # the second tap found the button disabled or gone: that is the point
            pass
        on_screen(page, "result")
        time.sleep(0.3)  # a second request, had one left, would have been answered by now
        assert count(live, "B") == n + 1, what
        assert page.evaluate("kiosk.state.issued") == issued + 1, what
        assert "秒后返回首页" in page.locator("#countdown").inner_text()  # the result screen goes back by itself
        shot(page, f"double-tap-{what.replace(' ', '-')}")
        page.click("[data-action=done]")
        on_screen(page, "home")

    # The network delivers the request twice (a retry after a lost answer): the Idempotency-Key
    # the page sends makes the server answer the second with the same ticket.
    seen: list[dict[str, Any]] = []

    def twice(route: Any) -> None:
        first = route.fetch()
        second = route.fetch()
        seen.append({"key": route.request.headers.get("idempotency-key"), "first": first.json()["id"],
                     "second": second.json()["id"], "replayed": second.headers.get("idempotent-replayed")})
        route.fulfill(response=second)

    page.route("**/api/v1/tickets", twice)
    take_to_guide(page, "B", "B01")
    n = count(live, "B")
    page.click("[data-action=take]")
    on_screen(page, "result")
    page.unroute("**/api/v1/tickets")
    assert count(live, "B") == n + 1
    assert len(seen) == 1 and seen[0]["key"] and seen[0]["first"] == seen[0]["second"] and seen[0]["replayed"] == "true"


# ---------------------------------------------------------------- closed zones, quotas, live layout

def test_closed_and_full_zones_are_shown_greyed_and_new_zones_appear_live(b: Browser, live: LiveHall) -> None:
    op = operator(live)
    page = open_kiosk(b, live, LANDSCAPE)
    page.evaluate("window.__same_page = true")
    assert tile(page, "C").get_attribute("data-state") == "open"
    # Closed by the operator, quota reached: the open kiosk greys them (config.changed), no reload.
    r = live.http.patch("/api/v1/admin/zones/C", json={"enabled": False}, headers=op)
    assert r.status_code == 200, r.text
    live.issue("D")
    r = live.http.patch("/api/v1/admin/zones/D", json={"daily_quota": 1}, headers=op)
    assert r.status_code == 200, r.text
    wait_js(page, "document.querySelector(\".k-tile[data-zone='C']\").dataset.state === 'closed'"
                  " && document.querySelector(\".k-tile[data-zone='D']\").dataset.state === 'quota'", 5,
            "zone C greyed as closed and D as full")
    assert tile(page, "C").locator(".k-tile-reason").inner_text() == "暂停取号"
    assert tile(page, "D").locator(".k-tile-reason").inner_text() == "今日号已取完"
    assert tile(page, "C").get_attribute("aria-disabled") == "true"
    n = count(live, "C")
    tile(page, "C").click(force=True)
    time.sleep(0.4)
    assert page.evaluate("document.getElementById('screen').dataset.screen") == "home" and count(live, "C") == n

    # A zone added by the operator, with a matter, appears.
    r = live.http.post("/api/v1/admin/zones", json={"code": "G", "name": "新增综合窗口区", "prefix": "G"}, headers=op)
    assert r.status_code == 201, r.text
    r = live.http.post("/api/v1/admin/matters", headers=op, json={
        "code": "G01", "zone": "G", "name": "新增测试事项", "case_type": "immediate",
        "materials": [{"name": "申请表", "copies": 2, "original": True}]})
    assert r.status_code == 201, r.text
    wait_js(page, "document.querySelector(\".k-tile[data-zone='G']\") !== null", 5, "the new zone G on the kiosk")
    assert page.evaluate("window.__same_page") is True
    accessible(page, "home with closed and full zones")
    shot(page, "closed-full-and-new-zones")
    take_to_guide(page, "G", "G01")
    assert page.locator(".k-material").inner_text().replace("\n", " ").split() == ["申请表", "原件", "2", "份"]
    page.click("[data-action=take]")
    on_screen(page, "result")
    assert page.locator("#ticket-number").inner_text().startswith("G")
    # Put C back for whoever runs next.
    assert live.http.patch("/api/v1/admin/zones/C", json={"enabled": True}, headers=op).status_code == 200


# ---------------------------------------------------------------- idle timeout

def test_the_idle_timeout_returns_to_the_start(b: Browser, live: LiveHall) -> None:
    page = open_kiosk(b, live, query="&idle=3&guard=50")
    take_to_guide(page, "A", "A02")
    t0 = time.monotonic()
    wait_js(page, "!document.getElementById('idle').hidden", 3, "the idle warning")
    shot(page, "idle-warning")
    page.click("#idle-stay")  # a touch: the time starts again
    t1 = time.monotonic()
    assert page.evaluate("document.getElementById('screen').dataset.screen") == "guide"
    on_screen(page, "home", timeout_s=5)
    assert time.monotonic() - t1 >= 2.5 and time.monotonic() - t0 >= 3


# ---------------------------------------------------------------- keypad flows

def keypad(page: Any, digits: str) -> None:
    for k in digits:
        page.click(f"[data-key='{k}']")
    assert page.locator("#code").inner_text() == digits


def test_appointment_check_in_and_return_visit_through_the_keypad(b: Browser, live: LiveHall) -> None:
    page = open_kiosk(b, live)
    op = operator(live)
    page.click("[data-action=appointment]")
    on_screen(page, "keypad")
    assert page.locator("[data-action=next]").is_disabled()
    # The booking names the zone: the code alone checks in; an unknown code is refused.
    keypad(page, "12345678")
    page.click("[data-action=next]")
    wait_js(page, "document.getElementById('refusal-message') !== null", 5, "the refusal of an unknown code")
    r = live.http.post("/api/v1/tickets", json={"appointment_code": "12345678"},
                       headers={"Authorization": f"Bearer {live.kiosk_token}"})
    assert r.status_code in (404, 409), r.text  # a refusal, not a failure
    assert page.locator("#refusal-message").inner_text() == r.json()["error"]["message"]
    accessible(page, "keypad refusal")
    shot(page, "keypad-appointment-unknown")
    page.click("[data-key=clear]")
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    start = max(now - timedelta(minutes=10), now.replace(hour=0, minute=0)).strftime("%H:%M")
    end = min(now + timedelta(minutes=30), now.replace(hour=23, minute=59)).strftime("%H:%M")
    r = live.http.post("/api/v1/appointments", headers=op,
                       json={"zone": "F", "date": now.date().isoformat(), "start": start, "end": end})
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    keypad(page, code)
    accessible(page, "keypad")
    shot(page, "keypad-appointment")
    page.click("[data-action=next]")
    on_screen(page, "result")
    assert page.locator("#slot").inner_text() == f"预约时段 {start}–{end}"
    mine = tickets(live, "F")[-1]
    assert mine["appointment_code"] == code and page.locator("#ticket-number").inner_text() == mine["number"]
    shot(page, "keypad-appointment-result")
    page.click("[data-action=done]")
    on_screen(page, "home")

    # Return visit: the application number (with a hyphen); zone E runs out of tickets after the
    # menu was read, so the server refuses and the kiosk shows why.
    page.click("[data-action=return]")
    on_screen(page, "keypad")
    keypad(page, "2026-0042")
    page.click("[data-action=next]")
    on_screen(page, "pick")
    live.issue("E")
    with live.prepared.db.write() as conn:  # behind the kiosk's back: no event, its menu is stale
        conn.execute(update(T.zones).where(T.zones.c.code == "E").values(daily_quota=1))
    n = count(live, "E")
    tile(page, "E").click()
    wait_js(page, "document.getElementById('refusal-message') !== null", 5, "the refusal")
    refusal = live.http.post("/api/v1/tickets", json={"zone": "E", "application_number": "2026-0042"},
                             headers={"Authorization": f"Bearer {live.kiosk_token}"}).json()["error"]
    assert refusal["code"] == "quota_reached"
    assert page.locator("#refusal-message").inner_text() == refusal["message"]
    assert count(live, "E") == n
    wait_js(page, "document.querySelector(\".k-tile[data-zone='E']\").dataset.state === 'quota'", 3,
            "the menu read again after the refusal")
    accessible(page, "refusal")
    shot(page, "keypad-return-refused")
    page.click("[data-action=enter-again]")
    on_screen(page, "keypad")
    assert page.locator("#code").inner_text() == "2026-0042"
    page.click("[data-action=next]")
    on_screen(page, "pick")
    tile(page, "F").click()
    on_screen(page, "result")
    mine = tickets(live, "F")[-1]
    assert mine["application_number"] == "2026-0042"
    shot(page, "keypad-return-result")
    assert live.http.patch("/api/v1/admin/zones/E", json={"daily_quota": 999}, headers=op).status_code == 200


# ---------------------------------------------------------------- language

def no_chinese_ui(page: Any, what: str, allowed: tuple[str, ...] = ()) -> None:
    """No visible Chinese text but hall data ([data-content]), the switch back, and `allowed`."""
    keep = json.dumps([LANG_BUTTON_EN, *allowed], ensure_ascii=False)
    wait_js(page, f"({CJK_TEXT_JS})().filter(s => !{keep}.includes(s)).length === 0", 3,
            f"{what}: no interface text in Chinese; still: {page.evaluate(CJK_TEXT_JS)}")


def test_the_language_switch_leaves_no_chinese_interface_text(b: Browser, live: LiveHall) -> None:
    page = open_kiosk(b, live, LANDSCAPE)
    page.click("#lang-slot button")
    wait_js(page, "document.documentElement.lang === 'en'", 2, "English")
    assert page.locator("#screen-title").inner_text() == "What do you need to do today?"
    no_chinese_ui(page, "home")
    shot(page, "en-home")
    take_to_guide(page, "A", "A01")
    no_chinese_ui(page, "guide")
    assert "Photocopy" in page.locator(".k-materials").inner_text()
    accessible(page, "English guide")
    shot(page, "en-guide")
    page.click("[data-action=take]")
    on_screen(page, "result")
    wait_js(page, "document.getElementById('qr').naturalWidth > 0", 3, "the QR code")
    no_chinese_ui(page, "result")
    shot(page, "en-result")
    # The keypad and the zone choice (a return visit), and a refusal: in English too, as the
    # server words it for the page's Accept-Language.
    page.click("[data-action=done]")
    on_screen(page, "home")
    page.click("[data-action=return]")
    on_screen(page, "keypad")
    keypad(page, "1234")
    no_chinese_ui(page, "keypad")
    page.click("[data-action=next]")
    on_screen(page, "pick")
    no_chinese_ui(page, "zone choice")
    shot(page, "en-pick")
    live.issue("E")
    with live.prepared.db.write() as conn:  # full behind the kiosk's back: the server refuses
        conn.execute(update(T.zones).where(T.zones.c.code == "E").values(daily_quota=1))
    tile(page, "E").click()
    wait_js(page, "document.getElementById('refusal-message') !== null", 5, "the refusal")
    zone_e = tile(page, "E").locator(".k-tile-name").inner_text()
    message = page.locator("#refusal-message").inner_text()
    assert message == f"{zone_e} has reached today's quota"  # the server's English, naming the zone
    no_chinese_ui(page, "refusal", allowed=(message,))
    shot(page, "en-refusal")
    assert live.http.patch("/api/v1/admin/zones/E", json={"daily_quota": 999}, headers=operator(live)).status_code == 200
    # Back to Chinese.
    page.click("#lang-slot button")
    wait_js(page, "document.documentElement.lang === 'zh-CN'", 2, "Chinese again")
    assert page.locator("#screen-title").inner_text() == "请选择要回访的业务区域"


def test_the_page_says_so_without_a_token(b: Browser, live: LiveHall) -> None:
    page = b.page(live.base, viewport=PORTRAIT)
    page.goto(f"{live.base}/kiosk?token=not-a-real-token")
    on_screen(page, "notoken")
    assert page.locator("#screen-title").inner_text() == "本机尚未配置取号机令牌，请联系管理员"
    page.evaluate("localStorage.clear()")
