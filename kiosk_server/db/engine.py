"""Engines and transactions. SQLite: WAL, foreign keys, and write transactions that take the
write lock up front (BEGIN IMMEDIATE) so two writers never deadlock on a lock upgrade."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from kiosk_server.db import outbox, raw


def resolve_url(url: str, base_dir: str = ".") -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        p = Path(u.database)
        if not p.is_absolute():
            p = Path(base_dir) / p
        p.parent.mkdir(parents=True, exist_ok=True)
        return str(u.set(database=str(p.resolve())))
    return url


def make_engine(url: str, *, base_dir: str = ".", sqlite_synchronous: str = "full", pool_size: int = 5) -> Engine:
    url = resolve_url(url, base_dir)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=pool_size, max_overflow=10)
        sync = "FULL" if sqlite_synchronous == "full" else "NORMAL"

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=10)
        _ping_when_idle(engine)
    return engine


IDLE_PING_S = 10.0  # a pooled PostgreSQL connection idle this long is checked before use


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pool_pre_ping checks every connection at every checkout: a round trip added
    to every transaction, the busiest connections included. Here only a connection that sat
    idle (the one a restarted or restarted-behind-a-firewall server would have dropped) is
    checked; a dead one is replaced before use. A connection lost while busy fails its request
    once, and SQLAlchemy then renews the whole pool."""
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record):  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy):  # noqa: ANN001
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return
        try:
            dbapi_conn.cursor().execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as e:
            raise DisconnectionError("idle connection is gone") from e  # the pool connects anew


class Database:
    """The unit of work: `write()` is one transaction that commits on success and rolls back on
    any exception; `read()` is a consistent snapshot that changes nothing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # PostgreSQL: numbers committed events (db/outbox.py); SQLite numbers them at the insert.
        self.sequencer = None if self.is_sqlite else outbox.Sequencer(engine)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction. Events appended during it are written just before COMMIT; a caller
        that publishes them takes the list `conn.info[outbox.BUFFER]` inside the block. On
        PostgreSQL they are numbered after the COMMIT: here, or by the sequencer's thread once
        it has started (then their wire dicts keep their marks: db/outbox.py)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else conn
            buf: list = []
            notes: set = set()
            conn.info[outbox.BUFFER] = buf
            conn.info[outbox.NOTES] = notes
            conn.info[raw.DEFERRED] = []
            try:
                with conn.begin():
                    yield conn
                    outbox.flush(conn, buf)
            finally:
                conn.info.pop(outbox.BUFFER, None)
                conn.info.pop(outbox.NOTES, None)
                conn.info.pop(raw.DEFERRED, None)
            if (buf or notes) and self.sequencer is not None:
                self.sequencer.committed(conn, buf, notes)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="DEFERRED")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        if self.sequencer is not None:
            self.sequencer.stop()
        self.engine.dispose()
