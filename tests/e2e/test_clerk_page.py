"""The clerk's window console (/clerk) in Debian's chromium against a real `kiosk-server serve`.

1. Acceptance item 2: clerk_06 signs in and opens window 06 (after the server refused window 07,
   which clerk_07 opened in the meantime: a 409 in plain words), calls the ticket, recalls,
   starts and transfers it to window 07 with a reason; window 07's console (a second page,
   clerk_07) shows it at once as transferred in, calls it next and shows "transferred from 06"
   with the reason. No-show and requeue work from the missed list; recalling past the cap and
   signing out with a ticket still called are refused in the server's words.
2. The console's half of item 5 and basic accessibility at 1366×768: after the language switch
   no Chinese interface text is left (hall data such as names sits in [data-content]), every
   control has a label, text contrast is at least 4.5:1, focus is visible; pause with a reason
   and resume; a reload keeps the session (sessionStorage); sign out closes the window.

Every wait is bounded (Playwright's default of 10 s, shorter where it matters); screenshots go to
test-output/<test>/.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import CJK_TEXT_JS, CONTRAST_JS, UNLABELLED_JS, LiveHall, browser, page_server, shot, wait_js
from tests.support.hall import PASSWORD

pytestmark = pytest.mark.slow

from playwright.sync_api import expect  # noqa: E402  (the [test] extra)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHall]:
    with page_server(tmp_path_factory.mktemp("clerk-hall")) as hall:
        yield hall


def sign_in(page: Any, live: LiveHall, username: str) -> None:
    page.goto(f"{live.base}/clerk")
    page.fill("#login-user", username)
    page.fill("#login-pass", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#view-pick")).to_be_visible()


def open_window(page: Any, code: str) -> None:
    page.click(f'#window-list button[data-code="{code}"]')
    expect(page.locator("#view-console")).to_be_visible()
    expect(page.locator("#conn")).to_have_class("conn conn-online")
    expect(page.locator("#act-call")).to_be_enabled()


def expect_ticket(page: Any, number: str, status: str) -> None:
    expect(page.locator("#tk-body")).to_be_visible()
    expect(page.locator("#tk-number")).to_have_text(number)
    expect(page.locator("#tk-status")).to_have_text(status)


def window_state(live: LiveHall, code: str, headers: dict[str, str]) -> dict[str, Any]:
    r = live.http.get("/api/v1/windows", headers=headers)
    assert r.status_code == 200, r.text
    return next(w for w in r.json() if w["code"] == code)


def test_clerk_calls_recalls_starts_and_transfers_and_window_07_receives_it(live: LiveHall) -> None:
    first, second = live.issue("A"), live.issue("A")
    with browser() as b:
        p6 = b.page(live.base)
        p7 = b.page(live.base)

        # clerk_06 sees window 07 free; clerk_07 opens it first; the server refuses 06's try.
        sign_in(p6, live, "clerk_06")
        expect(p6.locator('#window-list button[data-code="07"]')).to_be_enabled()
        sign_in(p7, live, "clerk_07")
        open_window(p7, "07")
        p6.click('#window-list button[data-code="07"]')
        expect(p6.locator("#pick-msg")).to_have_text("07号窗口已由其他工作人员登录")
        expect(p6.locator('#window-list button[data-code="07"]')).to_be_disabled()  # the list was re-read
        shot(p6, "1-window-taken-409")
        assert p6.evaluate(UNLABELLED_JS) == [] and p6.evaluate(CONTRAST_JS, 4.5) == []
        open_window(p6, "06")
        expect(p6.locator("#bar-window-code")).to_have_text("06号窗口")
        expect(p6.locator('#zone-list [data-zone="A"] .zone-count')).to_have_text("2 人")

        # Call (F1), recall (button), start (F4).
        p6.keyboard.press("F1")
        expect(p6.locator("#tk-number")).to_have_text(first["number"])
        expect(p6.locator("#tk-status")).to_have_text("已叫号")
        expect(p6.locator("#tk-calls")).to_have_text("1")
        expect(p6.locator('#zone-list [data-zone="A"] .zone-count')).to_have_text("1 人")
        for action in ("call", "finish", "pause"):  # not while a ticket is called
            expect(p6.locator(f"#act-{action}")).to_be_disabled()
        p6.click("#act-recall")
        expect(p6.locator("#tk-calls")).to_have_text("2")
        p6.keyboard.press("F4")
        expect(p6.locator("#tk-status")).to_have_text("办理中")
        expect(p6.locator("#act-finish")).to_be_enabled()
        expect(p6.locator("#act-recall")).to_be_disabled()
        wait_js(p6, "/^0:0[1-9]$|^0:[1-5]\\d$/.test(document.getElementById('tk-service').textContent)", 3,
                "the service time counts live")
        shot(p6, "2-serving")

        # Transfer (F5) to window 07 with a reason: the reason is required.
        p6.keyboard.press("F5")
        expect(p6.locator("#dlg-transfer")).to_be_visible()
        p6.select_option("#tr-window", "07")
        p6.click("#tr-submit")
        expect(p6.locator("#tr-msg")).to_have_text("请填写原因。")
        p6.fill("#tr-reason", "需首席代表审核")
        shot(p6, "3-transfer-dialog")
        p6.click("#tr-submit")
        expect(p6.locator("#dlg-transfer")).to_be_hidden()
        expect(p6.locator("#tk-empty")).to_be_visible()
        expect(p6.locator("#notice")).to_have_text(f"{first['number']} 已转移到07号窗口")

        # Window 07's console receives it at once, calls it next and says where it came from.
        row = p7.locator(f'#in-list [data-number="{first["number"]}"]')
        expect(row).to_be_visible(timeout=3000)
        expect(row).to_contain_text("来自06号窗口")
        expect(row).to_contain_text("需首席代表审核")
        expect(p7.locator("#notice")).to_contain_text("由06号窗口转来")
        shot(p7, "4-window-07-transferred-in")
        p7.keyboard.press("F1")
        expect(p7.locator("#tk-number")).to_have_text(first["number"])
        expect(p7.locator("#tk-transfer")).to_contain_text("由06号窗口转来")
        expect(p7.locator("#tk-transfer")).to_contain_text("需首席代表审核")
        expect(p7.locator(f'#in-list [data-number="{first["number"]}"]')).to_have_count(0)
        shot(p7, "5-window-07-calls-it")
        assert p7.evaluate(CONTRAST_JS, 4.5) == []

        # No-show (F3) and requeue from the missed list.
        p6.keyboard.press("F1")
        expect_ticket(p6, second["number"], "已叫号")
        p6.keyboard.press("F3")
        expect(p6.locator("#tk-empty")).to_be_visible()
        missed = p6.locator(f'#missed-list [data-number="{second["number"]}"]')
        expect(missed).to_be_visible()
        shot(p6, "6-missed")
        missed.get_by_role("button", name=f"重新排队 {second['number']}").click()
        expect(missed).to_have_count(0)
        expect(p6.locator("#notice")).to_have_text(f"{second['number']} 已重新排队")
        expect(p6.locator('#zone-list [data-zone="A"] .zone-count')).to_have_text("1 人")

        # Recalling past the cap (3) is refused in the server's words.
        p6.keyboard.press("F1")
        expect_ticket(p6, second["number"], "已叫号")
        for n in (2, 3, 4):
            p6.keyboard.press("F2")
            expect(p6.locator("#tk-calls")).to_have_text(str(n))
        p6.keyboard.press("F2")
        expect(p6.locator("#notice")).to_have_text("已重呼3次，不能再重呼")
        expect(p6.locator("#notice")).to_have_class("notice msg-error")
        shot(p6, "7-recall-cap-409")

        # Today's figures at 06: three calls, one no-show, one transfer out.
        expect(p6.locator("#fig-called")).to_have_text("3")
        expect(p6.locator("#fig-missed")).to_have_text("1")
        expect(p6.locator("#fig-transferred")).to_have_text("1")
        expect(p6.locator("#fig-served")).to_have_text("0")

        # Signing out with a ticket still called: refused (the window cannot close); then it can.
        p6.click("#btn-sign-out")
        expect(p6.locator("#notice")).to_have_text(f"06号窗口还有正在呼叫或办理的号 {second['number']}")
        expect(p6.locator("#view-console")).to_be_visible()
        p6.keyboard.press("F3")
        expect(p6.locator("#tk-empty")).to_be_visible()
        p6.click("#btn-sign-out")
        expect(p6.locator("#login-msg")).to_have_text("已退出登录。")

        # 07 finishes the transferred ticket; its figures count it.
        p7.keyboard.press("F4")
        p7.keyboard.press("F6")
        expect(p7.locator("#tk-empty")).to_be_visible()
        expect(p7.locator("#fig-served")).to_have_text("1")
        expect(p7.locator("#fig-avg")).not_to_have_text("—")
        shot(p7, "8-window-07-finished")

    op = live.login("clerk_07")
    assert window_state(live, "06", op)["state"] == "closed"
    r = live.http.get(f"/api/v1/tickets/{first['id']}", headers=op)
    assert (r.json()["status"], r.json()["window"]["code"]) == ("served", "07")


def test_console_in_english_is_labelled_readable_and_keeps_its_session(live: LiveHall) -> None:
    with browser() as b:
        page = b.page(live.base, viewport=(1366, 768))
        page.goto(f"{live.base}/clerk")
        page.fill("#login-user", "clerk_08")
        page.fill("#login-pass", "wrong-password-1")
        page.click("#login-submit")
        expect(page.locator("#login-msg")).to_have_text("用户名或密码错误")
        sign_in(page, live, "clerk_08")
        open_window(page, "08")
        ticket = live.issue("A")
        expect(page.locator('#zone-list [data-zone="A"] .zone-count')).not_to_have_text("0 人")  # live, no reload
        page.keyboard.press("F1")
        expect(page.locator("#tk-status")).to_have_text("已叫号")
        shot(page, "1-console-zh-1366")

        page.click(".lang-switch")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#act-call .act-label")).to_have_text("Call next")
        expect(page.locator("#act-call kbd")).to_have_text("F1 / Space")
        expect(page.locator("#tk-status")).to_have_text("Called")
        number = page.locator("#tk-number").text_content()
        assert number and number[0] == "A"

        def check_page(what: str) -> None:
            # The switch back names its language in its own script ("中文"), as language switches do.
            back = page.locator(".lang-switch").text_content()
            assert [s for s in page.evaluate(CJK_TEXT_JS) if s != back] == [], f"{what}: Chinese interface text"
            assert page.evaluate(UNLABELLED_JS) == [], f"{what}: unlabelled controls"
            assert page.evaluate(CONTRAST_JS, 4.5) == [], f"{what}: low contrast"

        check_page("console")
        # Keyboard focus is visible.
        page.focus("#act-recall")
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), outline

        # The transfer dialog, in English and labelled.
        page.keyboard.press("F5")
        expect(page.locator("#dlg-transfer")).to_be_visible()
        expect(page.locator("#tr-title")).to_have_text(f"Transfer {number}")
        page.check('input[name="tr-kind"][value="zone"]')
        expect(page.locator("#tr-zone")).to_be_visible()
        check_page("transfer dialog")
        shot(page, "2-transfer-dialog-en-1366")
        page.keyboard.press("Escape")
        expect(page.locator("#dlg-transfer")).to_be_hidden()

        # Finish, then pause with a reason chosen from the common ones, and resume.
        page.keyboard.press("F4")
        expect(page.locator("#tk-status")).to_have_text("In service")
        page.keyboard.press("F6")
        expect(page.locator("#tk-empty")).to_be_visible()
        page.keyboard.press("F7")
        expect(page.locator("#dlg-pause")).to_be_visible()
        check_page("pause dialog")
        page.click('#dlg-pause [data-reason="clerk.reason_lunch"]')
        page.click("#pa-submit")
        expect(page.locator("#paused-banner")).to_be_visible()
        expect(page.locator("#paused-reason")).to_contain_text("Lunch break")
        expect(page.locator("#act-pause-label")).to_have_text("Resume")
        expect(page.locator("#act-call")).to_be_disabled()
        check_page("paused")
        shot(page, "3-paused-en-1366")
        assert window_state(live, "08", live.login("clerk_08"))["pause_reason"] == "Lunch break"
        page.keyboard.press("F7")
        expect(page.locator("#paused-banner")).to_be_hidden()
        expect(page.locator("#act-call")).to_be_enabled()

        # A reload keeps the session and the window.
        page.reload()
        expect(page.locator("#view-console")).to_be_visible()
        expect(page.locator("#act-call .act-label")).to_have_text("Call next")
        expect(page.locator("#fig-served")).to_have_text("1")

        # The session ends elsewhere (here: its token is logged out): the console says so plainly
        # at once (the server closes the stream), and signing in again returns to window 08.
        token = page.evaluate("JSON.parse(sessionStorage.getItem('clerk.session')).token")
        assert live.http.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
        expect(page.locator("#login-msg")).to_have_text(
            "Your session has expired or was signed out elsewhere. Please sign in again.", timeout=5000)
        shot(page, "4-session-ended-en-1366")
        sign_in_to_console = page.locator("#view-console")
        page.fill("#login-user", "clerk_08")
        page.fill("#login-pass", PASSWORD)
        page.click("#login-submit")
        expect(sign_in_to_console).to_be_visible()
        expect(page.locator("#bar-window-code")).to_have_text("Window 08")

        page.click("#btn-sign-out")
        expect(page.locator("#login-msg")).to_have_text("Signed out.")
        assert page.evaluate("sessionStorage.getItem('clerk.session')") is None
        staff = live.login("clerk_07")
        assert window_state(live, "08", staff)["state"] == "closed"

        # Last (it locks sign-in from this address for the rest of the module): the lockout in plain words.
        page.fill("#login-user", "clerk_09")
        for _ in range(6):
            page.fill("#login-pass", "wrong-password-2")
            page.click("#login-submit")
            expect(page.locator("#login-msg")).not_to_be_empty()
            if "locked" in (page.locator("#login-msg").text_content() or ""):
                break
        expect(page.locator("#login-msg")).to_have_text(
            "Too many failed sign-ins: sign-in is locked for now. Try again in 5 min.")
        shot(page, "5-locked-en-1366")
    body = live.http.get(f"/api/v1/tickets/{ticket['id']}", headers=staff).json()
    assert (body["status"], body["window"]["code"]) == ("served", "08")
