"""`Idempotency-Key` for POST /api/v1/tickets: a retried or doubled request gets the first one's answer.

A kiosk sends one key per attempt to take a ticket. A second request with the same key from the
same principal (a double tap that got through, a retry after a lost answer) waits for the first
and receives its ticket again, marked `Idempotent-Replayed: true`; no second ticket is issued.
A request that failed is forgotten (it changed nothing), so the same key may be tried again.
The same key with a different body is refused (422 `idempotency_key_reused`).

Kept in the worker process: bounded (oldest entries dropped) and short-lived. With several
workers a duplicate that lands on another worker is not caught here; the kiosk page also
disables its button while a request runs.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from kiosk_server.domain.errors import Invalid

KEY_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
TTL_S = 600.0
MAX_ENTRIES = 4096


@dataclass
class _Entry:
    fingerprint: str
    result: asyncio.Future
    at: float


class IdempotencyCache:
    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    async def run(self, scope: str, key: str, body: Any, fn: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """(result, replayed): `fn()`'s result, or the result of the earlier request with this key."""
        self._expire()
        fingerprint = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        entry = self._entries.get((scope, key))
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise Invalid("idempotency_key_reused")
            return await asyncio.shield(entry.result), True
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._entries[(scope, key)] = _Entry(fingerprint, fut, time.monotonic())
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        try:
            result = await fn()
        except asyncio.CancelledError:
            self._entries.pop((scope, key), None)
            fut.cancel()
            raise
        except Exception as e:
            self._entries.pop((scope, key), None)
            fut.set_exception(e)
            fut.exception()  # marked as retrieved: nobody else may be waiting
            raise
        fut.set_result(result)
        return result, False

    def _expire(self) -> None:
        limit = time.monotonic() - self.ttl_s
        while self._entries:
            first = next(iter(self._entries.values()))
            if first.at >= limit or not first.result.done():
                break
            self._entries.popitem(last=False)
