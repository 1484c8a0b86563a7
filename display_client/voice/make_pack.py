"""Generate the default zh-CN voice pack with espeak-ng (Debian package `espeak-ng`, voice `cmn`).

    python -m display_client.voice.make_pack [--out display_client/voice/zh-CN] [--speed 150]

One WAV per token of the server's announcement scripts (请, 号, 到, 号窗口, 办理, 0–9, A–Z) plus
`_chime.wav`, each 16 kHz mono 16-bit PCM: silence trimmed, peak-normalised, resampled by linear
interpolation. Chinese tokens and digits (0 → líng) are spoken from their pinyin with the
`cmn-latn-pinyin` variant of the voice: Debian's espeak-ng 1.51 `cmn` reads the pinyin of some
characters (请, 号, 口, …) by English rules. Letters are spoken by `cmn` (A → ei, B → bi).
A hall that records its own voice replaces these files (see README.md in the pack).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from array import array
from pathlib import Path

from display_client.announce import (
    CHIME_CLIP,
    DEFAULT_FORMAT,
    DEFAULT_PACK,
    Clip,
    chime,
    read_wav,
    write_wav,
)

PINYIN = {"请": "qing3", "号": "hao4", "到": "dao4", "号窗口": "hao4 chuang1 kou3", "办理": "ban4 li3",
          "0": "ling2", "1": "yi1", "2": "er4", "3": "san1", "4": "si4", "5": "wu3", "6": "liu4", "7": "qi1",
          "8": "ba1", "9": "jiu3"}
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TOKENS = [*PINYIN, *LETTERS]
PEAK = 0.85          # of full scale
MARGIN_S = 0.02      # silence kept at each end
THRESHOLD = 0.03     # of the clip's peak: quieter is silence


def spoken(token: str) -> tuple[str, str]:
    """(espeak-ng voice, text) for a token."""
    return ("cmn-latn-pinyin", PINYIN[token]) if token in PINYIN else ("cmn", token)


def speak(voice: str, text: str, speed: int, espeak: str) -> Clip:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.wav"
        subprocess.run([espeak, "-v", voice, "-s", str(speed), "-w", str(out), text], check=True,
                       stdout=subprocess.DEVNULL)
        return read_wav(out)


def trim(samples: array[int], rate: int) -> array[int]:
    peak = max((abs(s) for s in samples), default=0)
    if peak == 0:
        return samples
    loud = [i for i, s in enumerate(samples) if abs(s) >= THRESHOLD * peak]
    margin = int(MARGIN_S * rate)
    return samples[max(0, loud[0] - margin):min(len(samples), loud[-1] + 1 + margin)]


def resample(samples: array[int], src: int, dst: int) -> array[int]:
    if src == dst or not samples:
        return samples
    n = max(1, round(len(samples) * dst / src))
    out: array[int] = array("h")
    step = (len(samples) - 1) / max(1, n - 1)
    for i in range(n):
        x = i * step
        j = int(x)
        f = x - j
        nxt = samples[j + 1] if j + 1 < len(samples) else samples[j]
        out.append(round(samples[j] * (1 - f) + nxt * f))
    return out


def normalise(samples: array[int]) -> array[int]:
    peak = max((abs(s) for s in samples), default=0)
    if peak == 0:
        return samples
    gain = PEAK * 32767 / peak
    return array("h", (max(-32768, min(32767, round(s * gain))) for s in samples))


def to_pack_format(clip: Clip) -> Clip:
    if clip.format.channels != 1:
        raise ValueError("espeak-ng speaks mono")
    samples = array("h")
    samples.frombytes(clip.frames)
    if sys.byteorder == "big":
        samples.byteswap()
    samples = normalise(resample(trim(samples, clip.format.framerate), clip.format.framerate, DEFAULT_FORMAT.framerate))
    if sys.byteorder == "big":
        samples.byteswap()
    return Clip(DEFAULT_FORMAT, samples.tobytes())


def make_pack(out: Path, speed: int = 150, espeak: str | None = None) -> list[Path]:
    exe = espeak or shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng not found: apt-get install espeak-ng")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for token in TOKENS:
        path = out / f"{token}.wav"
        path.write_bytes(write_wav(to_pack_format(speak(*spoken(token), speed, exe))))
        written.append(path)
    path = out / f"{CHIME_CLIP}.wav"
    path.write_bytes(write_wav(chime(DEFAULT_FORMAT)))
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_PACK)
    ap.add_argument("--speed", type=int, default=150, help="words per minute (espeak-ng -s)")
    ap.add_argument("--espeak", help="the espeak-ng executable")
    args = ap.parse_args(argv)
    files = make_pack(args.out, args.speed, args.espeak)
    total = sum(f.stat().st_size for f in files)
    print(f"{len(files)} clips in {args.out}, {total / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
