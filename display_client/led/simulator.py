"""An LED bus simulator: decodes the frames a driver sends back into text per address.

    python -m display_client.led.simulator --protocol stx --pty --tcp 127.0.0.1:4001 --http 127.0.0.1:8090

`--pty` opens a pseudo-terminal and prints its path: give that path to the client as its serial
device (`--led /dev/pts/N`). `--tcp` listens like an RS-485-over-TCP converter (`--led
socket://127.0.0.1:4001`). `--http` serves a live status page (`/`, zh-CN or `?lang=en`) and
`/status.json`: what every address shows, how many frames were decoded and how many were corrupt. Everything binds to
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
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

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


# Every string of the status page, zh-CN first (`?lang=en`, or an English Accept-Language).
TEXTS: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "窗口 LED 条屏", "en": "Window LED strips"},
    "subtitle": {"zh-CN": "总线模拟器：逐个地址解码收到的帧，显示每块条屏此刻的内容",
                 "en": "Bus simulator: every frame decoded by address, showing what each strip displays now"},
    "summary": {"zh-CN": "协议 {protocol} · 已解码 {frames} 帧 · 拒收 {rejected} 帧 · 连接 {links} 个",
                "en": "protocol {protocol} · {frames} frames decoded · {rejected} rejected · {links} link(s)"},
    "address": {"zh-CN": "地址", "en": "Address"},
    "window": {"zh-CN": "窗口", "en": "Window"},
    "shows": {"zh-CN": "条屏显示", "en": "The strip shows"},
    "updated": {"zh-CN": "更新时间", "en": "Updated"},
    "blank": {"zh-CN": "（无显示）", "en": "(blank)"},
    "empty": {"zh-CN": "尚未收到任何帧", "en": "No frame received yet"},
    "offline": {"zh-CN": "与模拟器的连接中断，正在重试…", "en": "Lost the simulator, retrying…"},
    "other_lang": {"zh-CN": "English", "en": "中文"},
}
LANGS = ("zh-CN", "en")
REFRESH_MS = 500


def page_lang(query: str, accept_language: str | None) -> str:
    """`?lang=zh-CN|en`, else the Accept-Language header's first choice, else zh-CN."""
    asked = parse_qs(query).get("lang", [""])[0]
    if asked in LANGS:
        return asked
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh-CN"


def texts(lang: str) -> dict[str, str]:
    return {key: entry.get(lang, entry["zh-CN"]) for key, entry in TEXTS.items()}


PAGE = """<!doctype html><html lang="{lang}"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>
body{{font-family:"Noto Sans SC","Noto Sans CJK SC",sans-serif;background:#111;color:#ddd;margin:24px}}
h1{{margin:0 0 4px}} .sub,.sum{{color:#999;margin:4px 0}} a{{color:#8af}}
table{{border-collapse:collapse;margin-top:16px}} th{{text-align:left;color:#aaa;font-weight:normal}}
td,th{{padding:6px 14px;border-bottom:1px solid #222}}
.led{{font-family:"Noto Sans Mono CJK SC",monospace;font-size:30px;color:#ff3b2f;background:#080000;
letter-spacing:3px;text-shadow:0 0 6px #f00;min-width:18em;white-space:pre}}
.led.blank{{color:#522;text-shadow:none}} .fresh{{animation:flash 1s}}
@keyframes flash{{from{{background:#400}}to{{background:#080000}}}}
#offline{{display:none;color:#fa0}} body.offline #offline{{display:block}}
</style>
<h1>{title}</h1><p class="sub">{subtitle} · <a href="?lang={other}">{other_lang}</a></p>
<p class="sum" id="summary">{summary}</p><p id="offline">{offline}</p>
<table><thead><tr><th>{address}</th><th>{window}</th><th>{shows}</th><th>{updated}</th></tr></thead>
<tbody id="rows">{rows}</tbody></table>
<script>
const T = {texts_json};
const shown = {{}};
function fmt(s, p) {{ return s.replace(/\\{{(\\w+)\\}}/g, (_, k) => p[k]); }}
function row(a, s) {{
  const tr = document.createElement("tr"); tr.dataset.address = a;
  const led = s.text === null ? T.blank : s.text;
  for (const [v, cls] of [[a, ""], [s.label || "", ""], [led, "led" + (s.text ? "" : " blank")],
                          [s.updated ? new Date(s.updated * 1000).toLocaleTimeString(document.documentElement.lang) : "", ""]]) {{
    const td = document.createElement("td"); td.textContent = v; if (cls) td.className = cls; tr.appendChild(td);
  }}
  if (a in shown && shown[a] !== s.text) tr.querySelector(".led").classList.add("fresh");
  shown[a] = s.text;
  return tr;
}}
async function refresh() {{
  try {{
    const st = await (await fetch("status.json", {{cache: "no-store"}})).json();
    document.body.classList.remove("offline");
    document.getElementById("summary").textContent = fmt(T.summary, st);
    const rows = Object.entries(st.addresses).map(([a, s]) => row(a, s));
    if (!rows.length) {{ const tr = document.createElement("tr"); tr.innerHTML = "<td colspan=4></td>";
      tr.firstChild.textContent = T.empty; rows.push(tr); }}
    document.getElementById("rows").replaceChildren(...rows);
  }} catch (e) {{ document.body.classList.add("offline"); }}
  setTimeout(refresh, {refresh_ms});
}}
for (const tr of document.querySelectorAll("#rows tr[data-address]"))
  shown[tr.dataset.address] = tr.querySelector(".led.blank") ? null : tr.querySelector(".led").textContent;
setTimeout(refresh, {refresh_ms});
</script></html>"""


class StatusServer:
    """`/` a live page of what every address shows (zh-CN or en), `/status.json` the same data.
    `labels` names the addresses (a window code and name), `links` counts the connected links."""

    def __init__(self, bus: LedBus, host: str = "127.0.0.1", port: int = 0, *,
                 labels: Mapping[int, str] | None = None, links: Callable[[], int] | None = None) -> None:
        labels = dict(labels or {})

        def status() -> dict[str, Any]:
            st = bus.status()
            st["links"] = links() if links is not None else None
            addresses = sorted({*labels, *(int(a) for a in st["shown"])})
            st["addresses"] = {str(a): {"label": labels.get(a), "text": st["shown"].get(str(a), {}).get("text"),
                                        "updated": st["shown"].get(str(a), {}).get("updated")} for a in addresses}
            return st

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                st = status()
                if path == "/status.json":
                    body, kind = json.dumps(st, ensure_ascii=False).encode(), "application/json"
                elif path == "/":
                    body, kind = render_page(st, page_lang(query, self.headers.get("Accept-Language"))), \
                        "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
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


def render_page(st: dict[str, Any], lang: str) -> bytes:
    t = texts(lang)
    e = html.escape
    rows = "".join(
        f'<tr data-address="{a}"><td>{a}</td><td>{e(s["label"] or "")}</td>'
        f'<td class="led{"" if s["text"] else " blank"}">{e(s["text"] if s["text"] is not None else t["blank"])}</td>'
        f'<td></td></tr>' for a, s in st["addresses"].items()) or f'<tr><td colspan="4">{e(t["empty"])}</td></tr>'
    other = "en" if lang == "zh-CN" else "zh-CN"
    summary = t["summary"].format(protocol=st["protocol"], frames=st["frames"], rejected=st["rejected"],
                                  links=st["links"] if st["links"] is not None else "-")
    return PAGE.format(lang=lang, title=e(t["title"]), subtitle=e(t["subtitle"]), other=other,
                       other_lang=e(t["other_lang"]), summary=e(summary), offline=e(t["offline"]),
                       address=e(t["address"]), window=e(t["window"]), shows=e(t["shows"]), updated=e(t["updated"]),
                       rows=rows, texts_json=json.dumps(t, ensure_ascii=False).replace("</", "<\\/"),
                       refresh_ms=REFRESH_MS).encode()


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
    tcp = None
    if args.tcp:
        tcp = TcpPort(bus, *_host_port(args.tcp))
        closers.append(tcp.close)
        print(f"tcp:    {tcp.url}", flush=True)
    if args.http:
        links = (lambda: tcp.connections) if tcp is not None else None
        web = StatusServer(bus, *_host_port(args.http), links=links)
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
