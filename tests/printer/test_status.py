from __future__ import annotations

import pytest

from printer_driver.status import QUERY, READY, PrinterStatus, answer, parse_status


def test_the_query_is_dle_eot_1_2_4() -> None:
    assert QUERY == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"


@pytest.mark.parametrize(("reply", "expected"), [
    (b"\x12\x12\x12", PrinterStatus(online=True)),
    (b"\x12\x12\x1e", PrinterStatus(online=True, paper_near_end=True)),
    (b"\x1a\x16\x12", PrinterStatus(online=False, cover_open=True, error="cover_open")),
    (b"\x1a\x32\x72", PrinterStatus(online=False, paper_out=True, error="paper_out")),
    (b"\x1a\x32\x7e", PrinterStatus(online=False, paper_near_end=True, paper_out=True, error="paper_out")),
    (b"\x1a\x12\x72", PrinterStatus(online=False, paper_out=True, error="paper_out")),
    (b"\x1a\x36\x72", PrinterStatus(online=False, cover_open=True, paper_out=True, error="cover_open")),
    (b"\x1a\x52\x12", PrinterStatus(online=False, error="printer_error")),
    (b"\x1a\x12\x12", PrinterStatus(online=False, error="offline")),
])
def test_parse(reply: bytes, expected: PrinterStatus) -> None:
    status = parse_status(reply)
    assert status == expected
    assert status.ready is (expected.error is None)


@pytest.mark.parametrize("reply", [b"\x12\x12", b"\x00\x12\x12", b"\x12\x12\x13", b"\x92\x12\x12", b"?\x12\x12"])
def test_anything_else_is_not_an_answer(reply: bytes) -> None:
    with pytest.raises(ValueError, match="not an answer"):
        parse_status(reply)


@pytest.mark.parametrize("status", [
    READY, PrinterStatus(online=True, paper_near_end=True),
    PrinterStatus(online=False, cover_open=True, error="cover_open"),
    PrinterStatus(online=False, paper_out=True, paper_near_end=True, error="paper_out"),
    PrinterStatus(online=False, error="printer_error"),
])
def test_answers_read_back_as_the_same_status(status: PrinterStatus) -> None:
    assert parse_status(answer(1, status) + answer(2, status) + answer(4, status)) == status


def test_unreachable_and_dict() -> None:
    s = PrinterStatus.unreachable()
    assert not s.ready and s.to_dict() == {"online": False, "cover_open": False, "paper_near_end": False,
                                           "paper_out": False, "error": "unreachable", "polled": True}
