"""Display width and line wrapping for a thermal printer's character grid.

A printer's font A is 12×24 dots: ASCII takes one column, a Chinese character (and every other
character of the GB code sets, all East Asian Wide, Fullwidth or Ambiguous) takes two.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

# Characters a line may not start with (避头点): closing punctuation moves down with the
# character before it.
NO_LINE_START = frozenset("，。、；：？！）》」』】〕〉”’…,.;:?!)]}%")


@lru_cache(maxsize=8192)
def char_width(ch: str) -> int:
    """Columns taken by one character: 1 for ASCII and narrow characters, 2 for wide ones."""
    if ch < "\x80":
        return 1
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F", "A") else 1


def display_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(char_width(ch) for ch in text)


def clean(text: str) -> str:
    """Text safe to send to a printer: tabs become spaces; control and format characters
    (which could smuggle printer commands or zero-width marks into a slip) are dropped."""
    if text.isprintable():  # no control, format or separator character but the space
        return text
    text = text.replace("\t", " ")
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))


def wrap(text: str, columns: int) -> list[str]:
    """Split `text` into lines at most `columns` wide; '\\n' forces a break.

    Chinese breaks between any two characters except before closing punctuation; an ASCII word
    is moved to the next line whole when the line has a space to break at.
    """
    if columns < 2:
        raise ValueError("a line needs at least 2 columns")
    out: list[str] = []
    for para in text.split("\n"):
        para = clean(para)
        if display_width(para) <= columns:
            out.append(para)
            continue
        line: list[str] = []
        width = 0
        for ch in para:
            cw = char_width(ch)
            if width + cw > columns and line:
                carry: list[str] = []
                if ch in NO_LINE_START and len(line) > 1 and char_width(line[-1]) + cw <= columns:
                    carry = [line.pop()]
                elif ch.isascii() and ch.isalnum() and line[-1].isascii() and line[-1].isalnum():
                    space = "".join(line).rfind(" ")
                    if space > 0:
                        carry = line[space + 1:]
                        del line[space:]
                out.append("".join(line).rstrip(" "))
                line, width = carry, sum(char_width(c) for c in carry)
                if ch == " " and not line:
                    continue
            line.append(ch)
            width += cw
        out.append("".join(line))
    return out
