"""`python -m display_client`: its options, and the whole client as a process."""
import asyncio
import os
import shlex
import signal
import sys
from pathlib import Path

import pytest

from display_client.__main__ import build, parser
from display_client.announce import ChimeOnly, VoicePack, write_wav
from display_client.led import Aa55Sign, StxSign, sign_for
from display_client.led.simulator import LedBus, TcpPort
from tests.display import wire
from tests.display.fakes import TOKEN, FakeHallServer, Session

ROOT = Path(__file__).resolve().parents[2]
PLAYER = "import sys, pathlib, time; d = pathlib.Path(sys.argv[1]); " \
         "(d / f'{time.monotonic_ns()}.wav').write_bytes(sys.stdin.buffer.read())"


def built(*argv: str):
    ap = parser()
    return build(ap.parse_args(["--server", "http://127.0.0.1:1", *argv]), ap)


def test_options_build_the_client(monkeypatch: pytest.MonkeyPatch):
    player = f"{sys.executable} -c pass"
    client, drivers, announcer = built("--token", "t", "--zones", "A,B", "--led", "loop://", "--protocol", "aa55",
                                       "--led", "loop://", "--protocol", "stx", "--address", "VIP=200",
                                       "--player", player, "--repeat", "3")
    assert client.config.zones == ("A", "B") and client.config.token == "t"
    assert [type(d.sign) for d in drivers] == [Aa55Sign, StxSign] and drivers[0].address_of("VIP") == 200
    assert isinstance(announcer.renderer, VoicePack) and announcer.repeat == 3
    _, drivers, announcer = built("--token", "t", "--led", "loop://", "--chime-only", "--player", player)
    assert type(drivers[0].sign) is StxSign and isinstance(announcer.renderer, ChimeOnly)
    monkeypatch.setenv("HALL_DISPLAY_TOKEN", "from-env")
    client, drivers, announcer = built("--no-audio")
    assert client.config.token == "from-env" and drivers == [] and announcer is None


@pytest.mark.parametrize("argv", [
    ["--led", "loop://"],                                                        # no token
    ["--token", "t", "--led", "a", "--led", "b", "--protocol", "stx", "--protocol", "stx", "--protocol", "stx"],
    ["--token", "t", "--player", "no-such-player-here"],
    ["--token", "t", "--address", "06"],
    ["--token", "t", "--protocol", "morse"],
    ["--token", "t", "--no-audio", "--led", "loop://", "--address", "06=300"],
    ["--token", "t", "--repeat", "0", "--player", sys.executable],
    ["--token", "t", "--voice-pack", "/nonexistent", "--player", sys.executable],
    ["--token", "t", "--no-audio", "--server", "ftp://h"],
])
def test_bad_options_are_refused(argv, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.delenv("HALL_DISPLAY_TOKEN", raising=False)
    ap = parser()
    with pytest.raises(SystemExit) as e:
        build(ap.parse_args(["--server", "http://127.0.0.1:1", *argv]), ap)
    assert e.value.code == 2 and "error:" in capsys.readouterr().err


def test_the_client_process_drives_the_strips_and_the_loudspeaker(tmp_path: Path):
    played = tmp_path / "played"
    played.mkdir()
    player = tmp_path / "player.py"
    player.write_text(PLAYER)

    async def hall(s: Session) -> None:
        await s.send(wire.snapshot(1, {"06": ("open", None), "07": ("paused", None)}),
                     wire.called(2, 10, "A007", "06"))
        await s.expect({"type": "snapshot"})  # SIGHUP
        await s.send(wire.snapshot(2, {"06": ("open", "A007"), "07": ("paused", None)},
                                   [wire.called(2, 10, "A007", "06")]))
        s.server.finished.set()
        await s.ws.wait_closed()

    async def main() -> None:
        bus = LedBus(sign_for("aa55"))
        tcp = TcpPort(bus)
        try:
            async with FakeHallServer([hall]) as server:
                play = f"{shlex.quote(sys.executable)} {player} {played}"
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "display_client", "--server", server.url, "--led", tcp.url,
                    "--protocol", "aa55", "--repeat", "1", "--player", play,
                    cwd=ROOT, env={**os.environ, "HALL_DISPLAY_TOKEN": TOKEN},
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
                try:
                    ok = await asyncio.to_thread(bus.wait_for, lambda shown: shown == {6: "A007 请到06号窗口",
                                                                                       7: "暂停服务"}, 15)
                    assert ok, bus.shown
                    while len(list(played.iterdir())) < 2:  # the chime, then the voice once
                        await asyncio.sleep(0.05)
                    proc.send_signal(signal.SIGHUP)
                    await asyncio.wait_for(server.finished.wait(), 10)
                    await asyncio.sleep(0.2)
                    proc.send_signal(signal.SIGTERM)
                    _, err = await asyncio.wait_for(proc.communicate(), 10)
                finally:
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()
                assert proc.returncode == 0, err.decode()
                assert server.received == [{"type": "snapshot"}]
        finally:
            tcp.close()

    asyncio.run(asyncio.wait_for(main(), 60))
    pack = VoicePack()
    clips = sorted(played.iterdir())
    assert len(clips) == 2  # the snapshot after SIGHUP announced nothing
    assert clips[0].read_bytes() == write_wav(pack.prelude)
    assert clips[1].read_bytes() == write_wav(pack.voice(wire.tokens("A007", "06")))
