"""A network receipt printer on 127.0.0.1, for tests and for seeing slips without paper.

It reads ESC/POS from any number of connections (raw TCP, like port 9100), keeps every slip it
printed (split on cut), answers DLE EOT status queries from its state, and can be told to fail:

  go_offline("refuse")   closes its port: connections are refused, open ones dropped
  go_offline("close")    accepts connections and closes them at once, drops open ones
  paper_out()            DLE EOT reports paper out; nothing more is printed (a slip being
                         printed is torn off) until paper is loaded and a new job starts (ESC @)
  open_cover()           likewise, reported as cover open
  stall()                keeps connections but stops reading them (nothing is answered)
  recover()              back to normal: port open, paper loaded, cover shut, reading again

Each fault takes `after_bytes`: it strikes once that many more bytes were received, so a test
can cut a job in the middle. With `preview_dir`, each slip is also saved as a PNG picture.

    python -m printer_driver.simulator --port 9100 [--paper 58mm] [--preview-dir DIR]
"""
from __future__ import annotations

import argparse
import errno
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Self

from PIL import Image

from printer_driver.decode import Slip, SlipBuilder, Tokenizer, preview
from printer_driver.glyphs import load_font
from printer_driver.profiles import PROFILES, PrinterProfile
from printer_driver.status import PrinterStatus, answer

Mode = Literal["online", "refuse", "close", "stalled"]
_TICK = 0.02  # how often idle threads look at the state


class PrinterSimulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, profile: PrinterProfile = PROFILES["80mm"],
                 preview_dir: str | Path | None = None, font_path: str | None = None,
                 receive_buffer: int = 16384) -> None:
        self.host, self.profile = host, profile
        self.preview_dir = Path(preview_dir) if preview_dir else None
        self.font_path = font_path
        self.receive_buffer = receive_buffer
        self.slips: list[Slip] = []       # complete slips, in the order printed
        self.torn: list[Slip] = []        # slips cut short by a fault or a dropped connection
        self.received = 0                 # bytes received, in all
        self.status_queries = 0
        self.connections = 0
        self._mode: Mode = "online"
        self._paper_out = self._cover_open = self._near_end = False
        self._trigger: tuple[int, Callable[[], None]] | None = None
        self._lock = threading.Condition()
        self._running = False
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._port = port

    # ------------------------------------------------------------------ life

    def start(self) -> Self:
        self._running = True
        self._listen()
        t = threading.Thread(target=self._accept_loop, name="printer-sim-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        with self._lock:
            self._running = False
            self._lock.notify_all()
        self._close_listener()
        for t in self._threads:
            t.join(5)
        self._threads.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self._port

    # ------------------------------------------------------------------ faults

    def go_offline(self, mode: Literal["refuse", "close"] = "refuse", *, after_bytes: int = 0) -> None:
        self._fault(lambda: self._set(mode=mode), after_bytes)

    def paper_out(self, *, after_bytes: int = 0) -> None:
        self._fault(lambda: self._set(paper_out=True), after_bytes)

    def open_cover(self, *, after_bytes: int = 0) -> None:
        self._fault(lambda: self._set(cover_open=True), after_bytes)

    def stall(self, *, after_bytes: int = 0) -> None:
        self._fault(lambda: self._set(mode="stalled"), after_bytes)

    def paper_near_end(self, near: bool = True) -> None:
        self._set(near_end=near)

    def recover(self) -> None:
        with self._lock:
            self._trigger = None
        self._set(mode="online", paper_out=False, cover_open=False)

    @property
    def status(self) -> PrinterStatus:
        """What DLE EOT reports now."""
        paper_out, cover = self._paper_out, self._cover_open
        error = "cover_open" if cover else "paper_out" if paper_out else None
        return PrinterStatus(online=error is None, cover_open=cover, paper_near_end=self._near_end,
                             paper_out=paper_out, error=error)

    @property
    def mode(self) -> Mode:
        return self._mode

    def _fault(self, apply: Callable[[], None], after_bytes: int) -> None:
        if after_bytes <= 0:
            apply()
        else:
            with self._lock:
                self._trigger = (self.received + after_bytes, apply)

    def _set(self, *, mode: Mode | None = None, paper_out: bool | None = None, cover_open: bool | None = None,
             near_end: bool | None = None) -> None:
        with self._lock:
            if mode is not None:
                self._mode = mode
            if paper_out is not None:
                self._paper_out = paper_out
            if cover_open is not None:
                self._cover_open = cover_open
            if near_end is not None:
                self._near_end = near_end
            self._lock.notify_all()
        if mode == "refuse":
            self._close_listener()
        elif mode in ("online", "close", "stalled") and self._listener is None and self._running:
            self._listen()

    # ------------------------------------------------------------------ watching

    def wait_for_slips(self, n: int, timeout: float = 10.0) -> list[Slip]:
        """Wait until at least `n` complete slips were printed; returns them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.slips) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.slips)} of {n} slips printed after {timeout} s")
                self._lock.wait(left)
            return list(self.slips)

    def preview(self, slip: Slip) -> Image.Image:
        return preview(slip, load_font(self.font_path), dots=self.profile.dots, line_dots=self.profile.line_dots)

    # ------------------------------------------------------------------ network

    def _listen(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)  # a printer's buffer is small
        for _ in range(100):  # the port may linger a moment after a "refuse"
            try:
                s.bind((self.host, self._port))
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                time.sleep(_TICK)
        else:
            s.bind((self.host, self._port))
        s.listen(8)
        s.settimeout(_TICK)
        self._port = s.getsockname()[1]
        self._listener = s

    def _close_listener(self) -> None:
        s, self._listener = self._listener, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)  # stops listening now, even while accept() waits on it
            except OSError:
                pass
            s.close()

    def _accept_loop(self) -> None:
        while self._running:
            s = self._listener
            if s is None:
                time.sleep(_TICK)
                continue
            try:
                conn, _ = s.accept()
            except (TimeoutError, OSError):
                continue
            if self._mode in ("close", "refuse"):
                conn.close()
                continue
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), name="printer-sim-conn", daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        tokenizer, builder = Tokenizer(), SlipBuilder(self.profile.line_dots)
        skipping = False  # after a fault, until the next job begins (ESC @)
        backlog = b""
        conn.settimeout(_TICK)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while self._running:
                if self._mode in ("refuse", "close"):
                    break
                if self._mode == "stalled":
                    with self._lock:
                        self._lock.wait(_TICK)
                    continue
                if backlog:
                    data, backlog = backlog, b""
                else:
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    if not data:
                        break
                if self._mode != "online":  # the fault began while we waited: as if unread
                    backlog = data
                    continue
                with self._lock:
                    if self._trigger is not None and self.received + len(data) >= self._trigger[0]:
                        cut_at = self._trigger[0] - self.received
                        data, backlog = data[:cut_at], data[cut_at:]
                        fault, self._trigger = self._trigger[1], None
                    else:
                        fault = None
                    self.received += len(data)
                answers = b""
                for tok in tokenizer.feed(data):
                    if tok.kind == "status":
                        self.status_queries += 1
                        answers += answer(tok.arg, self.status)
                    elif self._paper_out or self._cover_open:
                        if builder.pending:
                            self._keep(builder.finish(cut=False))
                        skipping = True
                    elif skipping and tok.kind != "init":
                        continue
                    else:
                        skipping = False
                        slip = builder.apply(tok)
                        if slip is not None:
                            self._keep(slip)
                if answers:
                    try:
                        conn.sendall(answers)
                    except OSError:  # the other side left; what it sent still prints
                        pass
                if fault is not None:
                    fault()
                    if (self._paper_out or self._cover_open) and builder.pending:
                        self._keep(builder.finish(cut=False))
                        skipping = True
        except OSError:
            pass
        finally:
            if builder.pending:
                self._keep(builder.finish(cut=False))
            conn.close()

    def _keep(self, slip: Slip) -> None:
        with self._lock:
            (self.slips if slip.cut else self.torn).append(slip)
            number = len(self.slips)
            self._lock.notify_all()
        if slip.cut and self.preview_dir is not None:
            self.preview_dir.mkdir(parents=True, exist_ok=True)
            self.preview(slip).save(self.preview_dir / f"slip-{number:04d}.png")


# ---------------------------------------------------------------------- command line

_COMMANDS = {
    "offline": lambda sim: sim.go_offline("refuse"),
    "close": lambda sim: sim.go_offline("close"),
    "paper-out": lambda sim: sim.paper_out(),
    "near-end": lambda sim: sim.paper_near_end(),
    "cover": lambda sim: sim.open_cover(),
    "stall": lambda sim: sim.stall(),
    "recover": lambda sim: sim.recover(),
}


def _report(sim: PrinterSimulator) -> None:
    """Say what each slip is as it comes out."""
    n = 0
    while True:
        try:
            slip = sim.wait_for_slips(n + 1, timeout=3600)[n]
        except TimeoutError:
            continue
        n += 1
        big = max(slip.lines, key=lambda line: line.width * line.height).text if slip.lines else ""
        print(f"slip {n}: {big} ({len(slip.raw)} bytes)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m printer_driver.simulator", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9100)
    ap.add_argument("--paper", choices=sorted(PROFILES), default="80mm")
    ap.add_argument("--preview-dir", default="var/printer-previews", help="where each slip's PNG goes")
    ap.add_argument("--font", default=None, help="CJK TrueType font for the previews")
    a = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # piped output too, line by line
    sim = PrinterSimulator(a.host, a.port, profile=PROFILES[a.paper], preview_dir=a.preview_dir, font_path=a.font)
    sim.start()
    print(f"printer simulator on {a.host}:{sim.port} ({a.paper}); previews in {a.preview_dir}/")
    print(f"type a command and Enter: {' | '.join(_COMMANDS)} | status | quit")
    threading.Thread(target=_report, args=(sim,), daemon=True).start()
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd in ("quit", "exit"):
                break
            if cmd in _COMMANDS:
                _COMMANDS[cmd](sim)
            elif cmd and cmd != "status":
                print(f"unknown command {cmd!r}")
            print(f"{sim.mode}, {sim.status.error or 'ready'}; {len(sim.slips)} slips, {len(sim.torn)} torn")
        else:
            while True:  # no terminal: serve until interrupted
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
