"""A hall served by a real `kiosk-server serve` process, with windows opened by their clerks,
and the screens that watch it: for the stream tests (restart, workers, slow screen, privacy).

`live_hall()` prepares the database (SQLite file or PostgreSQL), writes a config open around the
clock with `windows` extra windows W01, W02 … (zones A and B), starts the server and signs every
clerk in. `Screen` is a websocket screen that records every message with its arrival time;
`RawScreen` does the websocket handshake over a plain socket and then reads only when told (a
screen that stopped reading). Everything binds to 127.0.0.1 and every wait is bounded."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from kiosk_server.db import tables as T
from tests.support.hall import (
    PASSWORD,
    PreparedHall,
    add_clerks,
    import_config,
    prepare,
    use_cheap_password_hashes,
    window_codes,
    write_load_config,
)
from tests.support.server import ServerProcess, free_port

STREAM = "/api/v1/display/stream"
WORKER_HEADER = "x-hall-worker"


@dataclass
class LiveHall:
    prepared: PreparedHall
    server: ServerProcess
    http: httpx.Client
    clerks: dict[str, dict[str, str]]   # window code -> Authorization header of its clerk
    kiosk: dict[str, str]

    @property
    def windows(self) -> list[str]:
        return list(self.clerks)

    def token(self, device: str) -> str:
        return self.prepared.device_tokens[device]

    @property
    def ws_url(self) -> str:
        return self.server.base_url.replace("http://", "ws://") + STREAM

    def issue(self, n: int, **body: Any) -> list[dict[str, Any]]:
        out = []
        for i in range(n):
            r = self.http.post("/api/v1/tickets", headers=self.kiosk, json={"zone": "AB"[i % 2], **body})
            assert r.status_code == 201, r.text
            out.append(r.json())
        return out

    def call_next(self, code: str, *, finish_current: bool = False) -> dict[str, Any]:
        r = self.http.post(f"/api/v1/windows/{code}/call-next", headers=self.clerks[code],
                           params={"finish_current": "true"} if finish_current else None)
        assert r.status_code == 200, f"{code}: {r.status_code} {r.text}"
        return r.json()

    def current_numbers(self) -> dict[str, str | None]:
        """Window code -> the number it holds, as the server says."""
        r = self.http.get("/api/v1/windows", headers=next(iter(self.clerks.values())))
        assert r.status_code == 200, r.text
        return {w["code"]: (w["current_ticket"] or {}).get("number") for w in r.json()}

    def metrics(self) -> dict[str, float]:
        r = self.http.get("/metrics")
        assert r.status_code == 200, r.text
        out = {}
        for line in r.text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def events(self, *types: str) -> list[dict[str, Any]]:
        """The events table, in seq order (payload with seq and type), optionally of some types."""
        q = select(T.events.c.seq, T.events.c.type, T.events.c.payload).order_by(T.events.c.seq)
        if types:
            q = q.where(T.events.c.type.in_(types))
        with self.prepared.db.read() as conn:
            return [{"seq": s, "type": t, **p} for s, t, p in conn.execute(q)]


@contextlib.contextmanager
def live_hall(tmp_path: Path, db_url: str, *, windows: int = 4, workers: int = 1,
              start_timeout_s: float = 20.0) -> Iterator[LiveHall]:
    prepared = prepare(db_url)
    port = free_port()
    config = write_load_config(tmp_path / "hall.toml", db_url, port, workers, windows=windows, zones=("A", "B"))
    import_config(prepared, config)
    clerk_names = {code: f"clerk_{code.lower()}" for code in window_codes(windows)}
    add_clerks(prepared, list(clerk_names.values()))
    use_cheap_password_hashes(prepared)  # `serve` checks every account against the demo passwords at start
    server = ServerProcess(config, prepared.env, port=port, workers=workers, log_file=tmp_path / "server.log",
                           start_timeout_s=start_timeout_s)
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=20.0, trust_env=False) as http:
            clerks = {}
            for code, username in clerk_names.items():
                r = http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
                assert r.status_code == 200, r.text
                clerks[code] = {"Authorization": f"Bearer {r.json()['token']}"}
                r = http.post(f"/api/v1/windows/{code}/open", headers=clerks[code])
                assert r.status_code == 200, r.text
            kiosk = {"Authorization": f"Bearer {prepared.device_tokens['K1']}"}
            yield LiveHall(prepared, server, http, clerks, kiosk)
    finally:
        server.stop()
        prepared.db.dispose()


# ---------------------------------------------------------------- screens

@dataclass
class Screen:
    """A websocket screen (the `websockets` library) that records every message as it arrives."""

    url: str
    token: str
    name: str = ""
    messages: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, raw text)
    worker: str | None = None
    close_code: int | None = None

    async def run(self, connected: asyncio.Event | None = None) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed
        async with connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                           open_timeout=10, close_timeout=2, max_size=2**22, proxy=None,
                           compression=None) as ws:
            self.worker = ws.response.headers.get(WORKER_HEADER)
            if connected is not None:
                connected.set()
            try:
                async for raw in ws:
                    self.messages.append((time.monotonic(), raw if isinstance(raw, str) else raw.decode()))
            except ConnectionClosed:
                pass
            self.close_code = ws.close_code

    def decoded(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for _t, raw in self.messages]

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.decoded() if m.get("type") in types]

    def arrivals(self, type_: str) -> dict[int, float]:
        """seq -> arrival time of the events of a type."""
        out = {}
        for t, raw in self.messages:
            m = json.loads(raw)
            if m.get("type") == type_:
                out[m["seq"]] = t
        return out


class RawScreen:
    """A websocket client over a plain socket with a small receive buffer: it does the handshake
    and then reads nothing until `read_until_close()`, like a screen whose browser froze."""

    def __init__(self, host: str, port: int, path: str, token: str, rcvbuf: int = 4096) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: sets the window
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"Authorization: Bearer {token}\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(1024)
            assert chunk, "closed during the handshake"
            buf += chunk
        head, _, self.pending = buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in
                        (line.decode("latin-1").partition(":") for line in head.split(b"\r\n")[1:])}

    def read_until_close(self, timeout: float) -> tuple[list[str], int | None, str]:
        """Read every frame until a close frame or the end of the connection: (text messages,
        close code or None, how it ended: "close", "eof" or "reset")."""
        deadline = time.monotonic() + timeout
        data = self.pending
        texts: list[str] = []
        ended = "timeout"
        while True:
            frames, data, close = _frames(data)
            texts += frames
            if close is not None:
                return texts, close, "close"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return texts, None, ended
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return texts, None, "reset"
            except TimeoutError:
                return texts, None, "timeout"
            if not chunk:
                return texts, None, "eof"
            data += chunk

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _frames(data: bytes) -> tuple[list[str], bytes, int | None]:
    """Unmasked server frames from `data`: (texts, the unfinished rest, close code if a close came)."""
    texts = []
    while len(data) >= 2:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        at = 2
        if length == 126:
            if len(data) < 4:
                break
            length, at = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                break
            length, at = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < at + length:
            break
        payload, data = data[at:at + length], data[at + length:]
        if opcode == 0x1:
            texts.append(payload.decode())
        elif opcode == 0x8:
            return texts, data, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    return texts, data, None
