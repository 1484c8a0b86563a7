from __future__ import annotations

import pytest
import qrcode
from PIL import Image, ImageDraw

from printer_driver import commands as cmd
from printer_driver.decode import decode_slips, tokenize
from printer_driver.document import Document
from printer_driver.glyphs import FontNotFound, find_cjk_font, load_font
from printer_driver.layouts import ticket_slip
from printer_driver.profiles import PAPER_58MM, PAPER_80MM, PrinterProfile, profile_from_dict
from printer_driver.render import Renderer, render
from tests.printer.conftest import ticket_data

START = b"\x1b@\x1c&"  # ESC @, FS &
GB18030_58 = profile_from_dict({"base": "58mm", "charset": "GB18030"})
GBK_58 = profile_from_dict({"base": "58mm", "charset": "GBK"})
RASTER_QR_80 = profile_from_dict({"base": "80mm", "native_qr": False})


def test_text_styles_are_exact_escpos_bytes() -> None:
    doc = Document().text("衡阳", "center", width=2, height=2, bold=True).text("A1").cut()
    assert render(doc, PAPER_58MM) == (
        START + b"\x1ba\x01" + b"\x1d!\x11" + b"\x1bE\x01" + "衡阳".encode("gb18030") + b"\n"
        + b"\x1ba\x00" + b"\x1d!\x00" + b"\x1bE\x00" + b"A1\n" + b"\x1dVB\x00")


@pytest.mark.parametrize(("w", "h", "n"), [(1, 1, 0x00), (2, 2, 0x11), (4, 4, 0x33), (1, 2, 0x01), (8, 8, 0x77)])
def test_gs_bang_size_byte(w: int, h: int, n: int) -> None:
    assert cmd.size(w, h) == b"\x1d!" + bytes([n])


def test_full_width_punctuation_circled_digits_and_full_width_letters_are_gb_codes_never_question_marks() -> None:
    line = "（，。：）①②Ａ"
    out = render(Document().text(line), PAPER_58MM)
    assert out == START + bytes.fromhex("a3a8 a3ac a1a3 a3ba a3a9 a2d9 a2da a3c1") + b"\n"
    assert b"?" not in out
    assert decode_slips(out)[0].text == line


@pytest.mark.parametrize("ch", ["堃", "喆", "䶮"])
def test_characters_outside_gb2312_are_not_in_the_printers_font(ch: str) -> None:
    with pytest.raises(UnicodeEncodeError):
        ch.encode("gb2312")
    assert "①".encode("gb2312") == b"\xa2\xd9"  # ① is in GB2312 (row 2)


def test_a_line_outside_the_font_is_printed_as_a_raster_image_of_itself() -> None:
    renderer = Renderer(PAPER_58MM)
    out = renderer.render(Document().text("申请人：王堃", "center", bold=True))
    expected = load_font().line("申请人：王堃", dots=384, bold=True, align="center")
    assert out == START + cmd.raster(expected)
    assert "王".encode("gb18030") not in out  # the whole line is a picture
    slip = decode_slips(out)[0]
    assert slip.lines == [] and slip.rasters[0].image.tobytes() == expected.tobytes()


def test_the_raster_line_really_shows_the_rare_character() -> None:
    font = load_font()
    tofu = font.line("\U0010fffd", dots=384)   # a code point no font has: the missing-glyph box
    for ch in "堃喆䶮":
        img = font.line(ch, dots=384)
        assert img.getbbox() is not None
        assert img.tobytes() != tofu.tobytes() and img.tobytes() != font.line("?", dots=384).tobytes()


@pytest.mark.parametrize(("profile", "ch", "code"), [(GB18030_58, "堃", "88d2"), (GBK_58, "堃", "88d2"),
                                                     (GB18030_58, "䶮", "fe9f")])
def test_a_wider_printer_font_prints_them_as_text(profile: PrinterProfile, ch: str, code: str) -> None:
    assert render(Document().text(ch), profile) == START + bytes.fromhex(code) + b"\n"


def test_gbk_lacks_extension_a() -> None:
    out = render(Document().text("䶮"), GBK_58)
    assert tokenize(out)[2].kind == "raster"


def test_gb2312_aliases_print_as_text() -> None:
    # U+00B7 and U+2014 are the GB2312 codes A1A4 and A1AA, though Python's gb2312 codec maps them elsewhere
    assert render(Document().text("买买提·艾力—"), PAPER_58MM) == START + "买买提·艾力—".encode("gb18030") + b"\n"


def test_native_qr_is_gs_paren_k_model_2_size_ec_m_store_and_print() -> None:
    url = "http://x/t/1"
    out = render(Document().qr(url, size=6), PAPER_58MM)
    assert out == START + b"\x1ba\x01" + (
        b"\x1d(k\x04\x001A2\x00" + b"\x1d(k\x03\x001C\x06" + b"\x1d(k\x03\x001E1"
        + b"\x1d(k" + bytes([len(url) + 3, 0]) + b"1P0" + url.encode() + b"\x1d(k\x03\x001Q0")


def test_qr_shrinks_to_fit_the_paper() -> None:
    url = "http://192.0.2.10:8080/t/" + "x" * 200  # version 10: 57 modules
    out = render(Document().qr(url, size=16), PAPER_58MM)
    assert decode_slips(out)[0].qr_codes[0].size == 384 // 57


def test_raster_qr_for_printers_without_native_qr() -> None:
    url = "http://192.0.2.10:8080/t/tok00001"
    out = render(Document().qr(url, size=5, align="center"), RASTER_QR_80)
    assert b"\x1d(k" not in out
    img = decode_slips(out)[0].rasters[0].image
    box = img.convert("L").point(lambda v: 255 - v).getbbox()
    assert box is not None
    left, top, right, bottom = box
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(url.encode())
    code.make(fit=True)
    n = code.modules_count
    assert (right - left, bottom - top) == (n * 5, n * 5)
    assert left == (576 - n * 5) // 2
    got = [[img.getpixel((left + x * 5 + 2, top + y * 5 + 2)) == 0 for x in range(n)] for y in range(n)]
    assert got == code.get_matrix()


def test_code128_switches_to_code_set_c_for_digit_runs() -> None:
    assert cmd.code128_payload("A1234567") == b"{BA{C\x0c\x22\x38{B7"
    assert cmd.code128_payload("a{b") == b"{Ba{{b"
    out = render(Document().barcode("A1234567", height=50), PAPER_80MM)
    assert out == START + b"\x1ba\x01" + b"\x1dh\x32\x1dw\x03\x1dH\x02\x1dk\x49\x0b{BA{C\x0c\x22\x38{B7"
    assert decode_slips(out)[0].barcodes[0].data == "A1234567"


def test_a_barcode_too_long_for_the_paper_prints_as_text() -> None:
    number = "HY20241121A01-0007"
    assert decode_slips(render(Document().barcode(number), PAPER_80MM))[0].barcodes[0].module == 2
    slip = decode_slips(render(Document().barcode(number), PAPER_58MM))[0]
    assert slip.barcodes == [] and slip.text == number


def test_rule_spans_the_paper() -> None:
    assert render(Document().rule(), PAPER_58MM) == START + b"-" * 32 + b"\n"
    assert render(Document().rule("─"), PAPER_80MM) == START + "─".encode("gb18030") * 24 + b"\n"


def test_feed_and_cut() -> None:
    assert render(Document().feed(3).cut(), PAPER_58MM) == START + b"\x1bd\x03\x1dVB\x00"
    assert render(Document().cut(partial=False), PAPER_58MM) == START + b"\x1dVA\x00"
    no_cutter = profile_from_dict({"base": "58mm", "cutter": False})
    assert render(Document().cut(), no_cutter) == START + b"\x1bd\x04"


def test_images_are_scaled_to_the_paper_dithered_and_banded() -> None:
    logo = Image.new("RGB", (800, 600), "white")
    ImageDraw.Draw(logo).rectangle([0, 0, 399, 599], fill="black")
    out = render(Document().image(logo), PAPER_58MM)
    toks = [t for t in tokenize(out) if t.kind == "raster"]
    assert [len(t.data) // t.arg for t in toks] == [256, 32]  # 600 × 384/800 = 288 rows, in bands of 256
    assert all(t.arg == 48 for t in toks)
    img = decode_slips(out)[0].rasters
    assert img[0].image.getpixel((10, 10)) == 0 and img[0].image.getpixel((380, 10)) == 255


def test_printer_commands_in_text_are_dropped() -> None:
    out = render(Document().text("王\x1dV\x00明\x1b@"), PAPER_58MM)
    assert out == START + "王V明@".encode("gb18030") + b"\n"


@pytest.mark.parametrize("profile", [PAPER_58MM, PAPER_80MM, GB18030_58], ids=lambda p: p.name + p.charset)
def test_no_line_of_a_long_slip_is_wider_than_the_paper(profile: PrinterProfile) -> None:
    data = ticket_data(7, matter={"name": "公司设立登记（含分公司、非公司企业法人）①②③，全程电子化，Ａ类事项" * 2},
                       footer=["Consultation hotline 12345, weekdays 9:00-17:30, please keep this slip safe"])
    slip = decode_slips(Renderer(profile).render(ticket_slip(data, lang="en")))[0]
    assert max(line.columns for line in slip.lines) <= profile.columns
    assert all(r.image.width == profile.dots for r in slip.rasters)


def test_missing_font_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRINTER_CJK_FONT", raising=False)
    with pytest.raises(FontNotFound, match="fonts-noto-cjk"):
        find_cjk_font(candidates=["/nonexistent/font.ttc"])
    with pytest.raises(FontNotFound, match="/nonexistent/x.ttf"):
        Renderer(PAPER_58MM, font_path="/nonexistent/x.ttf").render(Document().text("王堃"))
    # a slip the printer's own font can print needs no font at all
    assert Renderer(PAPER_58MM, font_path="/nonexistent/x.ttf").render(Document().text("王明"))


def test_font_path_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(find_cjk_font())
    monkeypatch.setenv("PRINTER_CJK_FONT", path)
    assert str(find_cjk_font(candidates=[])) == path
    monkeypatch.setenv("PRINTER_CJK_FONT", "/nonexistent/y.ttf")
    with pytest.raises(FontNotFound, match="PRINTER_CJK_FONT"):
        find_cjk_font()


def test_profiles_are_data() -> None:
    assert (PAPER_58MM.columns, PAPER_58MM.dots, PAPER_80MM.columns, PAPER_80MM.dots) == (32, 384, 48, 576)
    assert profile_from_dict({"name": "x", "paper_mm": 80, "columns": 42, "dots": 512}).charset == "GB2312"
    with pytest.raises(ValueError, match="charset"):
        profile_from_dict({"base": "58mm", "charset": "BIG5"})
    with pytest.raises(ValueError, match="unknown printer profile keys: colour"):
        profile_from_dict({"base": "58mm", "colour": True})


@pytest.mark.parametrize("build", [
    lambda: Document().text("x", width=9), lambda: Document().text("x", "justify"),  # type: ignore[arg-type]
    lambda: Document().rule(""), lambda: Document().rule("--"), lambda: Document().qr("x", size=17),
    lambda: Document().qr("x", ec="X"),  # type: ignore[arg-type]
    lambda: Document().barcode("受理1"), lambda: Document().feed(256),
])
def test_the_document_model_refuses_what_no_printer_can_do(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]
