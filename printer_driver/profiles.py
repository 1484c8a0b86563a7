"""Printer profiles: what a model can do, as data. The renderer reads nothing else about a printer."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

CHARSETS = ("GB2312", "GBK", "GB18030")


@dataclass(frozen=True, slots=True)
class PrinterProfile:
    """A thermal printer model.

    `charset` is the character set of the printer's built-in Chinese font: text outside it is
    printed as a raster image instead. `columns` counts half-width (ASCII) characters of font A
    (12×24 dots); a Chinese character takes two. `native_qr`: the printer draws QR codes itself
    (GS ( k); otherwise they are sent as raster images. `line_dots` is the height of one line of
    normal text including spacing, used for raster text lines so they line up with printed text.
    """

    name: str
    paper_mm: int
    columns: int
    dots: int
    charset: str = "GB2312"
    native_qr: bool = True
    cutter: bool = True
    line_dots: int = 30

    def __post_init__(self) -> None:
        if self.charset not in CHARSETS:
            raise ValueError(f"charset must be one of {CHARSETS}, not {self.charset!r}")
        if self.dots % 8 or self.dots < self.columns * 12:
            raise ValueError(f"{self.dots} dots cannot hold {self.columns} columns of 12 dots (and must be a multiple of 8)")

    @property
    def codec(self) -> str:
        """The Python codec of the built-in font's character set (its codes are GB18030 codes)."""
        return self.charset.lower()


PAPER_58MM = PrinterProfile("58mm", paper_mm=58, columns=32, dots=384)
PAPER_80MM = PrinterProfile("80mm", paper_mm=80, columns=48, dots=576)
PROFILES: dict[str, PrinterProfile] = {p.name: p for p in (PAPER_58MM, PAPER_80MM)}


def profile_from_dict(spec: Mapping[str, Any]) -> PrinterProfile:
    """A profile from configuration: `{"base": "58mm", "charset": "GB18030", "native_qr": false}`.

    `base` names a built-in profile whose values the other keys override; without it every
    field must be given.
    """
    spec = dict(spec)
    base = spec.pop("base", None)
    known = {f.name for f in fields(PrinterProfile)}
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"unknown printer profile keys: {', '.join(sorted(unknown))}")
    if base is not None:
        if base not in PROFILES:
            raise ValueError(f"unknown base profile {base!r}; known: {', '.join(PROFILES)}")
        values = {f.name: getattr(PROFILES[base], f.name) for f in fields(PrinterProfile)}
        values.update(spec)
        return PrinterProfile(**values)
    return PrinterProfile(**spec)
