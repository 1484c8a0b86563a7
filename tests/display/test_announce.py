import asyncio
import struct
import sys
from array import array
from pathlib import Path

import pytest

from display_client.announce import (
    CHIME_CLIP,
    DEFAULT_FORMAT,
    DEFAULT_PACK,
    Announcer,
    Callout,
    ChimeOnly,
    Clip,
    CommandPlayer,
    PlaybackError,
    VoicePack,
    WavError,
    WavFormat,
    build_wav,
    chime,
    join_wav,
    read_wav,
    silence,
    write_wav,
)
from display_client.voice import make_pack
from tests.display import wire
from tests.display.fakes import FakePlayer


def script(number: str, window: str) -> Callout:
    return Callout(f"请{number}号到{window}号窗口办理", tuple(wire.tokens(number, window)))


async def announce_all(announcer: Announcer, callouts, spacing_s: float = 0.0) -> None:
    runner = asyncio.create_task(announcer.run())
    try:
        for c in callouts:
            announcer.submit(c)
            if spacing_s:
                await asyncio.sleep(spacing_s)
        await asyncio.wait_for(announcer.join(), 20)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


# ---------------------------------------------------------------- the queue

def test_a_burst_of_20_calls_in_one_second_is_announced_in_order_without_overlap():
    pack = VoicePack()
    calls = [script(f"A{i:03d}", f"{6 + i % 3:02d}") for i in range(1, 21)]
    player = FakePlayer()
    announcer = Announcer(pack, player, repeat=2, pause_s=0.01)

    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await announce_all(announcer, calls, spacing_s=0.045)  # 20 calls within 0.9 s
        assert loop.time() - t0 < 20

    asyncio.run(main())
    prelude = write_wav(pack.prelude)
    expected = []
    for c in calls:
        body = write_wav(pack.voice(c.tokens))
        expected += [prelude, body, body]
    assert [wav for _, _, wav in player.plays] == expected  # none dropped, none reordered, repeats honoured
    ends = [end for _, end, _ in player.plays]
    starts = [start for start, _, _ in player.plays]
    assert all(s >= e for s, e in zip(starts[1:], ends[:-1], strict=True)), "plays overlap"
    assert announcer.announced == 20 and announcer.skipped == 0


def test_submitting_never_waits_for_the_player():
    async def main():
        announcer = Announcer(ChimeOnly(), FakePlayer(seconds=0.05), repeat=1)
        runner = asyncio.create_task(announcer.run())
        await asyncio.sleep(0)
        for i in range(200):
            announcer.submit(script(f"B{i:03d}", "11"))
        assert announcer.pending >= 199
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    asyncio.run(main())


def test_repeat_count_and_pause_between_repeats():
    player = FakePlayer(seconds=0.01)
    announcer = Announcer(ChimeOnly(), player, repeat=3, pause_s=0.1)
    asyncio.run(announce_all(announcer, [script("A001", "06")]))
    assert len(player.plays) == 3
    gaps = [b[0] - a[1] for a, b in zip(player.plays, player.plays[1:], strict=False)]
    assert all(g >= 0.09 for g in gaps)
    with pytest.raises(ValueError):
        Announcer(ChimeOnly(), player, repeat=0)


def test_a_call_no_longer_wanted_is_not_played():
    player = FakePlayer()
    current = {"06": "A002"}
    calls = [Callout("a", ("请",), lambda: current["06"] == "A001"),
             Callout("b", ("请",), lambda: current["06"] == "A002")]
    announcer = Announcer(ChimeOnly(), player, repeat=2, pause_s=0.01)
    asyncio.run(announce_all(announcer, calls))
    assert len(player.plays) == 2 and announcer.announced == 1 and announcer.skipped == 1


def test_a_failing_play_does_not_stop_the_queue():
    pack = VoicePack()
    bad = write_wav(pack.voice(wire.tokens("A001", "06")))
    player = FakePlayer(fail_on={bad})
    announcer = Announcer(pack, player, repeat=1)
    asyncio.run(announce_all(announcer, [script("A001", "06"), script("A002", "06")]))
    assert player.plays[-1][2] == write_wav(pack.voice(wire.tokens("A002", "06")))


def test_one_player_task_only():
    async def main():
        announcer = Announcer(ChimeOnly(), FakePlayer())
        runner = asyncio.create_task(announcer.run())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await announcer.run()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    asyncio.run(main())


# ---------------------------------------------------------------- WAV

def riff(fmt: WavFormat, frames: bytes) -> bytes:
    byte_rate = fmt.framerate * fmt.frame_bytes
    return (b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, fmt.channels, fmt.framerate, byte_rate, fmt.frame_bytes, 16)
            + b"data" + struct.pack("<I", len(frames)) + frames)


def test_join_wav_gives_exact_bytes():
    fmt = WavFormat(1, 2, 8000)
    a, b = riff(fmt, b"\x01\x00\x02\x00"), riff(fmt, b"\xff\x7f")
    assert write_wav(Clip(fmt, b"\x01\x00")) == riff(fmt, b"\x01\x00")
    assert join_wav([a, b]) == riff(fmt, b"\x01\x00\x02\x00\xff\x7f")
    assert join_wav([a, b], gap_ms=1) == riff(fmt, b"\x01\x00\x02\x00" + bytes(16) + b"\xff\x7f")


def test_clips_of_different_formats_or_not_pcm16_are_refused(tmp_path: Path):
    with pytest.raises(WavError, match="differ"):
        join_wav([riff(WavFormat(1, 2, 8000), b"\0\0"), riff(WavFormat(1, 2, 16000), b"\0\0")])
    with pytest.raises(WavError):
        read_wav(b"RIFF....not a wav")
    (tmp_path / "请.wav").write_bytes(riff(WavFormat(1, 2, 8000), b"\0\0"))
    (tmp_path / "号.wav").write_bytes(riff(WavFormat(2, 2, 8000), b"\0\0\0\0"))
    with pytest.raises(WavError, match="different formats"):
        VoicePack(tmp_path)
    with pytest.raises(WavError, match=r"no \.wav"):
        VoicePack(tmp_path / "empty")


def test_voice_pack_joins_clips_in_order_and_spells_missing_tokens(tmp_path: Path):
    fmt = WavFormat(1, 2, 8000)
    for i, token in enumerate(["请", "A", "1", "号", "窗", "口"]):
        (tmp_path / f"{token}.wav").write_bytes(riff(fmt, struct.pack("<h", i + 1)))
    pack = VoicePack(tmp_path)
    assert pack.prelude is None and pack.missing(["请", "号窗口", "a", "Z"]) == ["号窗口", "Z"]
    voice = pack.voice(["请", "a", "1", "号窗口", "Z"])  # a → A; 号窗口 spelt 号 窗 口; Z left out
    assert voice.frames == struct.pack("<6h", 1, 2, 3, 4, 5, 6)
    assert pack.render(["Z"]).body == chime(fmt)  # nothing to say: a chime


def test_build_wav_is_prelude_then_the_voice_repeated():
    pack = VoicePack()
    tokens = wire.tokens("A007", "06")
    wav = read_wav(build_wav(tokens, pack, repeat=2, pause_ms=500))
    voice = pack.voice(tokens).frames
    gap = silence(pack.format, 500)
    assert wav.frames == pack.prelude.frames + gap + voice + gap + voice
    only_chime = read_wav(build_wav(tokens, ChimeOnly(), repeat=1))
    assert only_chime.frames == chime().frames


def test_command_player_pipes_the_wav(tmp_path: Path):
    out = tmp_path / "played.wav"
    wav = build_wav(["请"], ChimeOnly())
    save = f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())"
    asyncio.run(CommandPlayer([sys.executable, "-c", save]).play(wav))
    assert out.read_bytes() == wav
    with pytest.raises(PlaybackError, match="exited 3"):
        asyncio.run(CommandPlayer([sys.executable, "-c", "import sys; sys.stdin.buffer.read(); sys.exit(3)"]).play(wav))


# ---------------------------------------------------------------- the default pack

def test_default_voice_pack_has_every_token_small_and_uniform():
    pack = VoicePack(DEFAULT_PACK)
    assert pack.format == DEFAULT_FORMAT == WavFormat(1, 2, 16000)
    assert pack.missing(make_pack.TOKENS) == [] and pack.prelude is not None
    assert set(pack.clips) == set(make_pack.TOKENS)
    files = list(DEFAULT_PACK.glob("*.wav"))
    assert len(files) == len(make_pack.TOKENS) + 1 and {f.stem for f in files} - set(make_pack.TOKENS) == {CHIME_CLIP}
    assert sum(f.stat().st_size for f in files) < 1_500_000
    assert all(0.1 < pack.clip(t).seconds < 2.0 for t in make_pack.TOKENS)
    assert (DEFAULT_PACK / "README.md").is_file()


def test_make_pack_signal_processing():
    assert make_pack.spoken("号窗口") == ("cmn-latn-pinyin", "hao4 chuang1 kou3")
    assert make_pack.spoken("7") == ("cmn-latn-pinyin", "qi1") and make_pack.spoken("B") == ("cmn", "B")
    ramp = array("h", [0] * 100 + [1000, -2000, 3000] + [0] * 100)
    trimmed = make_pack.trim(ramp, 1000)  # 20 ms margin at 1 kHz: 20 samples
    assert list(trimmed) == [0] * 20 + [1000, -2000, 3000] + [0] * 20
    assert len(make_pack.resample(array("h", range(0, 22050, 10)), 22050, 16000)) == 1600
    assert list(make_pack.resample(array("h", [0, 100, 200]), 3, 5)) == [0, 50, 100, 150, 200]
    assert max(make_pack.normalise(array("h", [100, -200]))) == round(0.85 * 32767 / 200 * 100)
