"""Drawing text lines as pictures with a CJK TrueType font, on the printer's 12×24 dot grid.

Used by the renderer for lines the printer's built-in font cannot print (堃, 䶮, …) and by the
simulator's preview for every line, so both look like the printer's own text: a half-width
character fills a 12-dot cell, a wide one 24, size multipliers scale the dots as GS ! does.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

from printer_driver.document import Align
from printer_driver.text import char_width

FONT_ENV = "PRINTER_CJK_FONT"
# Searched in order. Noto Sans CJK (Debian fonts-noto-cjk) covers CJK Extension A (䶮);
# WenQuanYi Micro Hei (fonts-wqy-microhei) is smaller but lacks Extension A.
FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
)

CELL = 12       # dots per column
CELL_HEIGHT = 24


class FontNotFound(RuntimeError):
    """No CJK TrueType font: characters outside the printer's font cannot be printed."""


def find_cjk_font(path: str | os.PathLike[str] | None = None,
                  candidates: Sequence[str] = FONT_CANDIDATES) -> Path:
    """The CJK font to draw with: `path`, else $PRINTER_CJK_FONT, else the first of `candidates` present."""
    explicit = path or os.environ.get(FONT_ENV)
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise FontNotFound(f"CJK font {p} (from {'font_path' if path else FONT_ENV}) does not exist")
        return p
    for c in candidates:
        if Path(c).is_file():
            return Path(c)
    raise FontNotFound(
        "No CJK TrueType font found to print characters outside the printer's built-in font "
        "(e.g. 堃, 䶮). Install Debian's fonts-noto-cjk (or fonts-wqy-microhei), or give its path as "
        f"font_path or in ${FONT_ENV}. Searched: {', '.join(candidates)}")


def _pick_face(path: Path) -> ImageFont.FreeTypeFont:
    """The best face of a collection: monospaced Simplified Chinese if there is one."""
    faces: list[tuple[int, ImageFont.FreeTypeFont]] = []
    for index in range(16):
        try:
            face = ImageFont.truetype(str(path), CELL_HEIGHT, index=index)
        except OSError:
            break
        family = face.getname()[0] or ""
        rank = ("SC" in family.split() or "Micro Hei" in family) * 2 + ("Mono" in family)
        faces.append((rank, face))
    if not faces:
        raise FontNotFound(f"{path} is not a font Pillow can read")
    return max(faces, key=lambda f: f[0])[1]


class CjkFont:
    """A TrueType font drawn on the printer's dot grid, with glyphs cached."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = find_cjk_font(path)
        self.face = _pick_face(self.path)
        top = self.face.getbbox("中")[1]
        self._origin_y = -top  # an ideograph fills rows 0–23 of its cell
        self._face_lock = threading.Lock()  # one FreeType face, shared by the spoolers' threads
        self.glyph = lru_cache(maxsize=4096)(self._glyph)

    def _glyph(self, ch: str, bold: bool) -> Image.Image:
        """One character at size 1×1: a greyscale cell 12 or 24 dots wide, 30 tall (ink = 255)."""
        w = CELL * char_width(ch)
        cell = Image.new("L", (w, CELL_HEIGHT + 6), 0)
        if ch != " ":
            with self._face_lock:
                right = int(self.face.getbbox(ch)[2])
                ink = Image.new("L", (max(right, w), CELL_HEIGHT + 6), 0)
                ImageDraw.Draw(ink).text((0, self._origin_y), ch, font=self.face, fill=255)
            if right > w:  # a glyph wider than its cell (a proportional Latin face): squeeze it
                ink = ink.resize((w, ink.height), Image.Resampling.BILINEAR)
            cell.paste(ink.crop((0, 0, w, ink.height)), (0, 0))
            if bold:  # emphasized mode: every dot struck twice, one dot apart
                cell = ImageChops.lighter(cell, ImageChops.offset(cell, 1, 0))
        return cell

    def line(self, text: str, *, dots: int, width: int = 1, height: int = 1, bold: bool = False,
             align: Align = "left", line_dots: int = 30) -> Image.Image:
        """One line of text as a 1-bit picture `dots` wide (white = 1, as Pillow's mode "1").

        The picture is `line_dots × height` tall, like a printed line at that size; text that
        does not fit is cut off at the paper's edge (callers wrap first).
        """
        cols = sum(char_width(ch) for ch in text)
        base = Image.new("L", (max(cols * CELL, 1), line_dots), 0)
        x = 0
        for ch in text:
            g = self.glyph(ch, bold)
            base.paste(g.crop((0, 0, g.width, min(g.height, line_dots))), (x, 0))
            x += g.width
        if width != 1 or height != 1:
            base = base.resize((base.width * width, base.height * height), Image.Resampling.NEAREST)
        canvas = Image.new("L", (dots, line_dots * height), 0)
        free = max(dots - base.width, 0)
        offset = {"left": 0, "center": free // 2, "right": free}[align]
        canvas.paste(base.crop((0, 0, min(base.width, dots), base.height)), (offset, 0))
        return canvas.point(lambda v: 0 if v >= 128 else 255, mode="1")


@lru_cache(maxsize=4)
def load_font(path: str | None = None) -> CjkFont:
    """A shared `CjkFont` per path (None: the search order of `find_cjk_font`)."""
    return CjkFont(path)
