"""A last guard on everything the client shows or says: no phone or ID number.

The server never puts them in events; this makes sure a mistake upstream (a number typed into a
ticket or window field) still never reaches an LED strip or a loudspeaker. Ticket numbers and
window codes are short (A007, 06); any run of seven or more digits is not one of them.
"""
from __future__ import annotations

import re

LONG_DIGITS = re.compile(r"[0-9０-９]{7,}")


def has_long_digits(text: str) -> bool:
    return LONG_DIGITS.search(text) is not None


def scrub(text: str) -> str:
    """The text with every run of seven or more digits blanked out."""
    return LONG_DIGITS.sub(lambda m: " " * len(m.group()), text)
