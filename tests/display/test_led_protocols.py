import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from display_client.led import (
    PROTOCOLS,
    Aa55Sign,
    LedTexts,
    StxSign,
    aa55,
    sign_for,
    stx,
)
from display_client.led.sign import fit
from display_client.privacy import scrub
from display_client.state import WindowView

CALL = "A007 请到06号窗口"

GOLDEN = {
    ("stx", 6, CALL): "02 06 31 41 30 30 37 20 C7 EB B5 BD 30 36 BA C5 B4 B0 BF DA 03 5E",
    ("stx", 12, "暂停服务"): "02 0C 31 D4 DD CD A3 B7 FE CE F1 03 2F",
    ("stx", 254, "欢迎光临"): "02 FE 31 BB B6 D3 AD B9 E2 C1 D9 03 FC",
    ("stx", 1, ""): "02 01 31 03 33",
    ("stx", 1, "1"): "02 01 31 31 03 02",  # by hand: 01 ^ 31 ^ 31 ^ 03 = 02
    # 號 is not GB2312 and has no compatibility form: a space; so is the emoji
    ("stx", 7, "B012 请到號07号窗口😀"): "02 07 31 42 30 31 32 20 C7 EB B5 BD 20 30 37 BA C5 B4 B0 BF DA 20 03 59",
    ("aa55", 6, CALL): "AA 55 06 10 11 41 30 30 37 20 C7 EB B5 BD 30 36 BA C5 B4 B0 BF DA 9A 49 0D",
    ("aa55", 12, "暂停服务"): "AA 55 0C 10 08 D4 DD CD A3 B7 FE CE F1 59 E7 0D",
    ("aa55", 254, "欢迎光临"): "AA 55 FE 10 08 BB B6 D3 AD B9 E2 C1 D9 61 4D 0D",
    ("aa55", 1, ""): "AA 55 01 10 00 2D C0 0D",
    ("aa55", 1, "1"): "AA 55 01 10 01 31 C0 59 0D",
    # GBK has 號 (CC 96); the emoji is still a space
    ("aa55", 7, "B012 请到號07号窗口😀"):
        "AA 55 07 10 14 42 30 31 32 20 C7 EB B5 BD CC 96 30 37 BA C5 B4 B0 BF DA 20 15 22 0D",
}


@pytest.mark.parametrize(("protocol", "address", "text"), list(GOLDEN))
def test_golden_frames(protocol, address, text):
    frame = sign_for(protocol).encode(address, text)
    assert frame == bytes.fromhex(GOLDEN[protocol, address, text])


@pytest.mark.parametrize("module", [stx, aa55])
def test_the_module_docstring_example_is_what_the_encoder_sends(module):
    example = re.search(r"^ {4}((?:[0-9A-F]{2} )+[0-9A-F]{2})$", module.__doc__, re.M).group(1)
    sign = StxSign() if module is stx else Aa55Sign()
    assert sign.encode(6, CALL) == bytes.fromhex(example)


def test_checksums():
    assert aa55.crc16_modbus(b"123456789") == 0x4B37  # the catalogue's check value for CRC-16/MODBUS
    assert stx.bcc(b"\x06\x31\x03") == 0x06 ^ 0x31 ^ 0x03


def test_window_texts():
    texts = LedTexts()
    assert texts.for_window(WindowView("06", state="open", number="A007")) == CALL
    assert texts.for_window(WindowView("06", state="open")) == "06号窗口"
    assert texts.for_window(WindowView("06", state="paused", reason="午休")) == "暂停服务"
    assert texts.for_window(WindowView("06", state="closed")) == "欢迎光临"
    custom = LedTexts(called="{number}→{window}", closed="{name}下班了")
    assert custom.for_window(WindowView("06", "商事", "closed")) == "商事下班了"
    assert StxSign(custom).text_for(WindowView("06", state="open", number="A1")) == "A1→06"


def test_substitution_uses_compatibility_forms_else_a_space():
    assert fit("ｶ²ﬁ™\t€", "gb2312") == "カ2fiTM  "
    assert fit("囧镕號·", "gb2312") == "    "
    assert fit("囧镕號·", "gbk") == "囧镕號·"
    assert StxSign().encode(3, "Ａ１") == StxSign().frame(3, "Ａ１".encode("gb2312"))  # showable as it is


def test_long_texts_are_cut_at_a_character_boundary():
    sign = StxSign()
    frame = sign.encode(6, "A" + "号" * 40)
    text = frame[3:-2]
    assert len(text) == 63 and text.decode("gb2312") == "A" + "号" * 31
    assert len(Aa55Sign().text_bytes("号" * 150)) == 200


def test_phone_and_id_numbers_never_reach_a_strip():
    for sign in (StxSign(), Aa55Sign()):
        assert not re.search(rb"\d{7,}", sign.text_bytes("123456²"))  # a digit made by substitution counts too
        text = sign.text_bytes("13800138000 请到06号窗口 43040219900101123X")
        assert not re.search(rb"\d{7,}", text)
        assert text.decode(sign.charset).strip().startswith("请到06号窗口")


@pytest.mark.parametrize("address", [0, 255, -1])
def test_addresses_outside_the_bus_range_are_refused(address):
    with pytest.raises(ValueError):
        StxSign().encode(address, "x")


def test_unknown_protocol():
    with pytest.raises(ValueError, match="aa55, stx"):
        sign_for("nope")


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_split_reads_frames_across_chunks_and_skips_corrupt_ones(protocol):
    sign = sign_for(protocol)
    a, b, c = sign.encode(6, CALL), sign.encode(7, "暂停服务"), sign.encode(8, "欢迎光临")
    corrupt = bytearray(b)
    corrupt[-2 if protocol == "stx" else -3] ^= 0xFF
    stream = b"\x00\xffjunk" + a + bytes(corrupt) + c + a[:7]
    frames, rest, bad = sign.split(stream)
    assert [(f.address, f.text) for f in frames] == [(6, CALL), (8, "欢迎光临")]
    assert bad >= 2 and rest == a[:7]
    frames, rest, _ = sign.split(rest + a[7:])
    assert [(f.address, f.text) for f in frames] == [(6, CALL)] and rest == b""
    # fed one byte at a time, a frame is still read once
    seen, buf = [], b""
    for byte in a + c:
        got, buf, _ = sign.split(buf + bytes([byte]))
        seen += got
    assert [f.text for f in seen] == [CALL, "欢迎光临"]


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80), address=st.integers(1, 254), protocol=st.sampled_from(sorted(PROTOCOLS)))
def test_any_text_is_sent_as_showable_characters_and_reads_back(text, address, protocol):
    sign = sign_for(protocol)
    frame = sign.encode(address, text)
    frames, rest, bad = sign.split(frame)
    assert rest == b"" and bad == 0 and len(frames) == 1
    shown = frames[0].text
    assert frames[0].address == address
    assert all(" " <= ch <= "~" or len(ch.encode(sign.charset)) == 2 for ch in shown)
    expected = scrub(fit(text, sign.charset))
    assert expected.startswith(shown)
    if len(expected.encode(sign.charset)) <= sign.max_text_bytes:
        assert shown == expected
