"""The README's first command: `kiosk-server demo` on a fresh data directory, then the kiosk
menu with the printed kiosk token."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_starts_and_serves_the_six_sample_zones(tmp_path: Path):
    port = free_port()
    out = tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
    with out.open("w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "kiosk_server", "demo", "--data-dir", str(tmp_path / "data"),
                                 "--port", str(port)], cwd=tmp_path, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        token = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"K1\s+kiosk\s+(\S+)", out.read_text())
            if m:
                token = m.group(1)
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            assert proc.poll() is None, out.read_text()
            time.sleep(0.2)
        assert token, out.read_text()
        text = out.read_text()
        for account in ("operator", "secadmin", "auditor", "clerk1"):
            assert account in text
        base = f"http://127.0.0.1:{port}"
        # Where to open each page; every printed page answers.
        for page in (f"/kiosk?token={token}", "/clerk", "/display?token=", "/admin"):
            assert base + page in text, page
        for page in ("/kiosk", "/clerk", "/display", "/admin"):
            assert httpx.get(base + page, timeout=5).status_code == 200, page
        # Today's demo bookings check in on the kiosk.
        m = re.search(r"check in on the kiosk[^:]*: (\d{8}) \(A ", text)
        assert m, text
        r = httpx.post(f"{base}/api/v1/appointments/check-in", json={"code": m.group(1)},
                       headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert r.status_code == 201 and r.json()["appointment"]["code"] == m.group(1), r.text
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/kiosk/menu", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert [z["name"] for z in r.json()["zones"]] == ["商事登记区", "不动产登记区", "社保医保区", "公安户政出入境区",
                                                          "税务服务区", "公积金及综合服务区"]
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/tickets", json={"zone": "C"},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201 and r.json()["number"] == "C001"
        # K1's printer P1 prints on the demo's printer simulator, which keeps each slip as a picture
        assert r.json()["print"]["state"] == "queued", r.json()
        previews = tmp_path / "data" / "printer-previews"
        assert str(previews) in text
        deadline = time.monotonic() + 15
        while not (previews / "slip-0001.png").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (previews / "slip-0001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
