"""The composition root: the only place that picks concrete adapters."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from kiosk_server.config import Settings
from kiosk_server.db.engine import Database, make_engine
from kiosk_server.realtime.hub import EventHub
from kiosk_server.services.context import Clock, Hall, SystemClock, load_hall
from kiosk_server.services.security import Keys

R = TypeVar("R")


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    keys: Keys
    hub: EventHub
    _hall: Hall | None = None
    auth_cache: dict[str, tuple[Any, float]] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def hall(self) -> Hall:
        if self._hall is None:
            with self.db.read() as conn:
                self._hall = load_hall(conn)
        return self._hall

    def reload_hall(self) -> None:
        self._hall = None

    def write(self, fn: Callable[..., R], /, **kw: Any) -> R:
        """Run one use case in one write transaction (inline: SQLite has one writer anyway)."""
        with self.db.write() as conn:
            return fn(conn, **kw)

    def read(self, fn: Callable[..., R], /, *args: Any, **kw: Any) -> R:
        with self.db.read() as conn:
            return fn(conn, *args, **kw)

    def publish(self, events: list[dict[str, Any]]) -> None:
        if any(ev["type"] == "config.changed" for ev in events):
            self.reload_hall()
        self.hub.publish(events)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n


def build(settings: Settings, *, clock: Clock | None = None) -> Container:
    engine = make_engine(settings.server.database_url, base_dir=settings.base_dir,
                         sqlite_synchronous=settings.server.sqlite_synchronous)
    return Container(settings=settings, db=Database(engine), clock=clock or SystemClock(),
                     keys=Keys(settings.secret_key, settings.data_key), hub=EventHub())
