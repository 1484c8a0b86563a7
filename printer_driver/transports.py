"""Getting bytes to a printer: network (raw TCP 9100), serial, USB, a device file, or memory.

One interface (`Transport`): open / write / read_status / close. Each wraps the matching
python-escpos printer class for opening and closing the connection; writes and status reads
go through our own code where python-escpos cannot tell how far a write got or how long to
wait for an answer.

A failed write raises `TransportError` with `sent`: how many bytes left this machine before
it failed (0: none, so nothing can have printed; None: unknown). `read_status` raises
`NoResponse` when the printer stays silent and `TransportError` when the connection is gone.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any, Protocol, cast

import serial
from escpos import printer as escpos_printer
from escpos.exceptions import Error as EscposError

from printer_driver.status import ASSUMED_READY, QUERY, READY, PrinterStatus, parse_status


def _reason(e: BaseException) -> str:
    """The underlying error of a python-escpos exception, on one line."""
    return " ".join(str(e.__context__ or e).split())


class TransportError(Exception):
    def __init__(self, message: str, *, sent: int | None = None) -> None:
        super().__init__(message)
        self.sent = sent


class NoResponse(TransportError):
    """The printer did not answer a status query in time (stalled, or busy with a fault)."""


class Transport(Protocol):
    name: str

    def open(self) -> None: ...
    def write(self, data: bytes) -> None: ...
    def read_status(self) -> PrinterStatus: ...
    def close(self) -> None: ...


class NetworkTransport:
    """A printer's raw TCP port (9100), through python-escpos's Network class.

    The connect timeout applies to opening, the write timeout to each chunk sent, the status
    timeout to the answers of a status query. Data is sent in chunks so a failure can tell how
    much was sent.
    """

    def __init__(self, host: str, port: int = 9100, *, connect_timeout: float = 3.0, write_timeout: float = 10.0,
                 status_timeout: float = 2.0, chunk: int = 4096) -> None:
        self.host, self.port = host, port
        self.connect_timeout, self.write_timeout, self.status_timeout = connect_timeout, write_timeout, status_timeout
        self.chunk = chunk
        self.name = f"tcp://{host}:{port}"
        self._printer: escpos_printer.Network | None = None

    @property
    def _sock(self) -> socket.socket:
        if self._printer is None:
            raise TransportError(f"{self.name}: not open", sent=0)
        return cast(socket.socket, self._printer.device)

    def open(self) -> None:
        self.close()
        p = escpos_printer.Network(self.host, self.port, timeout=self.connect_timeout)
        try:
            p.open()
        except EscposError as e:
            raise TransportError(f"{self.name}: cannot connect: {_reason(e)}", sent=0) from e
        p.device.settimeout(self.write_timeout)
        p.device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._printer = p

    def write(self, data: bytes) -> None:
        sock, sent, view = self._sock, 0, memoryview(data)
        try:
            while sent < len(data):
                sent += sock.send(view[sent:sent + self.chunk])
        except OSError as e:
            self.close()
            raise TransportError(f"{self.name}: write failed after {sent} of {len(data)} bytes: {e}", sent=sent) from e

    def read_status(self) -> PrinterStatus:
        sock = self._sock
        try:
            self._drain(sock)
            sock.sendall(QUERY)
            return parse_status(self._read(sock, 3))
        except TransportError:
            self.close()  # after no answer, a late one would be taken for the next query's
            raise
        except (OSError, ValueError) as e:
            self.close()
            raise TransportError(f"{self.name}: status query failed: {e}") from e

    def _drain(self, sock: socket.socket) -> None:
        """Drop bytes already waiting: a stray answer must not be read as this query's."""
        sock.setblocking(False)
        try:
            while True:
                if not sock.recv(256):
                    raise TransportError(f"{self.name}: connection closed by the printer")
        except BlockingIOError:
            pass
        finally:
            sock.settimeout(self.write_timeout)

    def _read(self, sock: socket.socket, n: int) -> bytes:
        deadline = time.monotonic() + self.status_timeout
        buf = b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoResponse(f"{self.name}: no answer to a status query within {self.status_timeout} s")
            sock.settimeout(left)
            try:
                part = sock.recv(n - len(buf))
            except TimeoutError:
                continue
            if not part:
                raise TransportError(f"{self.name}: connection closed by the printer")
            buf += part
        sock.settimeout(self.write_timeout)
        return buf

    def close(self) -> None:
        if self._printer is not None:
            self._printer.close()
            self._printer = None


class SerialTransport:
    """A serial printer through python-escpos's Serial class; `port` is a device (/dev/ttyS0)
    or any pyserial URL (socket://host:port, rfc2217://…) opened with `serial_for_url`."""

    def __init__(self, port: str, *, baudrate: int = 9600, write_timeout: float = 10.0, status_timeout: float = 2.0,
                 **options: Any) -> None:
        self.port, self.baudrate = port, baudrate
        self.write_timeout, self.status_timeout = write_timeout, status_timeout
        self.options = options  # bytesize, parity, stopbits, xonxoff, dsrdtr
        self.name = f"serial:{port}"
        self._printer: escpos_printer.Serial | None = None

    def open(self) -> None:
        self.close()
        p = escpos_printer.Serial(self.port, baudrate=self.baudrate, timeout=self.status_timeout, **self.options)
        try:
            if "://" in self.port:
                p.device = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=self.status_timeout,
                                                 write_timeout=self.write_timeout)
            else:
                p.open()
                p.device.write_timeout = self.write_timeout
        except (EscposError, serial.SerialException, ValueError) as e:
            raise TransportError(f"{self.name}: cannot open: {_reason(e)}", sent=0) from e
        self._printer = p

    def _port(self) -> Any:
        if self._printer is None:
            raise TransportError(f"{self.name}: not open", sent=0)
        return self._printer.device

    def write(self, data: bytes) -> None:
        port = self._port()
        try:
            port.write(data)
            port.flush()
        except serial.SerialException as e:  # includes write timeouts; how much went out is unknown
            self.close()
            raise TransportError(f"{self.name}: write failed: {e}", sent=None) from e

    def read_status(self) -> PrinterStatus:
        port = self._port()
        try:
            port.reset_input_buffer()
            port.write(QUERY)
            answer = port.read(3)
        except serial.SerialException as e:
            self.close()
            raise TransportError(f"{self.name}: status query failed: {e}") from e
        if len(answer) < 3:
            self.close()
            raise NoResponse(f"{self.name}: no answer to a status query within {self.status_timeout} s")
        try:
            return parse_status(answer)
        except ValueError as e:
            self.close()
            raise TransportError(f"{self.name}: {e}") from e

    def close(self) -> None:
        if self._printer is not None:
            try:
                self._printer.close()
            except (OSError, serial.SerialException):  # closing a port that already failed
                pass
            self._printer = None


class UsbTransport:
    """A USB printer through python-escpos's Usb class (needs pyusb and libusb)."""

    def __init__(self, vendor_id: int, product_id: int, *, timeout_ms: int = 5000, in_ep: int = 0x82,
                 out_ep: int = 0x01) -> None:
        self.vendor_id, self.product_id = vendor_id, product_id
        self.timeout_ms, self.in_ep, self.out_ep = timeout_ms, in_ep, out_ep
        self.name = f"usb:{vendor_id:04x}:{product_id:04x}"
        self._printer: escpos_printer.Usb | None = None

    def open(self) -> None:
        if not escpos_printer.Usb.is_usable():
            raise TransportError(f"{self.name}: USB printing needs pyusb (pip install pyusb) and libusb "
                                 "(Debian libusb-1.0-0)", sent=0)
        self.close()
        p = escpos_printer.Usb(self.vendor_id, self.product_id, timeout=self.timeout_ms, in_ep=self.in_ep,
                               out_ep=self.out_ep)
        try:
            p.open()
        except EscposError as e:
            raise TransportError(f"{self.name}: cannot open: {_reason(e)}", sent=0) from e
        self._printer = p

    def _p(self) -> escpos_printer.Usb:
        if self._printer is None:
            raise TransportError(f"{self.name}: not open", sent=0)
        return self._printer

    def write(self, data: bytes) -> None:
        try:
            self._p()._raw(data)
        except TransportError:
            raise
        except Exception as e:  # usb.core.USBError and its timeout
            self.close()
            raise TransportError(f"{self.name}: write failed: {e}", sent=None) from e

    def read_status(self) -> PrinterStatus:
        p = self._p()
        try:
            p._raw(QUERY)
            answer = b""
            while len(answer) < 3:
                answer += bytes(p._read())
        except Exception as e:  # a USB read timeout means no answer
            self.close()
            raise NoResponse(f"{self.name}: no answer to a status query: {e}") from e
        return parse_status(answer[-3:])

    def close(self) -> None:
        if self._printer is not None:
            self._printer.close()
            self._printer = None


class FileTransport:
    """A device file (/dev/usb/lp0) or any file, through python-escpos's File class. A device
    file answers no status query, so the printer is assumed ready (`polled` False)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"file:{path}"
        self._printer: escpos_printer.File | None = None

    def open(self) -> None:
        self.close()
        p = escpos_printer.File(self.path)
        try:
            p.open()
        except EscposError as e:
            raise TransportError(f"{self.name}: cannot open: {_reason(e)}", sent=0) from e
        self._printer = p

    def write(self, data: bytes) -> None:
        if self._printer is None:
            raise TransportError(f"{self.name}: not open", sent=0)
        try:
            self._printer._raw(data)
        except OSError as e:
            self.close()
            raise TransportError(f"{self.name}: write failed: {e}", sent=None) from e

    def read_status(self) -> PrinterStatus:
        if self._printer is None:
            raise TransportError(f"{self.name}: not open", sent=0)
        return ASSUMED_READY

    def close(self) -> None:
        if self._printer is not None:
            self._printer.close()
            self._printer = None


class CaptureTransport:
    """In memory, for tests: keeps what was written (python-escpos's Dummy) and answers status
    queries with `status` (None: no answer). `fail_after` makes the connection drop once that
    many bytes in all were written; `refuse` makes open fail."""

    name = "capture"

    def __init__(self, status: PrinterStatus | None = READY, *, fail_after: int | None = None) -> None:
        self.status = status
        self.fail_after = fail_after
        self.refuse = False
        self.is_open = False
        self._dummy = escpos_printer.Dummy()

    @property
    def data(self) -> bytes:
        return bytes(self._dummy.output)

    def open(self) -> None:
        if self.refuse:
            raise TransportError("capture: refused", sent=0)
        self.is_open = True

    def write(self, data: bytes) -> None:
        if not self.is_open:
            raise TransportError("capture: not open", sent=0)
        if self.fail_after is not None and len(self.data) + len(data) > self.fail_after:
            sent = max(self.fail_after - len(self.data), 0)
            self._dummy._raw(data[:sent])
            self.fail_after = None
            self.is_open = False
            raise TransportError(f"capture: connection dropped after {sent} bytes", sent=sent)
        self._dummy._raw(data)

    def read_status(self) -> PrinterStatus:
        if not self.is_open:
            raise TransportError("capture: not open", sent=0)
        if self.status is None:
            self.is_open = False
            raise NoResponse("capture: no answer")
        return self.status

    def close(self) -> None:
        self.is_open = False


def make_transport(spec: Mapping[str, Any]) -> Transport:
    """A transport from configuration: {"kind": "network", "host": "192.0.2.31", "port": 9100},
    {"kind": "serial", "port": "/dev/ttyUSB0", "baudrate": 115200}, {"kind": "usb",
    "vendor_id": "0x0416", "product_id": "0x5011"}, {"kind": "file", "path": "/dev/usb/lp0"};
    other keys are passed to the transport's constructor."""
    options = dict(spec)
    kind = options.pop("kind", None)
    if kind == "network":
        return NetworkTransport(**options)
    if kind == "serial":
        return SerialTransport(**options)
    if kind == "usb":
        for key in ("vendor_id", "product_id"):
            if isinstance(options.get(key), str):
                options[key] = int(options[key], 0)
        return UsbTransport(**options)
    if kind == "file":
        return FileTransport(**options)
    raise ValueError(f"unknown printer transport kind {kind!r}: network, serial, usb or file")
