from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from printer_driver.text import NO_LINE_START, char_width, clean, display_width, wrap


def test_widths_follow_the_printer_grid() -> None:
    assert [char_width(c) for c in "A1 中，。：（）①Ａ堃䶮"] == [1, 1, 1] + [2] * 10
    assert display_width("A001") == 4
    assert display_width("前面还有 5 人等候") == 17


def test_clean_drops_control_and_format_characters() -> None:
    assert clean("王\x1bE\x01明\u200b\t先生\x1dV\x00") == "王E明 先生V"


def test_chinese_wraps_anywhere_but_never_before_closing_punctuation() -> None:
    lines = wrap("办理事项：公司设立登记（含分公司），全程电子化", 16)
    assert lines == ["办理事项：公司设", "立登记（含分公", "司），全程电子化"]  # 司 moved down with ）
    assert not any(line[0] in NO_LINE_START for line in lines)
    assert wrap("一二三四五六七，八", 14) == ["一二三四五六", "七，八"]


def test_english_words_move_to_the_next_line_whole() -> None:
    assert wrap("If you miss your call, you will be called again", 16) == [
        "If you miss your", "call, you will", "be called again"]
    assert wrap("x" * 20, 8) == ["xxxxxxxx", "xxxxxxxx", "xxxx"]


def test_explicit_newlines_and_empty_lines_are_kept() -> None:
    assert wrap("甲\n\n乙", 32) == ["甲", "", "乙"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("ab c,中文，。：（）①Ａ堃䶮 ") + ["word", "\n"]), max_size=80).map("".join),
       st.integers(min_value=4, max_value=48))
def test_no_line_is_ever_wider_than_the_paper(text: str, columns: int) -> None:
    lines = wrap(text, columns)
    assert all(display_width(line) <= columns for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")  # only spaces at breaks go
