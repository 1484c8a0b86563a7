"""ESC/POS command bytes, written out by hand.

python-escpos 3.1 encodes text itself (`text()` → MagicEncode over single-byte code pages), which
turns full-width punctuation （，。：）, circled digits ①, full-width letters Ａ and every Chinese
character into '?'. Chinese printers instead print GB codes after FS & (Chinese mode), so the
renderer writes each command below and the GB18030 text bytes itself.
"""
from __future__ import annotations

from PIL import Image

ESC, GS, FS, DLE, LF = b"\x1b", b"\x1d", b"\x1c", b"\x10", b"\n"

INIT = ESC + b"@"                 # ESC @: reset modes
CHINESE_ON = FS + b"&"            # FS &: two-byte Chinese characters (GB codes)
CHINESE_OFF = FS + b"."           # FS .: single-byte characters only
ALIGN = {"left": ESC + b"a\x00", "center": ESC + b"a\x01", "right": ESC + b"a\x02"}  # ESC a n
BOLD_ON, BOLD_OFF = ESC + b"E\x01", ESC + b"E\x00"    # ESC E n: emphasized


def size(width: int, height: int) -> bytes:
    """GS ! n: character size; width multiplier in bits 4–6, height in bits 0–2 (1–8 each)."""
    return GS + b"!" + bytes([((width - 1) << 4) | (height - 1)])


def feed(lines: int) -> bytes:
    """ESC d n: print and feed n lines."""
    return ESC + b"d" + bytes([lines])


def cut(partial: bool = True) -> bytes:
    """GS V m n (function B): feed to the cutting position, then cut (66 partial, 65 full)."""
    return GS + b"V" + (b"B" if partial else b"A") + b"\x00"


def status_query(n: int) -> bytes:
    """DLE EOT n: real-time status (1 printer, 2 offline cause, 3 error cause, 4 roll paper)."""
    return DLE + b"\x04" + bytes([n])


def _qr_fn(fn: int, payload: bytes) -> bytes:
    """GS ( k pL pH cn fn …, cn = 49 (QR code)."""
    n = len(payload) + 2
    return GS + b"(k" + bytes([n & 0xFF, n >> 8, 49, fn]) + payload


QR_EC = {"L": 48, "M": 49, "Q": 50, "H": 51}


def qr(data: bytes, module: int, ec: str) -> bytes:
    """Native QR, model 2: select model, module size, error correction, store data, print."""
    return (_qr_fn(65, b"\x32\x00") + _qr_fn(67, bytes([module])) + _qr_fn(69, bytes([QR_EC[ec]]))
            + _qr_fn(80, b"0" + data) + _qr_fn(81, b"0"))


def code128_payload(data: str) -> bytes:
    """GS k m=73 data: code set B, switching to set C (two digits a symbol) for runs of ≥ 4 digits."""
    out = bytearray()
    current = ""
    i = 0
    while i < len(data):
        j = i
        while j < len(data) and data[j].isdigit():
            j += 1
        run = (j - i) - (j - i) % 2
        if run >= 4:
            if current != "C":
                out += b"{C"
                current = "C"
            out += bytes(int(data[k:k + 2]) for k in range(i, i + run, 2))
            i += run
            continue
        if current != "B":
            out += b"{B"
            current = "B"
        out += b"{{" if data[i] == "{" else data[i].encode("ascii")
        i += 1
    return bytes(out)


def code128_modules(payload: bytes) -> int:
    """Bar width in modules of a GS k 73 payload: 11 a symbol (the leading "{B"/"{C" is the start
    symbol), then the check symbol (11) and the stop pattern (13)."""
    symbols = 0
    i = 0
    while i < len(payload):
        symbols += 1
        i += 2 if payload[i:i + 1] == b"{" else 1
    return 11 * symbols + 11 + 13


def barcode(payload: bytes, module: int, height: int, hri: bool) -> bytes:
    """GS h height, GS w module width, GS H HRI position (2 below, 0 none), GS k 73 n data."""
    return (GS + b"h" + bytes([height]) + GS + b"w" + bytes([module]) + GS + b"H" + (b"\x02" if hri else b"\x00")
            + GS + b"k" + bytes([73, len(payload)]) + payload)


_INVERT = bytes(255 - b for b in range(256))
RASTER_BAND = 256  # rows per GS v 0 command; older firmware limits a raster command's height


def raster(image: Image.Image) -> bytes:
    """GS v 0 m xL xH yL yH d…: a 1-bit picture (Pillow mode "1", white = 1) in bands.

    The width must be a multiple of 8. ESC/POS raster bits are 1 = black, so Pillow's packed
    rows are inverted byte-wise.
    """
    if image.mode != "1" or image.width % 8:
        raise ValueError("raster images are mode '1' and a multiple of 8 dots wide")
    xb = image.width // 8
    data = image.tobytes().translate(_INVERT)
    out = bytearray()
    for top in range(0, image.height, RASTER_BAND):
        rows = min(RASTER_BAND, image.height - top)
        out += GS + b"v0\x00" + bytes([xb & 0xFF, xb >> 8, rows & 0xFF, rows >> 8])
        out += data[top * xb:(top + rows) * xb]
    return bytes(out)
