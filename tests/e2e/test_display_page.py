"""The hall-screen page in a real browser against a real server process.

A `kiosk-server serve` process (SQLite, a hall open around the clock with four extra windows
W01-W04, each opened by its own clerk) and headless Chromium (Debian `chromium`, driven by the
`playwright` Python package without its own browser download) showing /display?token=<S1> at
1920×1080. Tickets are issued and called over HTTP as the kiosk and the clerks would.

  1. one call shows on the screen within a second and its announcement is queued; it plays
     through the page's normal audio path (voice-pack clips; timed by the clips when the browser
     cannot play sound);
  2. a burst of 20 calls within about a second (round robin over the four windows, each
     call-next?finish_current=true) is announced 20 times, in call order, never overlapping;
  3. the server is SIGKILLed and restarted, and calls continue right after the restart: the page
     reconnects with `since`, shows every call made meanwhile, announces each of them once and
     none of the old ones again.

Every wait is bounded; all traffic stays on 127.0.0.1 (anything else the page asked for would be
aborted and fail the test). Needs `apt-get install chromium` and `pip install playwright`.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from kiosk_server.services.tickets import announcement
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.hall import window_codes
from tests.support.live import LiveHall, live_hall

pytestmark = pytest.mark.slow

WINDOWS = 4
BURST = 20
AFTER_RESTART = 5
SHOW_WITHIN_MS = 1000

from playwright import sync_api

assert Path("/usr/bin/chromium").exists(), "needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium)"


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[LiveHall]:
    """The sample hall open around the clock with windows W01-W04, each opened by its clerk."""
    with live_hall(tmp_path, f"sqlite:///{tmp_path / 'hall.db'}", windows=WINDOWS) as h:
        yield h


def call(hall: LiveHall, code: str) -> dict[str, Any]:
    return hall.call_next(code, finish_current=True)


def text_of(call: dict[str, Any]) -> str:
    return announcement(call["number"], call["window"]["code"])["text"]


def js(page: Any, expr: str) -> Any:
    return page.evaluate(expr)


def wait_js(page: Any, predicate: str, timeout_s: float, what: str) -> None:
    try:
        page.wait_for_function(f"() => ({predicate})", timeout=timeout_s * 1000, polling=20)
    except sync_api.TimeoutError:
        hd = js(page, "({announced: hallDisplay.announced.length, queue: hallDisplay.queue, playing: hallDisplay.playing,"
                      " connected: hallDisplay.connected, seq: hallDisplay.seq, urls: hallDisplay.urls})")
        pytest.fail(f"not within {timeout_s} s: {what}; page: {hd}")


def assert_no_overlap(log: list[dict[str, Any]]) -> None:
    for a in log:
        assert a["end"] is not None and a["end"] >= a["start"], a
    for a, b in pairwise(log):
        assert a["end"] <= b["start"], f"announcements overlap: {a} and {b}"


def test_display_page_shows_announces_and_survives_a_server_kill(hall: LiveHall, tmp_path: Path) -> None:
    t0 = time.monotonic()
    base = hall.server.base_url
    s1 = hall.prepared.device_tokens["S1"]
    waiting = [t["number"] for t in hall.issue(1 + BURST + AFTER_RESTART + 2)]
    outside: list[str] = []

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")

            def guard(route: Any) -> None:  # loopback only: anything else is recorded and refused
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/display?token={s1}&repeat=1", wait_until="load", timeout=10_000)
            wait_js(page, "window.hallDisplay && hallDisplay.connected && hallDisplay.seq !== null", 5, "first snapshot")
            assert "token" not in page.url, "the device token stays in the address bar"
            assert js(page, "document.querySelectorAll('.win-card').length") >= WINDOWS
            assert js(page, "hallDisplay.announced.length") == 0, "the snapshot announced something"
            # The vendored font is served and used (no CDN, no system font needed).
            page.evaluate("document.fonts.ready")
            page.evaluate("document.fonts.load('700 40px \"Noto Sans SC\"', '叫号')")
            loaded = js(page, "[...document.fonts].filter(f => f.family.includes('Noto Sans SC') && f.status === 'loaded')"
                              ".map(f => f.weight)")
            assert "700" in loaded and "400" in loaded, loaded  # the vendored faces, not a system font

            # 1. One call: on screen within a second, announcement queued, played in order.
            first = call(hall, "W01")
            t_call = time.monotonic()
            number = first["number"]
            wait_js(page, f"document.getElementById('current-number').textContent === {number!r}"
                          f" && document.querySelector('.win-card[data-code=\"W01\"] .w-num').dataset.number === {number!r}",
                    SHOW_WITHIN_MS / 1000, f"call {number} at W01 on screen")
            assert (time.monotonic() - t_call) * 1000 <= SHOW_WITHIN_MS + 100
            assert js(page, "hallDisplay.submitted") == [text_of(first)]
            voice = js(page, "hallDisplay.probeVoice(['请', 'A', '0', '号窗口', '办理', '_chime'])")
            assert all(v["seconds"] and v["seconds"] > 0.1 for v in voice), voice  # clips served and decoded
            wait_js(page, "hallDisplay.log.length === 1 && hallDisplay.log[0].end !== null", 15, "first announcement played")
            first_mode = js(page, "hallDisplay.log[0].mode")
            assert first_mode in ("voice", "silent-clips"), first_mode
            print(f"first announcement: {first_mode}, {js(page, 'hallDisplay.log[0].end - hallDisplay.log[0].start'):.0f} ms")

            # 2. A burst: 20 calls in about a second over four windows, announced in call order.
            page.evaluate("hallDisplay.configure({audio: 'timed', tokenMs: 15})")  # keeps the test short
            burst: list[dict[str, Any]] = []
            t_burst = time.monotonic()
            for i in range(BURST):
                burst.append(call(hall, window_codes(WINDOWS)[i % WINDOWS]))
            burst_s = time.monotonic() - t_burst
            assert burst_s < 2.0, f"the burst took {burst_s:.2f} s"
            wait_js(page, f"hallDisplay.announced.length === {1 + BURST} && !hallDisplay.playing && hallDisplay.queue === 0",
                    15, "the burst announced")
            expected = [text_of(first)] + [text_of(c) for c in burst]
            assert js(page, "hallDisplay.announced") == expected
            log = js(page, "hallDisplay.log")
            assert [e["text"] for e in log] == expected
            assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
            assert_no_overlap(log)
            last_round = {c["window"]["code"]: c["number"] for c in burst[-WINDOWS:]}
            shown = js(page, "Object.fromEntries([...document.querySelectorAll('.win-card')]"
                             ".map(c => [c.dataset.code, c.querySelector('.w-num').dataset.number]))")
            assert {code: shown[code] for code in last_round} == last_round
            page.screenshot(path=str(tmp_path / "display-burst.png"))

            # 3. SIGKILL, restart, calls right after the restart.
            seq_before = js(page, "hallDisplay.seq")
            connects_before = js(page, "hallDisplay.connects")
            hall.server.kill()
            wait_js(page, "!hallDisplay.connected", 5, "the page noticed the server is gone")
            hall.server.start()
            after = [call(hall, window_codes(WINDOWS)[i % WINDOWS]) for i in range(AFTER_RESTART)]
            wait_js(page, f"hallDisplay.connects > {connects_before} && hallDisplay.announced.length === "
                          f"{1 + BURST + AFTER_RESTART} && !hallDisplay.playing", 20, "reconnected and caught up")
            # One more call once the page is live again.
            late = call(hall, "W01")
            wait_js(page, f"hallDisplay.announced.length === {2 + BURST + AFTER_RESTART} && !hallDisplay.playing",
                    5, "a live call after the reconnect")
            urls = js(page, "hallDisplay.urls")
            assert urls[0] == "" and urls[1:] and all(u == f"?since={seq_before}" for u in urls[1:]), urls
            expected += [text_of(c) for c in after] + [text_of(late)]
            announced = js(page, "hallDisplay.announced")
            assert announced == expected
            assert not [t for t, n in Counter(announced).items() if n > 1], "a call was announced twice"
            assert_no_overlap(js(page, "hallDisplay.log"))
            # Every call made meanwhile is on the screen: the current call and the recent list.
            on_screen = js(page, "[document.getElementById('current-number').textContent,"
                                 " ...[...document.querySelectorAll('#recent .num')].map(n => n.firstChild.textContent)]")
            assert on_screen[0] == late["number"]
            assert [c["number"] for c in reversed(after)] == on_screen[1:1 + AFTER_RESTART]
            assert js(page, "hallDisplay.state.calls.map(c => c.number)")[:AFTER_RESTART + 1] == \
                [late["number"]] + [c["number"] for c in reversed(after)]
            assert js(page, "document.getElementById('conn').dataset.state") == "online"
            # A paused window is shown as paused, with its reason; the sample hall's windows are closed.
            held = [c for c in [*burst, *after] if c["window"]["code"] == "W04"][-1]
            for action in ("start", "finish"):
                r = hall.http.post(f"/api/v1/tickets/{held['id']}/{action}", headers=hall.clerks["W04"])
                assert r.status_code == 200, r.text
            r = hall.http.post("/api/v1/windows/W04/pause", headers=hall.clerks["W04"], json={"reason": "午休"})
            assert r.status_code == 200, r.text
            wait_js(page, "document.querySelector('.win-card[data-code=\"W04\"]').dataset.state === 'paused'", 1,
                    "W04 paused on screen")
            assert js(page, "document.querySelector('.win-card[data-code=\"W04\"] .w-reason').textContent") == "午休"
            assert js(page, "document.querySelector('.win-card[data-code=\"01\"]').className") == "win-card state-closed"

            shot = tmp_path / "display.png"
            page.screenshot(path=str(shot), animations="disabled")
            assert not errors, errors
            # English, zone filter: the token now comes from localStorage.
            en = context.new_page()
            en.on("pageerror", lambda e: errors.append(str(e)))
            en.goto(f"{base}/display?lang=en&zones=B", wait_until="load", timeout=10_000)
            wait_js(en, "window.hallDisplay && hallDisplay.connected && hallDisplay.seq !== null", 5, "English page")
            assert js(en, "document.querySelector('.current-label').textContent") == "Now calling"
            assert js(en, "hallDisplay.urls[0]") == "?zones=B"
            assert js(en, "Object.keys(hallDisplay.state.waiting)") == ["B"]
            assert js(en, "hallDisplay.announced.length") == 0
            en.screenshot(path=str(tmp_path / "display-en.png"), animations="disabled")
            assert not errors, errors
        finally:
            browser.close()
    assert not outside, f"the page asked for something outside the server: {outside}"
    assert set(waiting) >= {c["number"] for c in [first, *burst, *after, late]}
    assert time.monotonic() - t0 < 60, f"took {time.monotonic() - t0:.1f} s"
