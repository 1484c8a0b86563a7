from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from escpos import printer as escpos_printer

from printer_driver.layouts import ticket_slip
from printer_driver.profiles import PAPER_58MM
from printer_driver.render import render
from printer_driver.simulator import PrinterSimulator
from printer_driver.status import ASSUMED_READY, READY, PrinterStatus
from printer_driver.transports import (
    CaptureTransport,
    FileTransport,
    NetworkTransport,
    NoResponse,
    SerialTransport,
    TransportError,
    UsbTransport,
    make_transport,
)
from tests.printer.conftest import ticket_data

TICKET = render(ticket_slip(ticket_data(1)), PAPER_58MM)


def net(sim: PrinterSimulator) -> NetworkTransport:
    return NetworkTransport("127.0.0.1", sim.port, connect_timeout=0.5, write_timeout=0.5, status_timeout=0.3)


def test_network_sends_exact_bytes_and_reads_status(sim: PrinterSimulator) -> None:
    t = net(sim)
    t.open()
    assert t.read_status() == READY
    t.write(TICKET)
    assert t.read_status() == READY  # answered after the whole slip arrived
    t.close()
    assert sim.wait_for_slips(1)[0].raw == TICKET


def test_network_refused_is_a_clear_error_with_nothing_sent(sim: PrinterSimulator) -> None:
    sim.go_offline("refuse")
    t = net(sim)
    with pytest.raises(TransportError, match=r"tcp://127\.0\.0\.1:\d+: cannot connect.*refused") as e:
        t.open()
    assert e.value.sent == 0


def test_network_status_faults(sim: PrinterSimulator) -> None:
    t = net(sim)
    t.open()
    sim.paper_near_end()
    assert t.read_status() == PrinterStatus(online=True, paper_near_end=True)
    sim.paper_out()
    assert t.read_status().error == "paper_out"
    sim.open_cover()
    assert t.read_status().error == "cover_open"
    sim.recover()
    sim.paper_near_end(False)
    assert t.read_status() == READY


def test_network_stalled_printer_is_no_response_within_the_timeout(sim: PrinterSimulator) -> None:
    t = net(sim)
    t.open()
    sim.stall()
    started = time.monotonic()
    with pytest.raises(NoResponse, match="no answer to a status query within 0.3 s"):
        t.read_status()
    assert time.monotonic() - started < 1.0
    with pytest.raises(TransportError, match="not open"):  # the connection was dropped: a late answer is no answer
        t.read_status()


def test_network_write_to_a_dropped_connection_says_how_much_was_sent(sim: PrinterSimulator) -> None:
    t = net(sim)
    t.open()
    assert t.read_status() == READY
    sim.go_offline("close", after_bytes=5000)
    with pytest.raises(TransportError, match="write failed after") as e:
        for _ in range(200):  # until the kernel's buffers notice the reset
            t.write(b"\n" * 50_000)
    assert e.value.sent is not None


def test_network_stray_bytes_are_not_taken_for_the_answer(sim: PrinterSimulator) -> None:
    t = net(sim)
    t.open()
    t.write(b"\x10\x04\x04")  # a status query hidden in data: its answer arrives unasked
    time.sleep(0.1)
    assert t.read_status() == READY


def test_serial_over_a_pyserial_url(sim: PrinterSimulator) -> None:
    t = SerialTransport(f"socket://127.0.0.1:{sim.port}", status_timeout=0.3, write_timeout=0.5)
    t.open()
    assert t.read_status() == READY
    t.write(TICKET)
    assert t.read_status() == READY
    assert sim.wait_for_slips(1)[0].raw == TICKET
    sim.stall()
    with pytest.raises(NoResponse):
        t.read_status()
    t.close()


def test_serial_device_that_does_not_exist() -> None:
    with pytest.raises(TransportError, match="serial:/dev/nonexistent-tty: cannot open") as e:
        SerialTransport("/dev/nonexistent-tty").open()
    assert e.value.sent == 0


def test_file_transport_writes_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "lp0"
    t = FileTransport(str(path))
    t.open()
    t.write(TICKET)
    assert t.read_status() == ASSUMED_READY and ASSUMED_READY.ready and not ASSUMED_READY.polled
    t.close()
    assert path.read_bytes() == TICKET
    with pytest.raises(TransportError, match="cannot open"):
        FileTransport(str(tmp_path / "no" / "dir")).open()


def test_usb_without_pyusb_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(escpos_printer.Usb, "is_usable", staticmethod(lambda: False))
    with pytest.raises(TransportError, match=r"usb:0416:5011: USB printing needs pyusb .*libusb-1.0-0"):
        UsbTransport(0x0416, 0x5011).open()


def test_capture_transport() -> None:
    t = CaptureTransport(fail_after=10)
    t.open()
    t.write(b"12345")
    with pytest.raises(TransportError) as e:
        t.write(b"6789abcdef")
    assert e.value.sent == 5 and t.data == b"123456789a"
    t.open()
    t.status = None
    with pytest.raises(NoResponse):
        t.read_status()


def test_make_transport() -> None:
    assert isinstance(make_transport({"kind": "network", "host": "192.0.2.31"}), NetworkTransport)
    usb = make_transport({"kind": "usb", "vendor_id": "0x0416", "product_id": "0x5011"})
    assert isinstance(usb, UsbTransport) and usb.vendor_id == 0x0416
    assert make_transport({"kind": "serial", "port": "/dev/ttyUSB0", "baudrate": 115200}).name == "serial:/dev/ttyUSB0"
    assert make_transport({"kind": "file", "path": "/dev/usb/lp0"}).name == "file:/dev/usb/lp0"
    with pytest.raises(ValueError, match="unknown printer transport kind 'bluetooth'"):
        make_transport({"kind": "bluetooth"})


def test_simulator_answers_raw_status_queries(sim: PrinterSimulator) -> None:
    with socket.create_connection(sim.address, timeout=1) as s:
        def ask(n: int) -> bytes:
            s.sendall(b"\x10\x04" + bytes([n]))
            return s.recv(1)
        assert [ask(1), ask(2), ask(3), ask(4)] == [b"\x12"] * 4
        sim.paper_out()
        assert [ask(1), ask(2), ask(4)] == [b"\x1a", b"\x32", b"\x72"]
        sim.recover()
        sim.open_cover()
        assert [ask(1), ask(2), ask(4)] == [b"\x1a", b"\x16", b"\x12"]
