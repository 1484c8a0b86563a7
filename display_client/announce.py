"""Spoken calls: a token script (请 / A / 0 / 0 / 7 / 号 / 到 / 0 / 6 / 号窗口 / 办理) becomes audio,
and an announcement queue plays the calls one after another.

Rendering backends (`Renderer`): a voice pack (a folder of WAV clips, one per token, joined in
order with the stdlib `wave` module) or chime-only. Playing (`Player`) is separate: the
`CommandPlayer` pipes the WAV to a command (`aplay -q -` by default).

The `Announcer` holds an unbounded FIFO and one player task: a burst of calls is never dropped or
reordered, and two announcements never overlap. Each plays its prelude (the pack's chime) once,
then the voice `repeat` times with a pause between. A callout may carry a `still_wanted` check,
asked before each play: a call whose ticket has left the window meanwhile is not announced.

`build_wav()` joins a whole announcement into one WAV (for the server to serve).
"""
from __future__ import annotations

import asyncio
import io
import logging
import math
import unicodedata
import wave
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger("display_client.announce")

DEFAULT_PACK = Path(__file__).parent / "voice" / "zh-CN"
CHIME_CLIP = "_chime"  # a pack's optional prelude: <pack>/_chime.wav


class WavError(ValueError):
    """A clip that is not 16-bit PCM WAV, or clips of different formats."""


# ---------------------------------------------------------------- WAV

@dataclass(frozen=True)
class WavFormat:
    channels: int = 1
    sampwidth: int = 2
    framerate: int = 16000

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.sampwidth

    def describe(self) -> str:
        return f"{self.framerate} Hz, {self.channels} channel(s), {8 * self.sampwidth}-bit"


DEFAULT_FORMAT = WavFormat()


@dataclass(frozen=True)
class Clip:
    format: WavFormat
    frames: bytes

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.format.frame_bytes / self.format.framerate


def read_wav(source: bytes | Path) -> Clip:
    try:
        with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb") as w:
            fmt = WavFormat(w.getnchannels(), w.getsampwidth(), w.getframerate())
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise WavError(f"{source if isinstance(source, Path) else 'clip'}: not a PCM WAV ({e})") from None
    if fmt.sampwidth != 2:
        raise WavError(f"{source if isinstance(source, Path) else 'clip'}: {8 * fmt.sampwidth}-bit; 16-bit PCM needed")
    return Clip(fmt, frames)


def write_wav(clip: Clip) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(clip.format.channels)
        w.setsampwidth(clip.format.sampwidth)
        w.setframerate(clip.format.framerate)
        w.writeframes(clip.frames)
    return buf.getvalue()


def silence(fmt: WavFormat, ms: int) -> bytes:
    return bytes(fmt.frame_bytes * (fmt.framerate * ms // 1000))


def join_clips(clips: Sequence[Clip], gap_ms: int = 0) -> Clip:
    """The clips one after another (with `gap_ms` of silence between); all of one format."""
    if not clips:
        raise WavError("nothing to join")
    fmt = clips[0].format
    for c in clips[1:]:
        if c.format != fmt:
            raise WavError(f"clips differ: {fmt.describe()} and {c.format.describe()}")
    gap = silence(fmt, gap_ms)
    return Clip(fmt, gap.join(c.frames for c in clips))


def join_wav(wavs: Iterable[bytes], gap_ms: int = 0) -> bytes:
    """WAV files (bytes) joined into one WAV file."""
    return write_wav(join_clips([read_wav(w) for w in wavs], gap_ms))


def chime(fmt: WavFormat = DEFAULT_FORMAT) -> Clip:
    """A two-note 叮咚 (E5 then C5), each note fading out."""
    samples = array("h")
    for freq, seconds in ((659.25, 0.35), (523.25, 0.6)):
        n = int(fmt.framerate * seconds)
        for i in range(n):
            t = i / fmt.framerate
            amp = 0.45 * math.exp(-3.5 * t) * min(1.0, i / 80)
            v = int(32767 * amp * (math.sin(2 * math.pi * freq * t) + 0.3 * math.sin(4 * math.pi * freq * t)) / 1.3)
            samples.extend([v] * fmt.channels)
    return Clip(fmt, samples.tobytes())


# ---------------------------------------------------------------- rendering

@dataclass(frozen=True)
class Rendered:
    prelude: Clip | None  # played once before the voice (a chime), or None
    body: Clip            # played `repeat` times


class Renderer(Protocol):
    def render(self, tokens: Sequence[str]) -> Rendered: ...


class VoicePack:
    """A folder of WAV clips named by token (请.wav, A.wav, 0.wav, 号窗口.wav, …), all 16-bit PCM
    of one format, plus an optional `_chime.wav` prelude. Loaded into memory once."""

    def __init__(self, folder: Path | str = DEFAULT_PACK, gap_ms: int = 0) -> None:
        self.folder = Path(folder)
        self.gap_ms = gap_ms
        clips: dict[str, Clip] = {}
        for path in sorted(self.folder.glob("*.wav")):
            clips[unicodedata.normalize("NFC", path.stem)] = read_wav(path)
        if not clips:
            raise WavError(f"{self.folder}: no .wav clips")
        formats = {c.format for c in clips.values()}
        if len(formats) > 1:
            raise WavError(f"{self.folder}: clips of different formats: "
                           + "; ".join(sorted(f.describe() for f in formats)))
        self.format = formats.pop()
        self.prelude = clips.pop(CHIME_CLIP, None)
        self.clips = clips

    def clip(self, token: str) -> Clip | None:
        token = unicodedata.normalize("NFC", token)
        return self.clips.get(token) or self.clips.get(token.upper())

    def missing(self, tokens: Iterable[str]) -> list[str]:
        return [t for t in tokens if self.clip(t) is None]

    def voice(self, tokens: Sequence[str]) -> Clip:
        """The clips of the tokens joined; a missing token is spelt out character by character
        when the pack has those, else left out (logged)."""
        parts: list[Clip] = []
        for token in tokens:
            c = self.clip(token)
            if c is not None:
                parts.append(c)
                continue
            chars = [self.clip(ch) for ch in token] if len(token) > 1 else [None]
            if all(chars):
                parts.extend(c for c in chars if c is not None)
            else:
                log.warning("voice pack %s has no clip for %r", self.folder, token)
        if not parts:
            raise WavError("the voice pack has none of the tokens " + " ".join(tokens))
        return join_clips(parts, self.gap_ms)

    def render(self, tokens: Sequence[str]) -> Rendered:
        try:
            return Rendered(self.prelude, self.voice(tokens))
        except WavError:
            return Rendered(None, chime(self.format))


class ChimeOnly:
    """No voice: every call is a 叮咚 (a hall without a voice pack, or where speech is unwanted)."""

    def __init__(self, fmt: WavFormat = DEFAULT_FORMAT) -> None:
        self._chime = chime(fmt)

    def render(self, tokens: Sequence[str]) -> Rendered:
        return Rendered(None, self._chime)


def build_wav(tokens: Sequence[str], renderer: Renderer | None = None, repeat: int = 1, pause_ms: int = 800) -> bytes:
    """One WAV for a whole announcement: prelude, then the voice `repeat` times (what the
    announcer plays), e.g. for the server to serve to a browser screen."""
    r = (renderer or VoicePack()).render(tokens)
    parts = ([r.prelude] if r.prelude else []) + [r.body] * max(1, repeat)
    return write_wav(join_clips(parts, pause_ms if len(parts) > 1 else 0))


# ---------------------------------------------------------------- playing

class PlaybackError(RuntimeError):
    pass


class Player(Protocol):
    async def play(self, wav: bytes) -> None:
        """Play a WAV file to the end."""


class CommandPlayer:
    """Plays by piping the WAV to a command that reads it on stdin (ALSA's `aplay -q -`,
    PipeWire's `pw-play -`, `paplay`)."""

    def __init__(self, argv: Sequence[str] = ("aplay", "-q", "-")) -> None:
        self.argv = tuple(argv)

    async def play(self, wav: bytes) -> None:
        proc = await asyncio.create_subprocess_exec(*self.argv, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await proc.communicate(wav)
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise PlaybackError(f"{self.argv[0]} exited {proc.returncode}: {err.decode(errors='replace').strip()}")


# ---------------------------------------------------------------- the queue

@dataclass(frozen=True)
class Callout:
    text: str
    tokens: tuple[str, ...]
    still_wanted: Callable[[], bool] | None = None

    def wanted(self) -> bool:
        return self.still_wanted is None or self.still_wanted()


class Announcer:
    """A FIFO of callouts and the single task (`run`) that plays them."""

    def __init__(self, renderer: Renderer, player: Player, *, repeat: int = 2, pause_s: float = 0.8) -> None:
        if repeat < 1:
            raise ValueError("repeat must be at least 1")
        self.renderer = renderer
        self.player = player
        self.repeat = repeat
        self.pause_s = pause_s
        self._queue: asyncio.Queue[Callout] = asyncio.Queue()
        self._running = False
        self.announced = 0
        self.skipped = 0

    def submit(self, callout: Callout) -> None:
        self._queue.put_nowait(callout)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def join(self) -> None:
        """Until everything submitted so far has been played (or skipped)."""
        await self._queue.join()

    async def run(self) -> None:
        if self._running:
            raise RuntimeError("the announcer already has its player task")
        self._running = True
        try:
            while True:
                callout = await self._queue.get()
                try:
                    await self._announce(callout)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("announcement %r failed", callout.text)
                finally:
                    self._queue.task_done()
        finally:
            self._running = False

    async def _announce(self, c: Callout) -> None:
        if not c.wanted():
            self.skipped += 1
            return
        r = self.renderer.render(c.tokens)
        if r.prelude is not None:
            await self.player.play(write_wav(r.prelude))
        body = write_wav(r.body)
        for i in range(self.repeat):
            if i:
                await asyncio.sleep(self.pause_s)
                if not c.wanted():
                    break
            await self.player.play(body)
        self.announced += 1
