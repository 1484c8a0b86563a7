"""An LED bus simulator: decodes the frames a driver sends back into text per address.

    python -m display_client.led.simulator --protocol stx --pty --tcp 127.0.0.1:4001 --http 127.0.0.1:8090

`--pty` opens a pseudo-terminal and prints its path: give that path to the client as its serial
device (`--led /dev/pts/N`). `--tcp` listens like an RS-485-over-TCP converter (`--led
socket://127.0.0.1:4001`). `--http` serves a status page (`/`) and `/status.json`: what every
address shows, how many frames were decoded and how many were corrupt. Everything binds to
127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import select
import signal
import socket
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from display_client.led import PROTOCOLS, sign_for
from display_client.led.sign import DecodedFrame, LedSign

POLL_S = 0.1
WIRE_LOG = 65536  # bytes of raw traffic kept


class LedBus:
    """What each address of a simulated bus shows. Thread-safe."""

    def __init__(self, sign: LedSign, history: int = 200) -> None:
        self.sign = sign
        self._cond = threading.Condition()
        self._shown: dict[int, str] = {}
        self._updated: dict[int, float] = {}
        self.frames: deque[DecodedFrame] = deque(maxlen=history)
        self.frame_count = 0
        self.rejected = 0
        self.bytes_received = 0
        self._wire = bytearray()

    def stream(self) -> BusStream:
        return BusStream(self)

    def record(self, data: bytes, frames: list[DecodedFrame], rejected: int) -> None:
        with self._cond:
            self.bytes_received += len(data)
            self._wire += data
            del self._wire[:-WIRE_LOG]
            for f in frames:
                self._shown[f.address] = f.text
                self._updated[f.address] = time.time()
                self.frames.append(f)
            self.frame_count += len(frames)
            self.rejected += rejected
            self._cond.notify_all()

    @property
    def shown(self) -> dict[int, str]:
        with self._cond:
            return dict(self._shown)

    @property
    def wire(self) -> bytes:
        """The latest raw bytes received, all streams together."""
        with self._cond:
            return bytes(self._wire)

    def history(self, address: int | None = None) -> list[DecodedFrame]:
        """The latest frames decoded (of one address, or all)."""
        with self._cond:
            return [f for f in self.frames if address is None or f.address == address]

    def forget(self) -> None:
        """What a power cut does to the strips: they show nothing until told again."""
        with self._cond:
            self._shown.clear()
            self._updated.clear()

    def wait_for(self, predicate: Callable[[dict[int, str]], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(dict(self._shown)), timeout)

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {"protocol": self.sign.name, "bytes": self.bytes_received, "frames": self.frame_count,
                    "rejected": self.rejected,
                    "shown": {str(a): {"text": t, "updated": self._updated.get(a)}
                              for a, t in sorted(self._shown.items())}}


class BusStream:
    """One byte stream into the bus (a connection): keeps an unfinished frame between reads."""

    def __init__(self, bus: LedBus) -> None:
        self.bus = bus
        self._buf = b""

    def feed(self, data: bytes) -> None:
        frames, self._buf, bad = self.bus.sign.split(self._buf + data)
        self.bus.record(data, frames, bad)


class PtyPort:
    """A pseudo-terminal: the driver opens `path` as its serial device."""

    def __init__(self, bus: LedBus) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no line discipline: bytes pass as they are
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(bus.stream(),), daemon=True, name="led-pty")
        self._thread.start()

    @property
    def url(self) -> str:
        """What the driver opens: the device path is a pyserial URL too."""
        return self.path

    def _read(self, stream: BusStream) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], POLL_S)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            stream.feed(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self._master)
        os.close(self._slave)


class TcpPort:
    """A TCP server like an RS-485-over-TCP converter; `drop()` cuts the current connections."""

    def __init__(self, bus: LedBus, host: str = "127.0.0.1", port: int = 0) -> None:
        self.bus = bus
        self._server = socket.create_server((host, port))
        self.host, self.port = self._server.getsockname()[:2]
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="led-tcp")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._clients)

    def _accept(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._server], [], [], POLL_S)
            if not ready:
                continue
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._clients.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="led-tcp-conn").start()

    def _serve(self, conn: socket.socket) -> None:
        stream = self.bus.stream()
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                stream.feed(data)
        except OSError:
            return
        finally:
            with self._lock:
                self._clients.discard(conn)
            conn.close()

    def drop(self) -> int:
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return len(clients)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()
        self.drop()


PAGE = """<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<title>LED bus simulator</title>
<style>body{{font-family:sans-serif;background:#111;color:#ddd}}td{{padding:4px 12px}}
.led{{font-family:monospace;font-size:28px;color:#f33;background:#000;letter-spacing:2px}}</style>
<h1>LED bus ({protocol})</h1><p>{frames} frames decoded, {rejected} rejected</p>
<table><tr><th>address</th><th>shows</th></tr>{rows}</table>"""


class StatusServer:
    """`/` a page showing every address, `/status.json` the same as JSON."""

    def __init__(self, bus: LedBus, host: str = "127.0.0.1", port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = bus.status()
                if self.path == "/status.json":
                    body, kind = json.dumps(status, ensure_ascii=False).encode(), "application/json"
                elif self.path == "/":
                    rows = "".join(f'<tr><td>{a}</td><td class="led">{html.escape(s["text"])}</td></tr>'
                                   for a, s in status["shown"].items())
                    body = PAGE.format(protocol=status["protocol"], frames=status["frames"],
                                       rejected=status["rejected"], rows=rows).encode()
                    kind = "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer((host, port), Handler)
        self.host, self.port = str(self._http.server_address[0]), int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, args=(POLL_S,), daemon=True,
                                        name="led-http")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m display_client.led.simulator", description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=sorted(PROTOCOLS), default="stx")
    ap.add_argument("--pty", action="store_true", help="open a pseudo-terminal and print its path")
    ap.add_argument("--tcp", metavar="HOST:PORT", help="listen like an RS-485-over-TCP converter")
    ap.add_argument("--http", metavar="HOST:PORT", help="serve the status page and /status.json")
    args = ap.parse_args(argv)
    if not (args.pty or args.tcp):
        ap.error("give --pty and/or --tcp")
    bus = LedBus(sign_for(args.protocol))
    closers: list[Callable[[], None]] = []
    if args.pty:
        pty = PtyPort(bus)
        closers.append(pty.close)
        print(f"serial: {pty.path}", flush=True)
    if args.tcp:
        tcp = TcpPort(bus, *_host_port(args.tcp))
        closers.append(tcp.close)
        print(f"tcp:    {tcp.url}", flush=True)
    if args.http:
        web = StatusServer(bus, *_host_port(args.http))
        closers.append(web.close)
        print(f"status: {web.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    for close in reversed(closers):
        close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
