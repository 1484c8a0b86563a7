"""Reading an ESC/POS stream back: tokens → slips (split on cut) → a picture of each slip.

Used by the simulator (to act on status queries, keep the slips it printed and preview them)
and by the tests (to read every slip back). It knows the commands this package writes plus
the common ones around them; other bytes are kept as "unknown" tokens and otherwise ignored.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import qrcode
from barcode import Code128
from PIL import Image, ImageDraw

from printer_driver.glyphs import CjkFont
from printer_driver.text import char_width

# Commands by their bytes after the prefix → number of parameter bytes.
_ESC_ARGS = {b"@": 0, b"a": 1, b"E": 1, b"d": 1, b"J": 1, b"!": 1, b"2": 0, b"3": 1, b"-": 1, b"M": 1,
             b"t": 1, b"G": 1, b"{": 1, b"p": 3, b"R": 1, b"U": 1, b"V": 1, b"e": 1}
_FS_ARGS = {b"&": 0, b".": 0, b"!": 1, b"-": 1, b"C": 1, b"S": 2, b"W": 1}
_GS_ARGS = {b"!": 1, b"h": 1, b"w": 1, b"H": 1, b"f": 1, b"B": 1, b"L": 2, b"W": 2, b"a": 1, b"r": 1, b"I": 1}
_NAMES = {b"\x1b@": "init", b"\x1ba": "align", b"\x1bE": "bold", b"\x1bd": "feed", b"\x1bJ": "feed_dots",
          b"\x1c&": "chinese_on", b"\x1c.": "chinese_off", b"\x1d!": "size", b"\x1dh": "barcode_height",
          b"\x1dw": "barcode_module", b"\x1dH": "barcode_hri"}
_TEXT = re.compile(rb"[\x20-\xff]+")  # GB codes hold no control byte, so text runs end at one


@dataclass(frozen=True, slots=True)
class Token:
    """One command or text run. `arg` is the first parameter byte; `data` a payload; `raw` the bytes."""

    kind: str
    raw: bytes
    arg: int = 0
    data: bytes = b""


class Tokenizer:
    """Splits a byte stream into tokens, across any chunking; incomplete commands wait for more."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Token]:
        self._buf += data
        out: list[Token] = []
        i = 0
        while i < len(self._buf):
            tok = self._next(i)
            if tok is None:
                break
            out.append(tok)
            i += len(tok.raw)
        del self._buf[:i]
        return out

    def flush(self) -> list[Token]:
        """The tokens left at the end of the stream (a last text run without a line feed)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return [Token("text", rest, data=rest)] if rest else []

    def _next(self, i: int) -> Token | None:
        buf = self._buf
        b = buf[i]
        if b >= 0x20:
            m = _TEXT.match(buf, i)
            assert m is not None
            if m.end() == len(buf):  # the run may go on in the next chunk
                return None
            return Token("text", m.group(), data=m.group())
        if b == 0x0A:
            return Token("lf", b"\n")
        if b in (0x1B, 0x1C, 0x1D, 0x10):
            return self._command(bytes(buf[i:i + 4]), i)
        return Token("unknown", bytes([b]), arg=b)

    def _command(self, head: bytes, i: int) -> Token | None:
        if len(head) < 2:
            return None
        prefix, c = head[:1], head[1:2]
        if prefix == b"\x10":
            n = {b"\x04": 1, b"\x05": 1, b"\x14": 3}.get(c, 0)
            if len(head) < 2 + n:
                return None
            return Token("status" if c == b"\x04" else "realtime", head[:2 + n], arg=head[2] if n else 0)
        if prefix == b"\x1d" and c == b"v":  # GS v 0 m xL xH yL yH data
            return self._sized(i, 8, lambda h: (h[4] + h[5] * 256) * (h[6] + h[7] * 256), "raster")
        if prefix == b"\x1d" and c == b"(":  # GS ( fn pL pH data
            return self._sized(i, 5, lambda h: h[3] + h[4] * 256, "2d")
        if prefix == b"\x1d" and c == b"k":  # GS k m …
            return self._barcode(i)
        if prefix == b"\x1d" and c == b"V":  # GS V m [n]
            if len(head) < 3:
                return None
            n = 4 if head[2] in (65, 66, 97, 98, 103, 104) else 3
            return Token("cut", bytes(self._buf[i:i + n]), arg=head[2]) if len(self._buf) - i >= n else None
        table = {b"\x1b": _ESC_ARGS, b"\x1c": _FS_ARGS, b"\x1d": _GS_ARGS}[prefix]
        params = table.get(c)
        if params is None:
            return Token("unknown", head[:2])
        if len(head) < 2 + params:
            return None
        raw = head[:2 + params]
        return Token(_NAMES.get(raw[:2], "other"), raw, arg=raw[2] if params else 0)

    def _sized(self, i: int, header: int, length: Callable[[bytes], int], kind: str) -> Token | None:
        buf = self._buf
        if len(buf) - i < header:
            return None
        h = bytes(buf[i:i + header])
        total = header + length(h)
        if len(buf) - i < total:
            return None
        raw = bytes(buf[i:i + total])
        arg = h[2] if kind == "2d" else h[4] + h[5] * 256  # GS ( <fn> · raster width in bytes
        return Token(kind, raw, arg=arg, data=raw[header:])

    def _barcode(self, i: int) -> Token | None:
        buf = self._buf
        if len(buf) - i < 4:
            return None
        m = buf[i + 2]
        if m <= 6:  # NUL-terminated data
            end = buf.find(b"\x00", i + 3)
            if end < 0:
                return None
            raw = bytes(buf[i:end + 1])
            return Token("barcode", raw, arg=m, data=raw[3:-1])
        total = 4 + buf[i + 3]
        if len(buf) - i < total:
            return None
        raw = bytes(buf[i:i + total])
        return Token("barcode", raw, arg=m, data=raw[4:])


def tokenize(data: bytes) -> list[Token]:
    t = Tokenizer()
    return t.feed(data) + t.flush()


# ---------------------------------------------------------------------- slips


@dataclass(slots=True)
class TextLine:
    text: str
    align: str = "left"
    width: int = 1
    height: int = 1
    bold: bool = False

    @property
    def columns(self) -> int:
        """Columns taken on paper: display width × width multiplier."""
        return sum(char_width(ch) for ch in self.text) * self.width


@dataclass(slots=True)
class RasterImage:
    image: Image.Image  # mode "1", white = 1


@dataclass(slots=True)
class QRCode:
    data: str
    size: int
    ec: str
    align: str


@dataclass(slots=True)
class BarcodeItem:
    data: str
    module: int
    height: int
    hri: bool
    align: str


@dataclass(slots=True)
class FeedItem:
    dots: int


Item = TextLine | RasterImage | QRCode | BarcodeItem | FeedItem


@dataclass(slots=True)
class Slip:
    """What the printer put on one piece of paper; `cut` is False for a slip torn off by a fault."""

    items: list[Item] = field(default_factory=list)
    cut: bool = False
    raw: bytes = b""

    @property
    def lines(self) -> list[TextLine]:
        return [i for i in self.items if isinstance(i, TextLine)]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def qr_codes(self) -> list[QRCode]:
        return [i for i in self.items if isinstance(i, QRCode)]

    @property
    def rasters(self) -> list[RasterImage]:
        return [i for i in self.items if isinstance(i, RasterImage)]

    @property
    def barcodes(self) -> list[BarcodeItem]:
        return [i for i in self.items if isinstance(i, BarcodeItem)]


_EC = {48: "L", 49: "M", 50: "Q", 51: "H"}


class SlipBuilder:
    """Applies tokens as a printer would, collecting slips. The printer starts in Chinese mode."""

    def __init__(self, line_dots: int = 30) -> None:
        self.line_dots = line_dots
        self.slip = Slip()
        self._raw = bytearray()
        self._line = bytearray()
        self._line_style: tuple[str, int, int, bool] | None = None
        self.chinese = True
        self.align, self.width, self.height, self.bold = "left", 1, 1, False
        self.bar_height, self.bar_module, self.bar_hri = 162, 3, False
        self.qr_size, self.qr_ec, self.qr_data = 3, "L", b""

    @property
    def pending(self) -> bool:
        """Something is on the current slip."""
        return bool(self.slip.items or self._line)

    def apply(self, tok: Token) -> Slip | None:
        """Apply one token; returns the slip it completed (a cut), if any."""
        self._raw += tok.raw
        k = tok.kind
        if k == "text":
            if self._line_style is None:
                self._line_style = (self.align, self.width, self.height, self.bold)
            self._line += tok.data
        elif k == "lf":
            self._end_line(force=True)
        elif k == "init":
            self._end_line()
            self.align, self.width, self.height, self.bold = "left", 1, 1, False
        elif k in ("chinese_on", "chinese_off"):
            self.chinese = k == "chinese_on"
        elif k == "align":
            self.align = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}.get(tok.arg, "left")
        elif k == "bold":
            self.bold = bool(tok.arg & 1)
        elif k == "size":
            self.width, self.height = (tok.arg >> 4) + 1, (tok.arg & 7) + 1
        elif k == "feed":
            self._end_line()
            self.slip.items.append(FeedItem(tok.arg * self.line_dots))
        elif k == "feed_dots":
            self._end_line()
            self.slip.items.append(FeedItem(tok.arg))
        elif k == "raster":
            self._end_line()
            self.slip.items.append(RasterImage(_raster_image(tok)))
        elif k == "2d":
            self._qr(tok)
        elif k == "barcode_height":
            self.bar_height = tok.arg
        elif k == "barcode_module":
            self.bar_module = tok.arg
        elif k == "barcode_hri":
            self.bar_hri = tok.arg in (1, 2, 3, 49, 50, 51)
        elif k == "barcode":
            self._end_line()
            data = _code128_text(tok.data) if tok.arg == 73 else tok.data.decode("ascii", "replace")
            self.slip.items.append(BarcodeItem(data, self.bar_module, self.bar_height, self.bar_hri, self.align))
        elif k == "cut":
            self._end_line()
            return self.finish(cut=True)
        return None

    def finish(self, cut: bool) -> Slip:
        """Close the current slip (cut, or torn off when `cut` is False) and start the next."""
        self._end_line()
        slip = self.slip
        slip.cut, slip.raw = cut, bytes(self._raw)
        self.slip, self._raw = Slip(), bytearray()
        return slip

    def _end_line(self, force: bool = False) -> None:
        if not self._line and not force:
            return
        align, width, height, bold = self._line_style or (self.align, self.width, self.height, self.bold)
        text = self._line.decode("gb18030" if self.chinese else "cp437", "replace")
        self.slip.items.append(TextLine(text, align, width, height, bold))
        self._line.clear()
        self._line_style = None

    def _qr(self, tok: Token) -> None:
        """GS ( k pL pH cn fn params, cn 49 (QR code); other symbologies are not drawn."""
        if tok.arg != ord("k") or tok.data[:1] != b"1" or len(tok.data) < 2:
            return
        fn, params = tok.data[1], tok.data[2:]
        if fn == 67 and params:
            self.qr_size = params[0]
        elif fn == 69 and params:
            self.qr_ec = _EC.get(params[0], "L")
        elif fn == 80:
            self.qr_data = params[1:]
        elif fn == 81:
            self._end_line()
            self.slip.items.append(QRCode(self.qr_data.decode("utf-8", "replace"), self.qr_size, self.qr_ec, self.align))


def _raster_image(tok: Token) -> Image.Image:
    xb = tok.arg
    height = len(tok.data) // xb if xb else 0
    inverted = bytes(255 - b for b in tok.data)  # ESC/POS 1 = black, Pillow "1" 1 = white
    return Image.frombytes("1", (xb * 8, height), inverted)


def _code128_text(payload: bytes) -> str:
    """The text of a GS k 73 payload: "{B" / "{C" switch code sets, "{{" is "{"."""
    out, code, i = [], "B", 0
    while i < len(payload):
        if payload[i:i + 1] == b"{" and i + 1 < len(payload):
            nxt = chr(payload[i + 1])
            if nxt == "{":
                out.append("{")
            elif nxt in "ABC":
                code = nxt
            i += 2
            continue
        out.append(f"{payload[i]:02d}" if code == "C" else chr(payload[i]))
        i += 1
    return "".join(out)


def decode_slips(data: bytes, line_dots: int = 30) -> list[Slip]:
    """Every slip in a stream; a last one without a cut is returned with `cut` False."""
    builder = SlipBuilder(line_dots)
    slips = [s for tok in tokenize(data) if (s := builder.apply(tok)) is not None]
    if builder.pending:
        slips.append(builder.finish(cut=False))
    return slips


# ---------------------------------------------------------------------- preview


def preview(slip: Slip, font: CjkFont, *, dots: int = 576, line_dots: int = 30) -> Image.Image:
    """A picture of the slip as printed: text drawn with `font` on the printer's dot grid,
    rasters pasted, QR codes and barcodes drawn, a dashed line where it was cut."""
    parts: list[Image.Image] = []
    for item in slip.items:
        if isinstance(item, TextLine):
            parts.append(font.line(item.text, dots=dots, width=item.width, height=item.height, bold=item.bold,
                                   align=item.align, line_dots=line_dots))  # type: ignore[arg-type]
        elif isinstance(item, RasterImage):
            parts.append(item.image)
        elif isinstance(item, QRCode):
            parts.append(_place(_qr_image(item), dots, item.align))
        elif isinstance(item, BarcodeItem):
            parts.append(_place(_barcode_image(item), dots, item.align))
            if item.hri:
                parts.append(font.line(item.data, dots=dots, align=item.align, line_dots=line_dots))  # type: ignore[arg-type]
        elif isinstance(item, FeedItem):
            parts.append(Image.new("1", (dots, item.dots), 1))
    margin = 16
    page = Image.new("1", (dots, sum(p.height for p in parts) + 2 * margin), 1)
    y = margin
    for p in parts:
        page.paste(p, (0, y))
        y += p.height
    if slip.cut:
        draw = ImageDraw.Draw(page)
        for x in range(0, dots, 16):
            draw.line([(x, page.height - 2), (x + 8, page.height - 2)], fill=0, width=2)
    return page


def _place(img: Image.Image, dots: int, align: str) -> Image.Image:
    strip = Image.new("1", (dots, img.height), 1)
    free = max(dots - img.width, 0)
    strip.paste(img, ({"left": 0, "center": free // 2, "right": free}.get(align, 0), 0))
    return strip


def _qr_image(item: QRCode) -> Image.Image:
    ec = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
          "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}[item.ec]
    code = qrcode.QRCode(error_correction=ec, border=0)
    code.add_data(item.data.encode("utf-8"))
    code.make(fit=True)
    n = code.modules_count
    img = Image.new("1", (n, n), 1)
    img.putdata([0 if dark else 1 for row in code.get_matrix() for dark in row])
    return img.resize((n * item.size, n * item.size), Image.Resampling.NEAREST)


def _barcode_image(item: BarcodeItem) -> Image.Image:
    bars = Code128(item.data).build()[0]
    img = Image.new("1", (len(bars) * item.module, item.height), 1)
    draw = ImageDraw.Draw(img)
    for x, bar in enumerate(bars):
        if bar == "1":
            draw.rectangle([x * item.module, 0, (x + 1) * item.module - 1, item.height - 1], fill=0)
    return img

