"""A real browser for page tests: Debian's chromium driven by the `playwright` package (never a
downloaded browser), plus a real `kiosk-server serve` process with a hall that is open around
the clock, a clerk account per window and an operator.

    with page_server(tmp_path, operators=["op1"]) as live:      # LiveHall
        with browser() as b:
            page = b.page(live.base, viewport=(1080, 1920))    # loopback only: anything else is aborted
            page.goto(f"{live.base}/kiosk?token={live.kiosk_token}")
            ...
            shot(page, "kiosk-portrait")                        # test-output/<test name>/kiosk-portrait.png

Screenshots go to `test-output/` at the top of the repository (ignored by git; CI keeps it as the
test output). Every wait is bounded.
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hall import (
    PASSWORD,
    PreparedHall,
    add_clerks,
    import_config,
    prepare,
    use_cheap_password_hashes,
    write_load_config,
)
from tests.support.server import ROOT, ServerProcess, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
OUTPUT = Path(os.environ.get("HALL_TEST_OUTPUT", ROOT / "test-output"))

# The sample hall's windows (config.example.toml) and the zones they serve, as the tests use them.
SAMPLE_WINDOWS = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12")


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as test-output/<current test>/<name>.png and return its path."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "test").split(" ")[0]
    folder = OUTPUT / re.sub(r"[^A-Za-z0-9_.-]+", "_", test.split("::")[-1])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def wait_js(page: Any, predicate: str, timeout_s: float, what: str) -> None:
    """Wait until the JS expression is truthy, or fail the test saying what did not happen."""
    from playwright.sync_api import TimeoutError as PwTimeout
    try:
        page.wait_for_function(f"() => ({predicate})", timeout=timeout_s * 1000, polling=25)
    except PwTimeout:
        pytest.fail(f"not within {timeout_s} s: {what}; url {page.url}")


@dataclass
class Browser:
    pw_browser: Any
    outside: list[str] = field(default_factory=list)   # requests the pages made outside the server
    errors: list[str] = field(default_factory=list)    # uncaught page errors

    def page(self, base: str, *, viewport: tuple[int, int] = (1920, 1080), locale: str = "zh-CN") -> Any:
        context = self.pw_browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale=locale,
                                              has_touch=True)

        def guard(route: Any) -> None:
            if route.request.url.startswith(base) or route.request.url.startswith(base.replace("http", "ws", 1)):
                route.continue_()
            else:
                self.outside.append(route.request.url)
                route.abort()
        context.route("**/*", guard)
        page = context.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.set_default_timeout(10_000)
        return page


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    from playwright import sync_api
    assert CHROMIUM.exists(), "needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium)"
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        wrapper = Browser(b)
        try:
            yield wrapper
        finally:
            b.close()
    assert not wrapper.outside, f"a page asked for something outside the server: {wrapper.outside}"
    assert not wrapper.errors, f"uncaught errors in a page: {wrapper.errors}"


@dataclass
class LiveHall:
    prepared: PreparedHall
    server: ServerProcess
    http: httpx.Client
    clerks: dict[str, str]          # window code -> clerk user name (password PASSWORD)
    operators: list[str]

    @property
    def base(self) -> str:
        return self.server.base_url

    @property
    def kiosk_token(self) -> str:
        return self.prepared.device_tokens["K1"]

    @property
    def display_token(self) -> str:
        return self.prepared.device_tokens["S1"]

    def login(self, username: str) -> dict[str, str]:
        r = self.http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def issue(self, zone: str, matter: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"zone": zone}
        if matter:
            body["matter"] = matter
        r = self.http.post("/api/v1/tickets", json=body, headers={"Authorization": f"Bearer {self.kiosk_token}"})
        assert r.status_code == 201, r.text
        return dict(r.json())


def _add_accounts(prepared: PreparedHall, usernames: list[str], role: str) -> None:
    from sqlalchemy import update

    from kiosk_server.db import tables as T
    add_clerks(prepared, usernames)
    if role != "clerk":
        with prepared.db.write() as conn:
            conn.execute(update(T.users).where(T.users.c.username.in_(usernames)).values(roles=[role]))


@contextlib.contextmanager
def page_server(tmp_path: Path, *, operators: list[str] | None = None, windows: int = 0,
                accounts: dict[str, str] | None = None) -> Iterator[LiveHall]:
    """`kiosk-server serve` on SQLite with the sample hall open every day around the clock, a
    clerk `clerk_<code>` for each sample window (and `windows` extra windows W01…), operators, and
    `accounts` {username: role} (security_admin, auditor …), all with password PASSWORD."""
    url = f"sqlite:///{tmp_path / 'hall.db'}"
    prepared = prepare(url)
    port = free_port()
    config = write_load_config(tmp_path / "hall.toml", url, port, windows=windows, zones=("A", "B"))
    import_config(prepared, config)
    clerks = {code: f"clerk_{code.lower()}" for code in SAMPLE_WINDOWS}
    _add_accounts(prepared, list(clerks.values()), "clerk")
    ops = list(operators or [])
    if ops:
        _add_accounts(prepared, ops, "operator")
    for username, role in (accounts or {}).items():
        _add_accounts(prepared, [username], role)
    use_cheap_password_hashes(prepared)
    server = ServerProcess(config, prepared.env, port=port, log_file=tmp_path / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10.0, trust_env=False) as http:
            yield LiveHall(prepared, server, http, clerks, ops)
    finally:
        server.stop()
        prepared.db.dispose()


# Contrast of every visible text element against its effective background (WCAG 2 relative
# luminance). Returns [{text, ratio, fg, bg, size, bold}] for the elements under `min_ratio`.
CONTRAST_JS = r"""
(minRatio) => {
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(',').map(s => parseFloat(s)); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = ({r, g, b}) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const blend = (top, under) => ({r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
                                  b: top.b * top.a + under.b * (1 - top.a), a: 1});
  const background = (el) => { const layers = []; for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor); if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; } }
    let bg = {r: 255, g: 255, b: 255, a: 1}; for (const c of layers.reverse()) bg = blend(c, bg); return bg; };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const r = el.getBoundingClientRect(); const st = getComputedStyle(el);
    if (!r.width || !r.height || st.visibility === 'hidden' || st.display === 'none' || parseFloat(st.opacity) === 0) continue;
    const bg = background(el); const fg = blend(parse(st.color), bg);
    const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    if (ratio < minRatio) bad.push({text: el.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100,
                                    fg: st.color, bg: `rgb(${bg.r|0},${bg.g|0},${bg.b|0})`, size: st.fontSize});
  }
  return bad;
}
"""

# Controls without an accessible name: buttons, links, inputs, selects, textareas, [role=button].
UNLABELLED_JS = r"""
() => {
  const named = (el) => {
    if ((el.getAttribute('aria-label') || '').trim()) return true;
    const by = el.getAttribute('aria-labelledby');
    if (by && by.split(/\s+/).some(id => (document.getElementById(id)?.textContent || '').trim())) return true;
    if (el.labels && [...el.labels].some(l => l.textContent.trim())) return true;
    if (['BUTTON', 'A'].includes(el.tagName) || el.getAttribute('role') === 'button') return !!el.textContent.trim();
    if ((el.getAttribute('title') || '').trim()) return true;
    return false;
  };
  return [...document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, [role=button]')]
    .filter(el => { const r = el.getBoundingClientRect(); return r.width && r.height; })
    .filter(el => !named(el)).map(el => el.outerHTML.slice(0, 120));
}
"""

# Visible text containing CJK characters (for the language switch test); hall data such as zone and
# matter names sits inside [data-content] and is skipped: it is content, not interface text.
CJK_TEXT_JS = r"""
() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const s = n.textContent.trim(); if (!s || !/[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]/.test(s)) continue;
    const el = n.parentElement; if (el.closest('[data-content]')) continue;  // hall data (names), not UI text
    const r = el.getBoundingClientRect(); const st = getComputedStyle(el);
    if (!r.width || !r.height || st.visibility === 'hidden') continue;
    out.push(s.slice(0, 60));
  }
  return out;
}
"""
