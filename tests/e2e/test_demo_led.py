"""The demo's LED bus view: `kiosk-server demo` prints the URL of a page that shows, per LED
address, what each window's strip displays, and keeps it live as windows open, call and pause.

The demo runs a display client (the hall screen S1's token) that drives an LED bus simulator in
the demo process; the page polls the simulator. Checked over HTTP (status.json) and in a real
browser (Debian chromium through Playwright): the row of window 06 changes without a reload,
and the page speaks zh-CN by default and English with ?lang=en. Loopback only, bounded waits."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SAMPLE_ADDRESSES = {1, 6, 7, 8, 11, 12, 21, 22, 31, 41, 51}  # config.example.toml's led_address values


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def test_demo_shows_each_window_led_strip_live(tmp_path: Path):
    port = free_port()
    out = tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])  # run from tmp_path
    with out.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "kiosk_server", "demo", "--data-dir", str(tmp_path / "data"),
                                 "--port", str(port)], cwd=tmp_path, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=5, trust_env=False) as http:
            def ready() -> str | None:
                assert proc.poll() is None, out.read_text()
                m = re.search(r"LED strips\s+(http://127\.0\.0\.1:\d+/)", out.read_text())
                if m is None:
                    return None
                try:
                    return m.group(1) if http.get(f"{base}/healthz").status_code == 200 else None
                except httpx.HTTPError:
                    return None
            led_url = wait(ready, 60, "the demo up with its LED page")
            kiosk = re.search(r"K1\s+kiosk\s+(\S+)", out.read_text()).group(1)

            def strips() -> dict[int, str | None]:
                st = http.get(led_url + "status.json").json()
                return {int(a): s["text"] for a, s in st["addresses"].items()}

            # Every window of the sample hall is closed: its strip shows the idle text.
            wait(lambda: strips() == {a: "欢迎光临" for a in SAMPLE_ADDRESSES}, 20, "idle texts on every strip")
            st = http.get(led_url + "status.json").json()
            assert st["addresses"]["6"]["label"] == "06 商事登记窗口" and st["links"] == 1 and st["rejected"] == 0

            r = http.post(f"{base}/api/v1/auth/login", json={"username": "clerk1", "password": "Demo-Clerk1-2026"})
            assert r.status_code == 200, r.text
            clerk = {"Authorization": f"Bearer {r.json()['token']}"}
            assert http.post(f"{base}/api/v1/windows/06/open", headers=clerk).status_code == 200
            wait(lambda: strips()[6] == "06号窗口", 5, "window 06 open on its strip")
            r = http.post(f"{base}/api/v1/tickets", json={"zone": "A"}, headers={"Authorization": f"Bearer {kiosk}"})
            assert r.status_code == 201, r.text
            number = r.json()["number"]
            assert http.post(f"{base}/api/v1/windows/06/call-next", headers=clerk).status_code == 200
            wait(lambda: strips()[6] == f"{number} 请到06号窗口", 5, "the call on window 06's strip")

            from playwright import sync_api
            with sync_api.sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(locale="zh-CN")
                    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(led_url)
                               else route.abort())
                    page.goto(led_url, wait_until="load", timeout=10_000)
                    assert page.title() == "窗口 LED 条屏"
                    cell = 'document.querySelector(\'tr[data-address="6"] .led\')'
                    assert page.evaluate(f"{cell}.textContent") == f"{number} 请到06号窗口"
                    assert page.evaluate("document.querySelector('tr[data-address=\"6\"]').children[1].textContent") \
                        == "06 商事登记窗口"
                    assert page.evaluate("document.querySelectorAll('#rows tr[data-address]').length") == \
                        len(SAMPLE_ADDRESSES)
                    page.evaluate("window.notReloaded = true")
                    # The clerk serves the ticket and pauses: the row changes in place.
                    ticket = r.json()["id"]
                    for action in ("start", "finish"):
                        assert http.post(f"{base}/api/v1/tickets/{ticket}/{action}", headers=clerk).status_code == 200
                    r = http.post(f"{base}/api/v1/windows/06/pause", headers=clerk, json={"reason": "午休"})
                    assert r.status_code == 200, r.text
                    page.wait_for_function(f"() => {cell}.textContent === '暂停服务'", timeout=5_000)
                    assert page.evaluate("window.notReloaded === true")
                    assert "已解码" in page.evaluate("document.getElementById('summary').textContent")

                    page.goto(led_url + "?lang=en", wait_until="load", timeout=10_000)
                    assert page.title() == "Window LED strips"
                    assert page.evaluate("document.documentElement.lang") == "en"
                    page.wait_for_function("() => document.getElementById('summary').textContent"
                                           ".includes('frames decoded')", timeout=5_000)
                    assert page.evaluate(f"{cell}.textContent") == "暂停服务"
                finally:
                    browser.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    text = out.read_text()
    assert "Traceback" not in text, text[-3000:]
