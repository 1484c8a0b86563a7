"""Masking of personal data for every public surface."""
from __future__ import annotations

import re
import unicodedata


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(value: str | None) -> str | None:
    if not value:
        return value
    v = value.strip()
    if len(v) <= 8:
        return v[:1] + "*" * (len(v) - 1)
    return v[:4] + "*" * (len(v) - 8) + v[-4:]


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    n = name.strip()
    if len(n) <= 1:
        return n
    if len(n) == 2:
        return n[0] + "*"
    return n[0] + "*" * (len(n) - 2) + n[-1]


# Personal numbers that must never reach a public surface (screens, LED strips, loudspeakers):
# a mainland mobile number (11 digits from 13x-19x, optionally +86 and spaced 3-4-4) and a
# resident ID number (18 characters, the last a digit or X; the old 15-digit form too).
PERSONAL_NUMBER = re.compile(
    r"(?P<phone>(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d))"
    r"|(?P<id_number>(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z]))")


def personal_number(text: str) -> str | None:
    """"phone" or "id_number" when the text holds one (full-width digits count), else None."""
    m = PERSONAL_NUMBER.search(unicodedata.normalize("NFKC", text))
    return m.lastgroup if m else None
