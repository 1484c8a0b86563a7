from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from printer_driver.decode import SlipBuilder, Tokenizer, decode_slips, tokenize
from printer_driver.glyphs import load_font
from printer_driver.layouts import acceptance_receipt, ticket_slip
from printer_driver.profiles import PAPER_58MM, PAPER_80MM
from printer_driver.render import render
from printer_driver.simulator import PrinterSimulator
from tests.printer.conftest import ticket_data

REPO = Path(__file__).resolve().parents[2]


def send(sim: PrinterSimulator, data: bytes) -> None:
    with socket.create_connection(sim.address, timeout=2) as s:
        s.sendall(data)


def test_the_tokenizer_reads_any_chunking_the_same() -> None:
    data = render(ticket_slip(ticket_data(1)), PAPER_58MM) * 2 + render(ticket_slip(ticket_data(2, matter="王堃")),
                                                                       PAPER_58MM)
    whole = tokenize(data)
    t = Tokenizer()
    one_by_one = [tok for i in range(len(data)) for tok in t.feed(data[i:i + 1])] + t.flush()
    assert one_by_one == whole
    assert b"".join(tok.raw for tok in whole) == data
    assert {tok.kind for tok in whole} >= {"init", "chinese_on", "align", "size", "bold", "text", "lf", "feed",
                                            "2d", "raster", "cut"}


def test_slips_are_split_on_cut_and_keep_their_exact_bytes(sim: PrinterSimulator) -> None:
    first, second = (render(ticket_slip(ticket_data(n)), PAPER_58MM) for n in (1, 2))
    send(sim, first + second)
    slips = sim.wait_for_slips(2)
    assert [s.raw for s in slips] == [first, second]
    assert [s.lines[2].text for s in slips] == ["A001", "A002"]


def test_preview_pictures_of_each_slip(tmp_path: Path) -> None:
    with PrinterSimulator(profile=PAPER_80MM, preview_dir=tmp_path) as sim:
        receipt = {"hall_name": "衡阳市政务服务中心", "application_number": "HY241121-0007", "matter": "公司设立登记",
                   "applicant_name": "李䶮", "materials_received": ["公司章程（原件）①"], "promised_date": "2024-11-28",
                   "accepted_at": "2024-11-21T09:30", "status_url": "http://192.0.2.10:8080/a/7"}
        send(sim, render(ticket_slip(ticket_data(1)), PAPER_80MM) + render(acceptance_receipt(receipt), PAPER_80MM))
        sim.wait_for_slips(2)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["slip-0001.png", "slip-0002.png"]
    ticket = Image.open(tmp_path / "slip-0001.png")
    assert ticket.width == 576 and ticket.height > 600
    # the number line is drawn 4 × 4, as the printer would
    font = load_font()
    number = font.line("A001", dots=576, width=4, height=4, bold=True, align="center")
    assert _contains(ticket.convert("1"), number)


def _contains(page: Image.Image, strip: Image.Image) -> bool:
    rows = [page.crop((0, y, page.width, y + strip.height)).tobytes() for y in range(page.height - strip.height)]
    return strip.tobytes() in rows


def test_paper_out_tears_the_slip_and_drops_the_rest_of_the_job(sim: PrinterSimulator) -> None:
    ticket = render(ticket_slip(ticket_data(1)), PAPER_58MM)
    sim.paper_out(after_bytes=200)
    send(sim, ticket + ticket)
    deadline = time.monotonic() + 5
    while not sim.torn and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert sim.slips == [] and len(sim.torn) == 1  # the second ticket was dropped too
    torn = sim.torn[0]
    assert not torn.cut and ticket.startswith(torn.raw) and 150 < len(torn.raw) <= 200
    sim.recover()
    send(sim, ticket)
    assert sim.wait_for_slips(1)[0].raw == ticket


def test_offline_refuses_connections_until_it_recovers(sim: PrinterSimulator) -> None:
    sim.go_offline("refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(sim.address, timeout=1)
    sim.recover()
    send(sim, render(ticket_slip(ticket_data(1)), PAPER_58MM))
    assert len(sim.wait_for_slips(1)) == 1


def test_offline_close_accepts_and_hangs_up(sim: PrinterSimulator) -> None:
    sim.go_offline("close")
    with socket.create_connection(sim.address, timeout=1) as s:
        assert s.recv(1) == b""


def test_stall_keeps_the_bytes_until_it_reads_again(sim: PrinterSimulator) -> None:
    ticket = render(ticket_slip(ticket_data(1)), PAPER_58MM)
    sim.stall()
    with socket.create_connection(sim.address, timeout=1) as s:
        s.sendall(ticket + b"\x10\x04\x04")
        s.settimeout(0.2)
        with pytest.raises(TimeoutError):
            s.recv(1)
        assert sim.slips == []
        sim.recover()
        s.settimeout(2)
        assert s.recv(1) == b"\x12"
    assert sim.wait_for_slips(1)[0].raw == ticket


def test_decode_reports_a_slip_without_a_cut_as_torn() -> None:
    data = render(ticket_slip(ticket_data(1)), PAPER_58MM)
    (slip,) = decode_slips(data[:-4])
    assert not slip.cut and "A001" in slip.text
    assert SlipBuilder().pending is False


@pytest.mark.timeout(60)
def test_standalone_command(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "printer_driver.simulator", "--port", "0", "--paper", "58mm",
                             "--preview-dir", str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        banner = proc.stdout.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", banner).group(1))  # type: ignore[union-attr]
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(render(ticket_slip(ticket_data(7)), PAPER_58MM))
        proc.stdout.readline()  # the list of commands
        assert proc.stdout.readline().startswith("slip 1: A007")
        proc.stdin.write("paper-out\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "online, paper_out; 1 slips, 0 torn"
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "slip-0001.png").is_file()
