"""`python -m display_client` against a real server process that is SIGKILLed and restarted
while the windows keep calling (acceptance 2 of the hall-screen issue, the Python client's half).

A hall served by `kiosk-server serve` (SQLite), eight windows W01-W08 opened by their clerks,
the client process with the hall-wide screen token S1 driving an LED bus simulator over
`socket://` (STX protocol, W01-W08 at addresses 101-108) and playing its announcements through
a player command that keeps every WAV it is given. A caller thread makes one call at each
window in turn; after the third the whole server is SIGKILLed and started again, and the
caller just retries until it is back. In the end:
  * every window's strip shows the ticket the server says the window holds;
  * the announcements are exactly the calls in the events table, in seq order, each once
    (chime + voice), so no call was missed and none was announced twice;
  * no strip was sent the same call twice;
  * the client reconnected with `since` (a replay), not a fresh snapshot.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from display_client.announce import VoicePack, write_wav
from display_client.led import sign_for
from display_client.led.simulator import LedBus, TcpPort
from tests.support.hall import window_codes
from tests.support.live import LiveHall, live_hall

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = 8
KILL_AFTER = 3
CALL_GAP_S = 0.1
ADDRESS = {code: 100 + i for i, code in enumerate(window_codes(WINDOWS), start=1)}
PLAYER = ("import sys, pathlib, time; d = pathlib.Path(sys.argv[1]); "
          "(d / f'{time.monotonic_ns()}.wav').write_bytes(sys.stdin.buffer.read())")


def led_text(number: str, code: str) -> str:
    return f"{number} 请到{code}号窗口"


def tokens(number: str, code: str) -> list[str]:
    return ["请", *number, "号", "到", *code, "号窗口", "办理"]


class Caller(threading.Thread):
    """One call at every window in turn; a call that got no answer (the server is down) is
    retried until the server answers. A retry answered 409 window_busy means the lost call had
    committed: the window holds it."""

    def __init__(self, hall: LiveHall) -> None:
        super().__init__(daemon=True, name="caller")
        self.hall = hall
        self.acked = 0
        self.retries = 0
        self.errors: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.hall.server.base_url, timeout=5.0, trust_env=False) as http:
            for code in self.hall.windows:
                deadline = time.monotonic() + 40
                lost = False
                while time.monotonic() < deadline:
                    try:
                        r = http.post(f"/api/v1/windows/{code}/call-next", headers=self.hall.clerks[code])
                    except httpx.TransportError:
                        lost, self.retries = True, self.retries + 1
                        time.sleep(0.1)
                        continue
                    if r.status_code == 200 or (lost and r.status_code == 409 and "window_busy" in r.text):
                        break
                    self.errors.append(f"{code}: {r.status_code} {r.text[:200]}")
                    return
                else:
                    self.errors.append(f"{code}: no answer for 40 s")
                    return
                self.acked += 1
                time.sleep(CALL_GAP_S)


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_python_client_catches_up_after_a_server_kill_without_repeating_a_call(tmp_path: Path):
    played = tmp_path / "played"
    played.mkdir()
    (tmp_path / "player.py").write_text(PLAYER)
    bus = LedBus(sign_for("stx"))
    tcp = TcpPort(bus)
    client_log = tmp_path / "client.log"
    with live_hall(tmp_path, f"sqlite:///{tmp_path / 'hall.db'}", windows=WINDOWS) as hall, \
            open(client_log, "wb") as log:
        hall.issue(WINDOWS)
        argv = [sys.executable, "-m", "display_client", "--server", hall.server.base_url,
                "--led", tcp.url, "--protocol", "stx", "--repeat", "1", "--pause", "0",
                "--player", f"{sys.executable} {tmp_path / 'player.py'} {played}"]
        for code, address in ADDRESS.items():
            argv += ["--address", f"{code}={address}"]
        client = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "HALL_DISPLAY_TOKEN": hall.token("S1"), "PYTHONUNBUFFERED": "1"})
        try:
            idle = {a: f"{code}号窗口" for code, a in ADDRESS.items()}
            assert bus.wait_for(lambda shown: all(shown.get(a) == t for a, t in idle.items()), 15), bus.shown

            caller = Caller(hall)
            caller.start()
            wait(lambda: caller.acked >= KILL_AFTER or caller.errors, 15, f"{KILL_AFTER} calls")
            hall.server.kill()          # SIGKILL, as a power cut: the client loses its stream
            time.sleep(0.3)
            hall.server.start()         # the caller keeps retrying meanwhile
            caller.join(60)
            assert not caller.is_alive() and not caller.errors and caller.acked == WINDOWS, caller.errors

            held = hall.current_numbers()
            expected = {ADDRESS[code]: led_text(held[code], code) for code in ADDRESS}
            ok = bus.wait_for(lambda shown: all(shown.get(a) == t for a, t in expected.items()), 30)
            assert ok, f"strips show {bus.shown}, expected {expected}\n{client_log.read_text()[-3000:]}"

            calls = hall.events("ticket.called")
            assert [c["window"]["code"] for c in calls] == hall.windows  # one call per window, in call order
            wait(lambda: len(list(played.iterdir())) >= 2 * len(calls), 20, "every call announced")
            time.sleep(0.5)  # nothing more may come
        finally:
            client.send_signal(signal.SIGTERM)
            try:
                client.wait(10)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait(5)
            tcp.close()

    assert client.returncode == 0, client_log.read_text()[-3000:]
    # Announcements: exactly the calls, in seq order, each once (the chime, then the voice).
    pack = VoicePack()
    clips = [p.read_bytes() for p in sorted(played.iterdir(), key=lambda p: int(p.stem))]
    voices = [write_wav(pack.voice(tokens(c["ticket"]["number"], c["window"]["code"]))) for c in calls]
    assert len(clips) == 2 * len(calls), f"{len(clips)} clips for {len(calls)} calls"
    assert all(c == write_wav(pack.prelude) for c in clips[0::2])
    assert clips[1::2] == voices, "announcements missing, repeated or out of order"
    # The strips: each call sent once (the idle text before it), nothing re-sent after the reconnect.
    for code, address in ADDRESS.items():
        texts = [f.text for f in bus.history(address)]
        assert texts == [f"{code}号窗口", expected[address]], (code, texts)
    assert bus.rejected == 0
    # The client reconnected and resumed with `since`, after the events it had applied.
    connects = re.findall(r"connected to (\S+)", client_log.read_text())
    assert len(connects) >= 2 and "since=" not in connects[0], connects
    since = [int(m.group(1)) for url in connects[1:] if (m := re.search(r"since=(\d+)", url))]
    assert len(since) == len(connects) - 1, connects
    assert since[0] < calls[KILL_AFTER]["seq"], (since, calls[KILL_AFTER]["seq"])  # the later calls came as a replay or live
