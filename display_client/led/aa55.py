"""0xAA 0x55 header, length-prefixed GBK text, CRC-16/MODBUS (protocol name "aa55").

The framing of many newer window-screen controllers: a length instead of an end marker, so any
byte may occur in the text, and a CRC instead of an XOR. One frame shows one text:

    byte      value        meaning
    0, 1      0xAA 0x55    header
    2         0x01–0xFE    the strip's address
    3         0x10         command: show this text (replaces what is shown)
    4         L            length of the text in bytes, 0–200
    5 … 4+L   text         GBK: printable ASCII or two-byte characters
    5+L, 6+L  CRC          CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF) of bytes 2 … 4+L,
                           low byte first
    7+L       0x0D         tail

Example: address 6 shows "A007 请到06号窗口"

    AA 55 06 10 11 41 30 30 37 20 C7 EB B5 BD 30 36 BA C5 B4 B0 BF DA 9A 49 0D

No reply is expected; the driver re-sends everything after a reconnect and periodically.
"""
from __future__ import annotations

from display_client.led.sign import DecodedFrame, LedSign

HEADER = b"\xaa\x55"
TAIL = 0x0D
SHOW = 0x10
OVERHEAD = 8  # header 2, address, command, length, CRC 2, tail


def crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class Aa55Sign(LedSign):
    name = "aa55"
    charset = "gbk"
    max_text_bytes = 200

    def frame(self, address: int, text: bytes) -> bytes:
        body = bytes([address, SHOW, len(text)]) + text
        return HEADER + body + crc16_modbus(body).to_bytes(2, "little") + bytes([TAIL])

    def split(self, data: bytes) -> tuple[list[DecodedFrame], bytes, int]:
        frames: list[DecodedFrame] = []
        bad = 0
        i = 0
        while True:
            start = data.find(HEADER, i)
            if start < 0:
                keep = data[-1:] if data[-1:] == HEADER[:1] else b""  # a header split in two
                return frames, keep, bad + (1 if len(data) - len(keep) > i else 0)
            bad += 1 if start > i else 0
            if len(data) - start < 5:
                return frames, data[start:], bad
            length = data[start + 4]
            end = start + OVERHEAD + length
            if length > self.max_text_bytes:
                bad, i = bad + 1, start + 1
                continue
            if len(data) < end:
                return frames, data[start:], bad
            body = data[start + 2:start + 5 + length]
            crc = int.from_bytes(data[end - 3:end - 1], "little")
            try:
                if data[end - 1] != TAIL or crc != crc16_modbus(body):
                    raise ValueError("tail or CRC")
                text = body[3:].decode(self.charset)
            except ValueError:
                bad, i = bad + 1, start + 1
                continue
            frames.append(DecodedFrame(body[0], body[1], text))
            i = end
