"""The byte link to an LED bus, from a pyserial URL (no framing here; see the protocol modules).

    /dev/ttyUSB0                 a USB-RS485 adapter (or /dev/ttyS0, a pseudo-terminal, …)
    socket://192.0.2.20:4001     an RS-485-over-TCP converter (raw TCP server mode)
    loop://                      a loopback, for tests

Every failure is a `LinkError`; the driver then closes the link and opens it again later.
`drain()` reads whatever came back (some controllers acknowledge) and is how a dropped TCP
converter or an unplugged adapter is noticed even while nothing is being sent.
"""
from __future__ import annotations

import contextlib

import serial


class LinkError(OSError):
    pass


class SerialLink:
    def __init__(self, url: str, *, baudrate: int = 9600, write_timeout_s: float = 2.0) -> None:
        self.url = url
        self.baudrate = baudrate
        self.write_timeout_s = write_timeout_s
        self._port: serial.Serial | None = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        if self._port is not None:
            return
        try:
            self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0,
                                               write_timeout=self.write_timeout_s)
        except (serial.SerialException, OSError, ValueError) as e:
            raise LinkError(f"{self.url}: {e}") from None

    def write(self, data: bytes) -> None:
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError) as e:
            self.close()
            raise LinkError(f"{self.url}: write failed: {e}") from None

    def drain(self) -> bytes:
        """What the bus sent back since the last call (b"" mostly)."""
        port = self._require()
        try:
            waiting = port.in_waiting
            return port.read(waiting) if waiting else b""
        except (serial.SerialException, OSError) as e:
            self.close()
            raise LinkError(f"{self.url}: link lost: {e}") from None

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    def _require(self) -> serial.Serial:
        if self._port is None:
            raise LinkError(f"{self.url}: not open")
        return self._port
