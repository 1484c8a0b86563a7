"""The operator's administration (/admin) in Debian's chromium against a real `kiosk-server serve`.

One server for the module (SQLite, the sample hall open around the clock, operator op1, a
security administrator sec1 and an auditor aud1) and one browser.

1. Acceptance item 3: op1 signs in (1366×768) and, all through the page, adds zone Q (the page's
   own check and the server's 409 first), its matter Q01 with two materials (reordered) and
   window 61 serving Q then A (reordered). The open kiosk page (/kiosk?token=K1) shows zone Q
   without a reload, and so does a second admin page. The overview shows window 06's number as
   soon as a clerk calls it over HTTP. Deleting a zone with tickets is refused in the server's
   words and the page offers to disable it instead; deleting zone Q (served by 61) shows the
   server's 409 in plain words. Export downloads TOML holding zone Q; importing a broken TOML
   lists every problem with its key path (the file chosen, not pasted). sec1 signs in, sees only accounts, and creates an
   auditor through the page; the auditor signs in, sees only the audit log, and finds the
   zone.create, matter.create and window.create entries (and filters by action).
2. The admin half of the quality bar at 1920×1080: after the language switch no Chinese
   interface text is left in any section or editor (hall data sits in [data-content]), every
   control has a label, text contrast is at least 4.5:1; keyboard use (sign in, navigate, open
   and close an editor with the keyboard); a device's token is shown once, copied, works, and
   stops working when revoked; a holiday is added and listed; the security administrator's and
   the auditor's pages at 1366×768 pass the same checks.

Every wait is bounded (Playwright's default of 10 s, shorter where it matters); screenshots go to
test-output/<test>/.
"""
from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    CJK_TEXT_JS,
    CONTRAST_JS,
    UNLABELLED_JS,
    Browser,
    LiveHall,
    browser,
    page_server,
    shot,
    wait_js,
)
from tests.support.hall import PASSWORD

pytestmark = pytest.mark.slow

from playwright.sync_api import expect  # noqa: E402  (the [test] extra)

SMALL = (1366, 768)
LARGE = (1920, 1080)
AUDITOR_PASSWORD = "Audit-Pass-2031"
BROKEN_TOML = """[hall]
code = "HY"

[[zones]]
code = "Z"
prefix = "zz"
daily_quota = 0
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHall]:
    with page_server(tmp_path_factory.mktemp("admin-hall"), operators=["op1"],
                     accounts={"sec1": "security_admin", "aud1": "auditor"}) as hall:
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


# ---------------------------------------------------------------- helpers

def sign_in(b: Browser, live: LiveHall, username: str, password: str = PASSWORD,
            viewport: tuple[int, int] = SMALL) -> Any:
    page = b.page(live.base, viewport=viewport)
    page.goto(f"{live.base}/admin")
    page.fill("#login-user", username)
    page.fill("#login-pass", password)
    page.click("#login-submit")
    expect(page.locator("#view-app")).to_be_visible()
    return page


def section(page: Any, sid: str) -> None:
    """Open a section from the navigation and wait until it has read its data."""
    page.click(f'#nav-list a[data-section="{sid}"]')
    expect(page.locator(f"#sec-{sid}")).to_be_visible()
    wait_js(page, f"document.body.dataset.loaded === '{sid}'", 5, f"section {sid} loaded")


def editor(page: Any) -> Any:
    dlg = page.locator("#dlg-edit")
    expect(dlg).to_be_visible()
    return dlg


def fill(dlg: Any, name: str, value: str) -> None:
    dlg.locator(f'[name="{name}"]').fill(value)


def saved(page: Any) -> None:
    page.click("#ed-save")
    expect(page.locator("#dlg-edit")).to_be_hidden()


def row(page: Any, sid: str, code: str) -> Any:
    return page.locator(f'#{sid}-body tr[data-code="{code}"]')


def accessible(page: Any, what: str) -> None:
    assert page.evaluate(UNLABELLED_JS) == [], f"{what}: controls without a label"
    assert page.evaluate(CONTRAST_JS, 4.5) == [], f"{what}: text under 4.5:1"


def api_get(live: LiveHall, path: str, headers: dict[str, str]) -> Any:
    r = live.http.get(path, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- 1. acceptance item 3

def test_operator_adds_a_zone_matter_and_window_the_kiosk_shows_it_and_the_audit_log_lists_it(
        b: Browser, live: LiveHall) -> None:
    op = live.login("op1")
    kiosk = b.page(live.base, viewport=LARGE)
    kiosk.goto(f"{live.base}/kiosk?token={live.kiosk_token}")
    expect(kiosk.locator('[data-zone="A"]').first).to_be_visible()
    kiosk.evaluate("window.__sameDocument = true")  # gone if the kiosk reloads
    other = sign_in(b, live, "op1", viewport=LARGE)
    section(other, "zones")

    page = sign_in(b, live, "op1")
    expect(page.locator("#sec-overview")).to_be_visible()
    expect(page.locator("#conn")).to_have_class("conn conn-online")
    expect(page.locator('#ov-windows li[data-code="06"]')).to_be_visible()
    # the security_admin's and the auditor's sections are not offered to an operator
    expect(page.locator('#nav-list a[data-section="users"]')).to_be_hidden()
    expect(page.locator('#nav-list a[data-section="audit"]')).to_be_hidden()
    shot(page, "1-overview")
    accessible(page, "overview")

    # Zone Q: the page's own check, then the server's refusal (prefix A is taken), then saved.
    section(page, "zones")
    page.click("#zone-add")
    dlg = editor(page)
    fill(dlg, "code", "Q")
    fill(dlg, "name", "综合受理区")
    fill(dlg, "prefix", "a")
    fill(dlg, "daily_quota", "0")
    page.click("#ed-save")
    expect(dlg.locator('[data-field="daily_quota"] .field-err')).to_have_text("请输入 1 到 9999 之间的整数。")
    expect(dlg.locator('[name="daily_quota"]')).to_be_focused()
    fill(dlg, "daily_quota", "200")
    fill(dlg, "opening_hours", "8:30-12:00, 13:30-17:30")
    page.click("#ed-save")
    expect(page.locator("#ed-msg")).to_have_text("号码前缀 A 已由服务区 A 使用")
    shot(page, "2-zone-refused-409")
    fill(dlg, "prefix", "q")
    expect(dlg.locator('[name="prefix"]')).to_have_value("Q")
    saved(page)
    expect(page.locator("#zones-msg")).to_have_text("已新增服务区 Q。")
    expect(row(page, "zones", "Q")).to_contain_text("08:30-12:00, 13:30-17:30")
    expect(row(other, "zones", "Q")).to_be_visible(timeout=3000)  # the other admin page, live

    # Matter Q01 with two materials, the second moved up; from the zone's own matters button.
    row(page, "zones", "Q").get_by_role("button", name="查看服务区 Q 的事项").click()
    expect(page.locator("#sec-matters")).to_be_visible()
    expect(page.locator("#matters-zone")).to_have_value("Q")
    page.click("#matter-add")
    dlg = editor(page)
    expect(dlg.locator('[name="zone"]')).to_have_value("Q")
    fill(dlg, "code", "Q01")
    fill(dlg, "name", "综合事项受理")
    fill(dlg, "department", "行政审批服务局")
    fill(dlg, "promised_days", "3")
    fill(dlg, "fee", "免费")
    page.click("#material-add")
    page.click("#ed-save")  # an empty material name is caught in the page
    expect(dlg.locator('#materials-list li[data-index="0"] .field-err')).to_have_text("1: 必填。")
    dlg.locator('#materials-list li[data-index="0"] [data-part="name"]').fill("申请表")
    dlg.locator('#materials-list li[data-index="0"] [data-part="copies"]').fill("2")
    page.click("#material-add")
    second = dlg.locator('#materials-list li[data-index="1"]')
    expect(second.locator('[data-part="name"]')).to_be_focused()
    second.locator('[data-part="name"]').fill("身份证")
    second.locator('[data-part="original"]').select_option("copy")
    second.get_by_role("button", name="材料 2 上移").click()
    expect(dlg.locator('#materials-list li[data-index="0"] [data-part="name"]')).to_have_value("身份证")
    shot(page, "3-matter-editor")
    accessible(page, "matter editor")
    saved(page)
    expect(row(page, "matters", "Q01")).to_contain_text("综合事项受理")
    matter = api_get(live, "/api/v1/admin/matters?zone=Q", op)[0]
    assert matter["materials"] == [{"name": "身份证", "copies": 1, "original": False},
                                   {"name": "申请表", "copies": 2, "original": True}]
    assert (matter["department"], matter["promised_days"], matter["fee"]) == ("行政审批服务局", 3, "免费")

    # Window 61 serving Q first, then A (added the other way round and reordered), LED 61.
    section(page, "windows")
    page.click("#window-add")
    dlg = editor(page)
    fill(dlg, "code", "61")
    fill(dlg, "name", "综合受理窗口")
    fill(dlg, "led_address", "61")
    page.click("#ed-save")
    expect(dlg.locator("#served-err")).to_have_text("请至少添加一个服务区。")
    for zone in ("A", "Q"):
        dlg.locator("#served-add").select_option(zone)
        page.click("#served-add-btn")
    dlg.locator('#served-list li[data-zone="Q"]').get_by_role("button", name="服务区 Q 上移").click()
    expect(dlg.locator("#served-list li").first).to_have_attribute("data-zone", "Q")
    shot(page, "4-window-editor")
    accessible(page, "window editor")
    saved(page)
    expect(row(page, "windows", "61")).to_contain_text("综合受理窗口")
    window = next(w for w in api_get(live, "/api/v1/admin/windows", op) if w["code"] == "61")
    assert (window["zones"], window["led_address"], window["enabled"]) == (["Q", "A"], 61, True)

    # The open kiosk shows the new zone without a reload (config.changed over its own stream).
    tile = kiosk.locator('[data-zone="Q"]').first
    expect(tile).to_be_visible(timeout=5000)
    expect(tile).to_contain_text("综合受理区")
    assert kiosk.evaluate("window.__sameDocument === true"), "the kiosk page was reloaded"
    menu = api_get(live, "/api/v1/kiosk/menu", {"Authorization": f"Bearer {live.kiosk_token}"})
    q = next(z for z in menu["zones"] if z["code"] == "Q")
    assert [m["code"] for m in q["matters"]] == ["Q01"]
    shot(kiosk, "5-kiosk-shows-zone-q")
    expect(row(other, "zones", "Q")).to_contain_text("61")  # the other admin page follows the window too

    # The overview follows a clerk's call made over HTTP.
    section(page, "overview")
    ticket = live.issue("A")
    clerk = live.login("clerk_06")
    assert live.http.post("/api/v1/windows/06/open", headers=clerk).status_code == 200
    called = live.http.post("/api/v1/windows/06/call-next", headers=clerk)
    assert called.status_code == 200 and called.json()["number"] == ticket["number"], called.text
    card = page.locator('#ov-windows li[data-code="06"]')
    expect(card.locator(".win-number")).to_have_text(ticket["number"], timeout=3000)
    expect(card).to_contain_text("已叫号")
    expect(card).to_contain_text("CLERK_06")
    shot(page, "6-overview-live-call")
    live.http.post(f"/api/v1/tickets/{called.json()['id']}/start", headers=clerk)
    expect(card).to_contain_text("办理中", timeout=3000)

    # 409s in plain words: a zone with tickets (the page offers to disable it), a zone still served.
    r = live.http.post("/api/v1/admin/zones", headers=op, json={"code": "R", "name": "临时区", "prefix": "R"})
    assert r.status_code == 201, r.text
    live.issue("R")
    section(page, "zones")
    row(page, "zones", "R").get_by_role("button", name="删除服务区 R").click()
    expect(page.locator("#dlg-confirm")).to_be_visible()
    page.click("#cf-ok")
    expect(page.locator("#cf-title")).to_have_text("不能删除")
    expect(page.locator("#cf-text")).to_have_text("服务区 R 已有号票，不能删除；可将其停用（enabled=false）")
    expect(page.locator("#cf-ok")).to_have_text("改为停用")
    shot(page, "7-zone-in-use-409")
    page.click("#cf-ok")
    expect(page.locator("#dlg-confirm")).to_be_hidden()
    expect(page.locator("#zones-msg")).to_have_text("服务区 R 已停用。")
    expect(row(page, "zones", "R")).to_contain_text("停用")
    row(page, "zones", "Q").get_by_role("button", name="删除服务区 Q").click()
    page.click("#cf-ok")
    expect(page.locator("#cf-msg")).to_have_text("服务区 Q 仍由窗口 61 办理，请先从这些窗口中移除")
    accessible(page, "refusal")
    page.keyboard.press("Escape")
    expect(page.locator("#dlg-confirm")).to_be_hidden()
    expect(row(page, "zones", "Q")).to_be_visible()

    # Export downloads the layout with zone Q; a broken import lists every problem by key path.
    section(page, "layout")
    with page.expect_download(timeout=5000) as download:
        page.click("#export-btn")
    assert download.value.suggested_filename == "hall-HY-layout.toml"
    exported = tomllib.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    zone_q = next(z for z in exported["zones"] if z["code"] == "Q")
    assert zone_q["name"] == "综合受理区" and [m["code"] for m in zone_q["matters"]] == ["Q01"]
    assert next(w for w in exported["windows"] if w["code"] == "61")["zones"] == ["Q", "A"]
    page.set_input_files("#import-file", files=[{"name": "broken.toml", "mimeType": "application/toml",
                                                  "buffer": BROKEN_TOML.encode()}])
    expect(page.locator("#import-text")).to_have_value(BROKEN_TOML)
    expect(page.locator("#import-file-name")).to_have_text("broken.toml")
    page.click("#import-btn")
    page.click("#cf-ok")
    problems = page.locator("#import-result tr[data-path]")
    expect(page.locator("#import-msg")).to_have_text("配置有 4 处问题，未作任何修改")
    paths = problems.evaluate_all("rows => rows.map(r => r.dataset.path)")
    assert {"hall.name", "zones.0.name", "zones.0.prefix", "zones.0.daily_quota"} <= set(paths), paths
    expect(page.locator('#import-result tr[data-path="zones.0.prefix"]')).to_contain_text("zones.0.prefix")
    shot(page, "8-import-problems")
    accessible(page, "import problems")
    assert "Z" not in [z["code"] for z in api_get(live, "/api/v1/admin/zones", op)]

    # The security administrator sees accounts only, and creates an auditor through the page.
    sec = sign_in(b, live, "sec1")
    expect(sec.locator("#sec-users")).to_be_visible()
    visible = sec.locator("#nav-list a:visible").evaluate_all("links => links.map(a => a.dataset.section)")
    assert visible == ["users"]
    wait_js(sec, "document.body.dataset.loaded === 'users'", 5, "accounts listed")
    sec.click("#user-add")
    dlg = editor(sec)
    fill(dlg, "username", "auditor1")
    fill(dlg, "display_name", "审计员")
    fill(dlg, "password", "short")
    fill(dlg, "password2", "short")
    sec.click("#ed-save")
    expect(dlg.locator('[data-field="password"] .field-err')).to_contain_text("至少 10 位")
    fill(dlg, "password", AUDITOR_PASSWORD)
    fill(dlg, "password2", AUDITOR_PASSWORD)
    dlg.get_by_label("审计管理员").check()
    shot(sec, "9-security-admin-new-auditor")
    accessible(sec, "account editor")
    saved(sec)
    expect(sec.locator('#users-body tr[data-username="auditor1"]')).to_contain_text("审计管理员")

    # The auditor sees the audit log only, with the three changes; a filter narrows it.
    aud = sign_in(b, live, "auditor1", AUDITOR_PASSWORD, viewport=LARGE)
    expect(aud.locator("#sec-audit")).to_be_visible()
    visible = aud.locator("#nav-list a:visible").evaluate_all("links => links.map(a => a.dataset.section)")
    assert visible == ["audit"]
    wait_js(aud, "document.body.dataset.loaded === 'audit'", 5, "audit log listed")
    for action, code in (("zone.create", "Q"), ("matter.create", "Q01"), ("window.create", "61")):
        entry = aud.locator(f'#audit-body tr[data-action="{action}"][data-object="{code}"]')
        expect(entry).to_have_count(1)
        expect(entry).to_contain_text("op1")
    shot(aud, "10-audit-log")
    accessible(aud, "audit log")
    aud.fill("#audit-action", "window.")
    aud.keyboard.press("Enter")
    expect(aud.locator('#audit-body tr[data-action="zone.create"]')).to_have_count(0)
    actions = aud.locator("#audit-body tr[data-action]").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions and all(a.startswith("window.") for a in actions), actions
    assert aud.url.endswith("#audit?action=window.")
    shot(aud, "11-audit-filtered")


# ---------------------------------------------------------------- 2. English, labels, contrast, keyboard

def test_admin_in_english_is_labelled_readable_and_usable_by_keyboard(b: Browser, live: LiveHall) -> None:
    page = b.page(live.base, viewport=LARGE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.base)
    page.goto(f"{live.base}/admin")
    page.click(".lang-switch")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#login-title")).to_have_text("Administrator sign in")

    # Sign in with the keyboard alone.
    page.focus("#login-user")
    page.keyboard.type("op1")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#sec-overview")).to_be_visible()
    wait_js(page, "document.body.dataset.loaded === 'overview'", 5, "overview loaded")

    def check_page(what: str) -> None:
        back = page.locator(".lang-switch").text_content()
        assert [s for s in page.evaluate(CJK_TEXT_JS) if s != back] == [], f"{what}: Chinese interface text"
        accessible(page, what)

    check_page("overview")
    shot(page, "1-overview-en")
    for sid in ("zones", "matters", "windows", "printers", "devices", "holidays", "layout"):
        section(page, sid)
        check_page(sid)
    shot(page, "2-layout-en")

    # Keyboard: a navigation link, Enter, the heading takes focus; an editor opens and Escape closes it.
    page.focus('#nav-list a[data-section="zones"]')
    page.keyboard.press("Enter")
    expect(page.locator("#h-zones")).to_be_focused()
    wait_js(page, "document.body.dataset.loaded === 'zones'", 5, "zones loaded")
    page.focus("#zone-add")
    page.keyboard.press("Enter")
    dlg = editor(page)
    expect(dlg.locator('[name="code"]')).to_be_focused()
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "focus is visible"
    check_page("zone editor")
    page.keyboard.press("Escape")
    expect(dlg).to_be_hidden()

    for sid, button, what in (("matters", "#matter-add", "matter editor"), ("windows", "#window-add", "window editor"),
                              ("printers", "#printer-add", "printer editor")):
        section(page, sid)
        page.click(button)
        dlg = editor(page)
        if sid == "matters":
            page.click("#material-add")
            dlg.locator('[name="case_type"]').select_option("joint")
        if sid == "windows":
            dlg.locator("#served-add").select_option("A")
            page.click("#served-add-btn")
        if sid == "printers":
            dlg.locator('[name="transport"]').select_option("serial")
        check_page(what)
        shot(page, f"3-{sid}-editor-en")
        page.click("#ed-cancel")
        expect(dlg).to_be_hidden()

    # A new kiosk: its token is shown once, copied, works; revoked, it no longer does.
    section(page, "devices")
    page.click("#device-add")
    dlg = editor(page)
    fill(dlg, "code", "K9")
    fill(dlg, "name", "Second floor kiosk")
    dlg.locator('[name="printer"]').select_option("P1")
    check_page("device editor")
    page.click("#ed-save")
    expect(page.locator("#dlg-token")).to_be_visible()
    token = page.locator("#tk-value").input_value()
    assert len(token) >= 32
    expect(page.locator("#tk-url")).to_have_value(f"{live.base}/kiosk?token={token}")
    page.click("#tk-copy")
    expect(page.locator("#tk-msg")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    check_page("token dialog")
    shot(page, "4-token-once-en")
    page.click("#tk-close")
    expect(page.locator("#dlg-token")).to_be_hidden()
    assert page.locator("#tk-value").input_value() == "", "the token is gone from the page once closed"
    kiosk_auth = {"Authorization": f"Bearer {token}"}
    assert live.http.get("/api/v1/kiosk/menu", headers=kiosk_auth).status_code == 200
    expect(row(page, "devices", "K9")).to_contain_text("Active")
    row(page, "devices", "K9").get_by_role("button", name="Revoke the token of device K9").click()
    page.click("#cf-ok")
    expect(page.locator("#devices-msg")).to_have_text("The token of device K9 is revoked.")
    expect(row(page, "devices", "K9")).to_contain_text("Revoked")
    assert live.http.get("/api/v1/kiosk/menu", headers=kiosk_auth).status_code == 401

    # A make-up workday, listed under its month.
    section(page, "holidays")
    page.click("#holiday-add")
    dlg = editor(page)
    fill(dlg, "date", "2030-10-12")
    dlg.locator('[name="kind"]').select_option("workday")
    fill(dlg, "name", "National Day make-up")
    check_page("holiday editor")
    saved(page)
    day = page.locator('#holidays-body li[data-date="2030-10-12"]')
    expect(day).to_contain_text("Workday")
    expect(page.locator("#year-label")).to_have_text("2030")
    check_page("holidays listed")
    shot(page, "5-holidays-en")

    # Signing out returns to the sign-in form, in English still, and leaves nothing behind.
    page.click("#btn-sign-out")
    expect(page.locator("#login-msg")).to_have_text("Signed out.")
    assert page.evaluate("sessionStorage.getItem('admin.session')") is None
    assert page.locator("#holidays-body").inner_html() == ""

    # The security administrator's and the auditor's pages in English (1366×768), with ?lang=en.
    for username, sid, add in (("sec1", "users", "#user-add"), ("aud1", "audit", None)):
        page = b.page(live.base, viewport=SMALL)
        page.goto(f"{live.base}/admin?lang=en")
        page.fill("#login-user", username)
        page.fill("#login-pass", PASSWORD)
        page.click("#login-submit")
        expect(page.locator(f"#sec-{sid}")).to_be_visible()
        wait_js(page, f"document.body.dataset.loaded === '{sid}'", 5, f"{sid} loaded")
        check_page(sid)
        shot(page, f"6-{sid}-en-1366")
        if add:
            page.click(add)
            editor(page)
            check_page(f"{sid} editor")
            page.keyboard.press("Escape")
            expect(page.locator("#dlg-edit")).to_be_hidden()
