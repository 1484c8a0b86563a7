"""The slip model: what to print, independent of paper width and printer commands.

A `Document` is a list of elements. Widths are not decided here: the renderer wraps text to
the paper of the printer profile it renders for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from PIL import Image as PILImage

Align = Literal["left", "center", "right"]
ALIGNS: tuple[Align, ...] = ("left", "center", "right")


def _check_align(align: str) -> None:
    if align not in ALIGNS:
        raise ValueError(f"align must be one of {ALIGNS}, not {align!r}")


@dataclass(frozen=True, slots=True)
class Text:
    """One paragraph of text; the renderer wraps it (explicit '\\n' starts a new line)."""

    text: str
    align: Align = "left"
    width: int = 1   # character width multiplier, 1–8
    height: int = 1  # character height multiplier, 1–8
    bold: bool = False

    def __post_init__(self) -> None:
        _check_align(self.align)
        if not (1 <= self.width <= 8 and 1 <= self.height <= 8):
            raise ValueError(f"size multipliers are 1–8, not {self.width}×{self.height}")


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal line across the paper, drawn with `char`."""

    char: str = "-"

    def __post_init__(self) -> None:
        if len(self.char) != 1 or not self.char.isprintable() or self.char == " ":
            raise ValueError(f"a rule is drawn with one visible character, not {self.char!r}")


@dataclass(frozen=True, slots=True)
class QR:
    """A QR code (model 2). `size` is the module size in dots; the renderer shrinks it to fit."""

    data: str
    size: int = 6
    ec: Literal["L", "M", "Q", "H"] = "M"
    align: Align = "center"

    def __post_init__(self) -> None:
        _check_align(self.align)
        if not 1 <= self.size <= 16:
            raise ValueError("QR module size is 1–16 dots")
        if self.ec not in ("L", "M", "Q", "H"):
            raise ValueError(f"QR error correction is L, M, Q or H, not {self.ec!r}")


@dataclass(frozen=True, slots=True)
class Barcode:
    """A CODE128 barcode of printable ASCII, human-readable text below when `hri`."""

    data: str
    height: int = 60  # dots
    hri: bool = True
    align: Align = "center"

    def __post_init__(self) -> None:
        _check_align(self.align)
        if not self.data or not all(" " <= c <= "~" for c in self.data):
            raise ValueError("CODE128 data must be non-empty printable ASCII")
        if not 1 <= self.height <= 255:
            raise ValueError("barcode height is 1–255 dots")


@dataclass(frozen=True, slots=True)
class Image:
    """A picture (a logo, a stamp); scaled down to the paper and dithered to black and white."""

    image: PILImage.Image
    align: Align = "center"

    def __post_init__(self) -> None:
        _check_align(self.align)


@dataclass(frozen=True, slots=True)
class Feed:
    """Blank lines."""

    lines: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.lines <= 255:
            raise ValueError("feed is 0–255 lines")


@dataclass(frozen=True, slots=True)
class Cut:
    """Feed to the cutter and cut (partial cut leaves a hinge so the slip does not fall)."""

    partial: bool = True


Element: TypeAlias = Text | Rule | QR | Barcode | Image | Feed | Cut


@dataclass(slots=True)
class Document:
    """An ordered list of elements, built with the chainable helpers below."""

    elements: list[Element] = field(default_factory=list)

    def add(self, element: Element) -> Document:
        self.elements.append(element)
        return self

    def text(self, text: str, align: Align = "left", *, width: int = 1, height: int = 1,
             bold: bool = False) -> Document:
        return self.add(Text(text, align, width, height, bold))

    def big(self, text: str, size: int = 4, align: Align = "center") -> Document:
        """Large bold text, `size` times the normal width and height (a ticket number)."""
        return self.add(Text(text, align, size, size, True))

    def rule(self, char: str = "-") -> Document:
        return self.add(Rule(char))

    def qr(self, data: str, size: int = 6, ec: Literal["L", "M", "Q", "H"] = "M",
           align: Align = "center") -> Document:
        return self.add(QR(data, size, ec, align))

    def barcode(self, data: str, height: int = 60, hri: bool = True, align: Align = "center") -> Document:
        return self.add(Barcode(data, height, hri, align))

    def image(self, image: PILImage.Image, align: Align = "center") -> Document:
        return self.add(Image(image, align))

    def feed(self, lines: int = 1) -> Document:
        return self.add(Feed(lines))

    def cut(self, partial: bool = True) -> Document:
        return self.add(Cut(partial))
