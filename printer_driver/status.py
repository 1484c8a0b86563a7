"""Printer status from real-time DLE EOT n answers (one byte each, in the order asked).

  n = 1 printer status   bit 3: offline
  n = 2 offline cause    bit 2: cover open · bit 5: printing stopped by paper end · bit 6: error
  n = 4 roll paper       bits 2,3: paper near end · bits 5,6: paper end
Every answer has bits 1 and 4 set and bits 0 and 7 clear (0x12 is "all clear").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from printer_driver.commands import status_query

QUERY = status_query(1) + status_query(2) + status_query(4)  # answered by 3 bytes
BASE = 0x12


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What a printer said about itself.

    `error` is None when the printer can print, else why not, most pressing first: "unreachable"
    (no connection), "no_response" (connected, no answer), "cover_open", "paper_out",
    "printer_error", "offline" (i18n keys `status.<error>`). `polled` is False when the transport
    cannot ask (a plain device file): the printer is then assumed ready.
    """

    online: bool
    cover_open: bool = False
    paper_near_end: bool = False
    paper_out: bool = False
    error: str | None = None
    polled: bool = True

    @property
    def ready(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def unreachable(cls, error: str = "unreachable") -> PrinterStatus:
        return cls(online=False, error=error)


READY = PrinterStatus(online=True)
ASSUMED_READY = PrinterStatus(online=True, polled=False)


def is_status_byte(b: int) -> bool:
    return b & 0x93 == BASE


def parse_status(answer: bytes) -> PrinterStatus:
    """The status from the three answers to QUERY (DLE EOT 1, 2, 4)."""
    if len(answer) != 3 or not all(is_status_byte(b) for b in answer):
        raise ValueError(f"not an answer to DLE EOT 1, 2, 4: {answer.hex(' ')}")
    printer, offline, paper = answer
    online = not printer & 0x08
    cover_open = bool(offline & 0x04)
    paper_out = bool(paper & 0x60 or offline & 0x20)
    failed = bool(offline & 0x40)
    error = ("cover_open" if cover_open else "paper_out" if paper_out else "printer_error" if failed
             else None if online else "offline")
    return PrinterStatus(online, cover_open, bool(paper & 0x0C), paper_out, error)


def answer(n: int, status: PrinterStatus) -> bytes:
    """The byte a printer in `status` answers to DLE EOT n (what the simulator sends)."""
    if n == 1:
        return bytes([BASE | (0 if status.online else 0x08)])
    if n == 2:
        return bytes([BASE | (0x04 if status.cover_open else 0) | (0x20 if status.paper_out else 0)
                      | (0x40 if status.error == "printer_error" else 0)])
    if n == 4:
        return bytes([BASE | (0x0C if status.paper_near_end else 0) | (0x60 if status.paper_out else 0)])
    return bytes([BASE])  # n = 3, error cause: nothing to report
