"""Document → ESC/POS bytes for a printer profile.

Text goes out as GB18030 codes in Chinese mode (FS &), sizes as GS !, alignment as ESC a. A line
with a character outside the profile's built-in font (堃 and 喆 are not in GB2312, 䶮 not in
GBK) is drawn with a CJK TrueType font and sent as a raster image (GS v 0) instead; no
character is ever replaced by '?'. Lines are wrapped so none is wider than the paper. Every
command is written by hand (commands.py says why python-escpos's text path is not used).
"""
from __future__ import annotations

from functools import lru_cache

import qrcode
import qrcode.util
from PIL import Image as PILImage
from PIL import ImageOps

from printer_driver import commands as cmd
from printer_driver.document import QR, Align, Barcode, Cut, Document, Feed, Image, Rule, Text
from printer_driver.glyphs import CjkFont, load_font
from printer_driver.profiles import PrinterProfile
from printer_driver.text import char_width, display_width, wrap

_QR_EC = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
          "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}


class Renderer:
    """Renders documents for one printer profile.

    `font_path` is the CJK TrueType font for raster lines; it is looked up (see
    `glyphs.find_cjk_font`) only when a line needs it, so printers whose text always fits their
    built-in font never need one.
    """

    def __init__(self, profile: PrinterProfile, *, font_path: str | None = None) -> None:
        self.profile = profile
        self.font_path = font_path
        self._font: CjkFont | None = None

    @property
    def font(self) -> CjkFont:
        if self._font is None:
            self._font = load_font(self.font_path)
        return self._font

    def render(self, doc: Document) -> bytes:
        out = _Output()
        for el in doc.elements:
            match el:
                case Text():
                    self._text(out, el)
                case Rule():
                    self._text(out, Text(el.char * (self.profile.columns // display_width(el.char))))
                case QR():
                    self._qr(out, el)
                case Barcode():
                    self._barcode(out, el)
                case Image():
                    self._image(out, el)
                case Feed():
                    out.buf += cmd.feed(el.lines)
                case Cut():
                    out.buf += cmd.cut(el.partial) if self.profile.cutter else cmd.feed(4)
        return bytes(out.buf)

    # ------------------------------------------------------------------ elements

    def _text(self, out: _Output, el: Text) -> None:
        for line in wrap(el.text, self.profile.columns // el.width):
            encoded = self.encode(line)
            if encoded is None:
                out.raster(self.font.line(line, dots=self.profile.dots, width=el.width, height=el.height,
                                          bold=el.bold, align=el.align, line_dots=self.profile.line_dots))
            else:
                out.style(el.align, el.width, el.height, el.bold)
                out.buf += encoded + cmd.LF

    def _qr(self, out: _Output, el: QR) -> None:
        data = el.data.encode("utf-8")
        if self.profile.native_qr:
            modules = _qr_version(len(data), el.ec) * 4 + 17
            out.style(el.align, 1, 1, False)
            out.buf += cmd.qr(data, self._qr_module(el, modules), el.ec)
            return
        code = qrcode.QRCode(error_correction=_QR_EC[el.ec], border=0)
        code.add_data(data)
        code.make(fit=True)
        modules = code.modules_count
        size = self._qr_module(el, modules)
        img = PILImage.new("1", (modules, modules), 1)
        img.putdata([0 if dark else 1 for row in code.get_matrix() for dark in row])
        out.raster(self._place(img.resize((modules * size, modules * size), PILImage.Resampling.NEAREST), el.align))

    def _qr_module(self, el: QR, modules: int) -> int:
        """The module size asked for, shrunk so the code fits the paper."""
        size = min(el.size, self.profile.dots // modules)
        if size < 1:
            raise ValueError(f"a QR code of {len(el.data)} characters does not fit {self.profile.dots} dots")
        return size

    def _barcode(self, out: _Output, el: Barcode) -> None:
        """CODE128 with bars of 3 or 2 dots; a code too long for the paper is printed as its text."""
        payload = cmd.code128_payload(el.data)
        modules = cmd.code128_modules(payload) + 20  # quiet zones of 10 modules
        module = next((m for m in (3, 2) if modules * m <= self.profile.dots), 0)
        if not module or len(payload) > 255:
            self._text(out, Text(el.data, el.align))
            return
        out.style(el.align, 1, 1, False)
        out.buf += cmd.barcode(payload, module, el.height, el.hri)

    def _image(self, out: _Output, el: Image) -> None:
        img = ImageOps.exif_transpose(el.image).convert("L")
        if img.width > self.profile.dots:
            img = img.resize((self.profile.dots, max(1, img.height * self.profile.dots // img.width)))
        out.raster(self._place(img.convert("1"), el.align))  # Floyd–Steinberg dithering

    # ------------------------------------------------------------------ helpers

    def encode(self, line: str) -> bytes | None:
        """The GB18030 bytes of `line` if the printer's font has every character, else None.

        GB2312 and GBK codes are GB18030 codes, so a code the font lacks shows up as bytes the
        profile's own codec cannot decode. Wide characters must be wide (2 columns) for the
        printer's two-byte font to print them where the wrapping put them (every character of
        GB2312 and GBK is).
        """
        try:
            data = line.encode("gb18030")
            if self.profile.charset != "GB18030":
                data.decode(self.profile.codec)
        except UnicodeError:
            return None
        if self.profile.charset == "GB18030" and not line.isascii() and any(
                ch >= "\x80" and char_width(ch) == 1 for ch in line):  # a narrow character from outside GBK
            return None
        return data

    def _place(self, img: PILImage.Image, align: Align) -> PILImage.Image:
        """`img` on a strip as wide as the paper, so alignment never depends on the printer."""
        canvas = PILImage.new("1", (self.profile.dots, img.height), 1)
        free = max(self.profile.dots - img.width, 0)
        canvas.paste(img, ({"left": 0, "center": free // 2, "right": free}[align], 0))
        return canvas


@lru_cache(maxsize=1024)
def _qr_version(length: int, ec: str) -> int:
    """The QR version a printer needs for `length` bytes in byte mode (the most it may choose).

    Counted from the capacity table rather than by qrcode's fitting, which writes the data out
    bit by bit and would take most of a ticket's rendering time.
    """
    limits = qrcode.util.BIT_LIMIT_TABLE[_QR_EC[ec]]
    for version in range(1, 41):
        if 4 + (8 if version < 10 else 16) + 8 * length <= limits[version]:
            return version
    raise ValueError(f"{length} bytes do not fit in a QR code")


class _Output:
    """The byte buffer and the printer modes in force, so each mode is sent only when it changes."""

    def __init__(self) -> None:
        self.buf = bytearray(cmd.INIT + cmd.CHINESE_ON)
        self.align: Align = "left"
        self.size = (1, 1)
        self.bold = False

    def style(self, align: Align, width: int, height: int, bold: bool) -> None:
        if align != self.align:
            self.buf += cmd.ALIGN[align]
            self.align = align
        if (width, height) != self.size:
            self.buf += cmd.size(width, height)
            self.size = (width, height)
        if bold != self.bold:
            self.buf += cmd.BOLD_ON if bold else cmd.BOLD_OFF
            self.bold = bold

    def raster(self, img: PILImage.Image) -> None:
        self.buf += cmd.raster(img)


def render(doc: Document, profile: PrinterProfile, *, font_path: str | None = None) -> bytes:
    """Render one document (a shortcut for `Renderer(profile, font_path=…).render(doc)`)."""
    return Renderer(profile, font_path=font_path).render(doc)
