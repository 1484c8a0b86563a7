"""Keeps the LED strips of one bus showing the hall state.

`show(state)` works out the text for every window with an address; `run()` (one task) sends the
frames of the addresses whose text changed (or whose ticket was recalled: the strip shows the
call afresh). After the link is (re)opened nothing is assumed about
what the strips show and every address is sent again; so it is every `refresh_s` (a strip that
lost power comes back blank and cannot say so). The link is checked every `poll_s` even when
nothing changes, so a dropped converter is noticed and reconnected with backoff. Link I/O runs in
a worker thread: opening a TCP converter can block for seconds.

Addresses: a window's LED address comes from `addresses` (window code → 1–254), else from a
numeric window code ("06" → 6).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import NamedTuple

from display_client.led.sign import MAX_ADDRESS, MIN_ADDRESS, LedSign
from display_client.led.transport import LinkError, SerialLink
from display_client.state import HallState

log = logging.getLogger("display_client.led")


class Shown(NamedTuple):
    text: str
    call_seq: int | None


def default_address(code: str) -> int | None:
    if code.isascii() and code.isdigit() and MIN_ADDRESS <= int(code) <= MAX_ADDRESS:
        return int(code)
    return None


class LedDriver:
    def __init__(self, link: SerialLink, sign: LedSign, *, addresses: Mapping[str, int] | None = None,
                 poll_s: float = 1.0, retry_min_s: float = 0.5, retry_max_s: float = 15.0,
                 refresh_s: float | None = 300.0) -> None:
        for code, a in (addresses or {}).items():
            if not MIN_ADDRESS <= a <= MAX_ADDRESS:
                raise ValueError(f"window {code}: LED address {a} out of range {MIN_ADDRESS}-{MAX_ADDRESS}")
        self.link = link
        self.sign = sign
        self.addresses = dict(addresses or {})
        self.poll_s = poll_s
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.refresh_s = refresh_s
        self._want: dict[int, Shown] = {}
        self._sent: dict[int, Shown] = {}
        self._wake = asyncio.Event()
        self.connects = 0
        self.frames_sent = 0

    def address_of(self, code: str) -> int | None:
        return self.addresses.get(code) or default_address(code)

    def show(self, state: HallState) -> None:
        """Bring the strips to `state`: a changed text is sent, and so is a recall (same text,
        new call: the strip shows it afresh)."""
        want = {}
        for code, w in state.windows.items():
            address = self.address_of(code)
            if address is not None:
                want[address] = Shown(self.sign.text_for(w), w.call_seq)
        if want != self._want:
            self._want = want
            self._wake.set()

    @property
    def shown(self) -> dict[int, str]:
        """What the strips show as far as this driver knows (sent since the link last opened)."""
        return {a: s.text for a, s in self._sent.items()}

    async def run(self) -> None:
        delay = self.retry_min_s
        last_full = time.monotonic()
        try:
            while True:
                self._wake.clear()
                if not self.link.is_open:
                    try:
                        await asyncio.to_thread(self.link.open)
                    except LinkError as e:
                        log.warning("LED link down, retrying in %.1fs: %s", delay, e)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self.retry_max_s)
                        continue
                    log.info("LED link %s open: sending every address", self.link.url)
                    self.connects += 1
                    self._sent.clear()
                    last_full = time.monotonic()
                elif self.refresh_s is not None and time.monotonic() - last_full >= self.refresh_s:
                    self._sent.clear()
                    last_full = time.monotonic()
                try:
                    await self._sync()
                except LinkError as e:
                    log.warning("LED link lost: %s", e)
                    self.link.close()
                    await asyncio.sleep(self.retry_min_s)  # then reopen (and back off if that fails)
                    continue
                delay = self.retry_min_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
        finally:
            self.link.close()

    async def _sync(self) -> None:
        reply = await asyncio.to_thread(self.link.drain)
        if reply:
            log.debug("LED bus replied %s", reply.hex(" "))
        pending = sorted(((a, s) for a, s in self._want.items() if self._sent.get(a) != s), key=lambda p: p[0])
        for address, shown in pending:
            await asyncio.to_thread(self.link.write, self.sign.encode(address, shown.text))
            self._sent[address] = shown
            self.frames_sent += 1
