"""What a window's LED strip says, and the charset rules every vendor protocol shares.

`LedSign` turns a window (its state and number) into text and the text into a frame for one bus
address; a vendor protocol subclass supplies `frame()` (and `split()`, which reads frames back,
for the bus simulator and the tests). Texts by window state (`LedTexts`, configurable):

    called or serving   "A007 请到06号窗口"
    open, no ticket     "06号窗口"
    paused              "暂停服务"
    closed              "欢迎光临"

A strip shows printable ASCII and the two-byte characters of its charset (GB2312 or GBK). Any
other character is substituted, never sent as garbage: its compatibility form (NFKC: full-width
Ａ → A, ① → 1) when that is showable, else a space. A text longer than the strip's buffer is cut
at a character boundary. Runs of seven or more digits are blanked (no phone or ID number).
"""
from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from display_client.privacy import scrub
from display_client.state import WindowView

MIN_ADDRESS, MAX_ADDRESS = 1, 254


@dataclass(frozen=True)
class LedTexts:
    called: str = "{number} 请到{window}号窗口"
    open: str = "{window}号窗口"
    paused: str = "暂停服务"
    closed: str = "欢迎光临"

    def for_window(self, w: WindowView) -> str:
        if w.number is not None and w.state != "closed":
            template = self.called
        else:
            template = {"open": self.open, "paused": self.paused}.get(w.state, self.closed)
        return template.format(number=w.number or "", window=w.code, name=w.name)


@dataclass(frozen=True)
class DecodedFrame:
    address: int
    command: int
    text: str


def showable(ch: str, charset: str) -> bool:
    """Printable ASCII, or one two-byte character of `charset`."""
    if " " <= ch <= "~":
        return True
    try:
        b = ch.encode(charset)
    except UnicodeEncodeError:
        return False
    return len(b) == 2 and b[0] >= 0x81


def fit(text: str, charset: str) -> str:
    """The text with every character the strip cannot show substituted."""
    out = []
    for ch in text:
        if showable(ch, charset):
            out.append(ch)
            continue
        alt = unicodedata.normalize("NFKC", ch)
        out.append(alt if alt != ch and all(showable(c, charset) for c in alt) else " ")
    return "".join(out)


class LedSign(ABC):
    """A vendor protocol: text per window, and the frame that shows a text at an address."""

    name: ClassVar[str]
    charset: ClassVar[str]
    max_text_bytes: ClassVar[int]

    def __init__(self, texts: LedTexts | None = None) -> None:
        self.texts = texts or LedTexts()

    def text_for(self, w: WindowView) -> str:
        return scrub(self.texts.for_window(w))

    def text_bytes(self, text: str) -> bytes:
        out = bytearray()
        for ch in scrub(fit(text, self.charset)):
            b = ch.encode(self.charset)
            if len(out) + len(b) > self.max_text_bytes:
                break
            out += b
        return bytes(out)

    def encode(self, address: int, text: str) -> bytes:
        if not MIN_ADDRESS <= address <= MAX_ADDRESS:
            raise ValueError(f"LED address {address} out of range {MIN_ADDRESS}-{MAX_ADDRESS}")
        return self.frame(address, self.text_bytes(text))

    @abstractmethod
    def frame(self, address: int, text: bytes) -> bytes:
        """The frame that shows `text` (already in the strip's charset) at `address`."""

    @abstractmethod
    def split(self, data: bytes) -> tuple[list[DecodedFrame], bytes, int]:
        """Frames read from a byte stream: (whole valid frames, the unfinished tail to keep,
        the number of corrupt frames or stray bytes skipped)."""
