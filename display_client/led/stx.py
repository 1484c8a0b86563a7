"""STX/ETX addressed frames with an XOR check, GB2312 text (protocol name "stx").

The common single-line RS-485 window strip: every strip on the bus listens to every frame and
shows the ones with its address (set by DIP switches). One frame shows one text:

    byte      value        meaning
    0         0x02         STX: a frame starts
    1         0x01–0xFE    the strip's address
    2         0x31         command '1': show this text (replaces what is shown)
    3 … n-3   text         GB2312, at most 64 bytes: printable ASCII 0x20–0x7E or two bytes
                           0xA1–0xFE each, so no control byte (STX, ETX) occurs inside
    n-2       0x03         ETX: the text ends
    n-1       check        XOR of bytes 1 … n-2 (address, command, text and ETX)

Example: address 6 shows "A007 请到06号窗口"

    02 06 31 41 30 30 37 20 C7 EB B5 BD 30 36 BA C5 B4 B0 BF DA 03 5E

No reply is expected (the bus is one-way); a strip that lost power shows nothing until the next
frame, which is why the driver re-sends everything after a reconnect and periodically.
"""
from __future__ import annotations

from functools import reduce
from operator import xor

from display_client.led.sign import DecodedFrame, LedSign

STX, ETX, SHOW = 0x02, 0x03, 0x31


def bcc(data: bytes) -> int:
    return reduce(xor, data, 0)


class StxSign(LedSign):
    name = "stx"
    charset = "gb2312"
    max_text_bytes = 64

    def frame(self, address: int, text: bytes) -> bytes:
        body = bytes([address, SHOW]) + text + bytes([ETX])
        return bytes([STX]) + body + bytes([bcc(body)])

    def split(self, data: bytes) -> tuple[list[DecodedFrame], bytes, int]:
        frames: list[DecodedFrame] = []
        bad = 0
        i = 0
        while True:
            start = data.find(STX, i)
            if start < 0:
                return frames, b"", bad + (1 if i < len(data) else 0)
            bad += 1 if start > i else 0
            end = data.find(ETX, start + 3)
            restart = data.find(STX, start + 3, end if end >= 0 else len(data))
            if restart >= 0:                  # a frame cut short by the next one
                bad, i = bad + 1, restart
                continue
            if end < 0 or end + 1 >= len(data):
                if len(data) - start > 3 + self.max_text_bytes + 2:
                    bad, i = bad + 1, start + 1
                    continue
                return frames, data[start:], bad  # unfinished: wait for more bytes
            body = data[start + 1:end + 1]
            try:
                if data[end + 1] != bcc(body):
                    raise ValueError("check byte")
                text = body[2:-1].decode(self.charset)
            except ValueError:
                bad, i = bad + 1, start + 1
                continue
            frames.append(DecodedFrame(body[0], body[1], text))
            i = end + 2
