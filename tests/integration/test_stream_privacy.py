"""No phone number, ID number or name on the stream or on an LED strip (acceptance 6 of the
hall-screen issue).

A real server (SQLite) and everything a hall shows: a hall-wide screen, a zone-A screen, the
snapshot endpoint, a screen that connects afterwards with `since=0` (the replay from the events
table) and `python -m display_client` driving an LED bus simulator (AA55 protocol) through a
pseudo-terminal. Tickets are issued with a phone number and an ID-like application number; the
clerk at W01 has a full name; the windows call, recall, serve, transfer (the reason naming the
ID number), pause and close. Then every message received and every LED frame decoded (and the
raw bytes on the bus) is scanned: no 11-digit mobile number, no 18-character ID number, none
of the numbers given, no name. A pause reason holding a phone number is refused (422) and so
never shown."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from display_client.led import sign_for
from display_client.led.simulator import LedBus, PtyPort
from kiosk_server.db import tables as T
from tests.support.live import Screen, live_hall

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
PHONE = "13987654321"
ID_NUMBER = "430104199001011234"
CLERK_NAME = "张伟明"
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_18 = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
ADDRESS = {"W01": 101, "W02": 102, "W03": 103, "W04": 104}


def leaks(text: str) -> list[str]:
    found = MOBILE.findall(text) + ID_18.findall(text)
    found += [s for s in (PHONE, ID_NUMBER, ID_NUMBER[-6:] + "X", CLERK_NAME, CLERK_NAME[1:]) if s in text]
    return found


def test_no_personal_data_on_the_stream_or_the_led_strips(tmp_path: Path):
    bus = LedBus(sign_for("aa55"))
    pty = PtyPort(bus)
    client_log = tmp_path / "client.log"
    with live_hall(tmp_path, f"sqlite:///{tmp_path / 'hall.db'}", windows=4) as hall, open(client_log, "wb") as log:
        with hall.prepared.db.write() as conn:  # the clerk at W01 has a full name
            conn.execute(update(T.users).where(T.users.c.username == "clerk_w01").values(display_name=CLERK_NAME))
        argv = [sys.executable, "-m", "display_client", "--server", hall.server.base_url, "--led", pty.url,
                "--protocol", "aa55", "--no-audio"]
        for code, address in ADDRESS.items():
            argv += ["--address", f"{code}={address}"]
        client = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "HALL_DISPLAY_TOKEN": hall.token("S1"), "PYTHONUNBUFFERED": "1"})
        try:
            async def scenario() -> tuple[list[Screen], list[str]]:
                screens = [Screen(hall.ws_url, hall.token("S1"), "hall"),
                           Screen(hall.ws_url + "?zones=A", hall.token("S2"), "zone A")]
                tasks = []
                for s in screens:
                    connected = asyncio.Event()
                    tasks.append(asyncio.create_task(s.run(connected)))
                    await asyncio.wait_for(connected.wait(), 10)
                texts: list[str] = []
                try:
                    texts += await asyncio.to_thread(act, texts)
                    replay = Screen(hall.ws_url + "?since=0", hall.token("S1"), "replay")
                    connected = asyncio.Event()
                    tasks.append(asyncio.create_task(replay.run(connected)))
                    await asyncio.wait_for(connected.wait(), 10)
                    await asyncio.sleep(0.5)
                    return [*screens, replay], texts
                finally:
                    for t in tasks:
                        t.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)

            def act(texts: list[str]) -> list[str]:
                tickets = hall.issue(6, phone=PHONE, application_number=ID_NUMBER)
                texts += [t["number"] for t in tickets]
                called = {code: hall.call_next(code) for code in ADDRESS}
                post = hall.http.post
                assert post("/api/v1/windows/W01/recall", headers=hall.clerks["W01"]).status_code == 200
                w2 = called["W02"]["id"]
                for action in ("start", "finish"):
                    assert post(f"/api/v1/tickets/{w2}/{action}", headers=hall.clerks["W02"]).status_code == 200
                r = post(f"/api/v1/tickets/{called['W03']['id']}/transfer", headers=hall.clerks["W03"],
                         json={"to_zone": "A", "reason": f"身份证 {ID_NUMBER} 需补材料"})
                assert r.status_code == 200, r.text
                for action in ("start", "finish"):
                    r = post(f"/api/v1/tickets/{called['W04']['id']}/{action}", headers=hall.clerks["W04"])
                    assert r.status_code == 200, r.text
                r = post("/api/v1/windows/W04/pause", headers=hall.clerks["W04"], json={"reason": f"回电 {PHONE}"})
                assert r.status_code == 422 and r.json()["error"]["code"] == "personal_data_in_event", r.text
                assert post("/api/v1/windows/W04/pause", headers=hall.clerks["W04"],
                            json={"reason": "午休"}).status_code == 200
                assert post("/api/v1/windows/W02/close", headers=hall.clerks["W02"]).status_code == 200
                for token in ("S1", "S2"):
                    r = hall.http.get("/api/v1/display/snapshot", headers={"Authorization": f"Bearer {hall.token(token)}"})
                    assert r.status_code == 200
                    texts.append(r.text)
                r = hall.http.get(f"/api/v1/public/tickets/{tickets[0]['public_token']}")
                assert r.status_code == 200
                texts.append(r.text)
                return []

            screens, texts = asyncio.run(asyncio.wait_for(scenario(), 60))
            held = hall.current_numbers()
            expected = {101: f"{held['W01']} 请到W01号窗口", 102: "欢迎光临", 103: "W03号窗口", 104: "暂停服务"}
            ok = bus.wait_for(lambda shown: all(shown.get(a) == t for a, t in expected.items()), 20)
            assert ok, f"strips show {bus.shown}, expected {expected}"
        finally:
            client.send_signal(signal.SIGTERM)
            try:
                client.wait(10)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait(5)
            time.sleep(0.1)
            pty.close()

    messages = [raw for s in screens for _t, raw in s.messages]
    kinds = {m.get("type") for s in screens for m in s.decoded()}
    assert {"snapshot", "ticket.issued", "ticket.called", "ticket.recalled", "ticket.served",
            "ticket.transferred", "window.paused", "window.closed"} <= kinds, kinds
    assert len(screens[2].of_type("ticket.issued")) == 6  # the replay holds the whole day
    frames = [f.text for f in bus.history()]
    assert frames and bus.rejected == 0
    wire = bus.wire.decode("gbk", errors="replace")
    scanned = messages + texts + frames + [wire]
    assert all(leaks(f'{{"reason":"{s}"}}') for s in (PHONE, ID_NUMBER, "43010419900101123X", CLERK_NAME))  # the scan sees them
    found = {s[:80]: leaks(s) for s in scanned if leaks(s)}
    assert not found, found
    assert len(messages) > 30 and len(frames) >= 8, (len(messages), len(frames))
