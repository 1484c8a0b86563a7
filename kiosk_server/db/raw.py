"""Hot-path SQL run on the driver's cursor, inside the caller's SQLAlchemy transaction.

Issuing a ticket and calling the next one are the two requests a hall makes thousands of times
an hour. Through SQLAlchemy each statement costs ~8× what sqlite3 itself spends on it (cache
key, compiled-cache lookup, parameter processing, result metadata, events), which made the
Python around the database the ceiling. These statements are written once as SQL text with
`:name` parameters (turned into `%(name)s` for psycopg), run on the same DBAPI connection and
so in the same transaction, and get their parameters already in the form the column stores:

  - `stamp(dialect, dt)`: an aware datetime; SQLite stores UTC wall-clock text in SQLAlchemy's
    format (`2026-11-23 02:00:00.000000`), so rows written here and by SQLAlchemy read alike;
  - `day(dialect, d)`: a date (ISO text on SQLite);
  - `doc(dialect, obj)`: a JSON column value.

Everything else keeps using SQLAlchemy: only statements that a profile shows on the hot path
belong here, each next to the use case that runs it.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import orjson
from sqlalchemy import Connection

_PARAM = re.compile(r"(?<![:\w]):(\w+)")


class Sql:
    """One statement in both dialects: `Sql(text)` or `Sql(sqlite_text, pg=postgresql_text)`."""

    __slots__ = ("sqlite", "postgresql")

    def __init__(self, text: str, *, pg: str | None = None) -> None:
        self.sqlite = " ".join(text.split())
        self.postgresql = _PARAM.sub(r"%(\1)s", " ".join((pg or text).split()))

    def __getitem__(self, dialect: str) -> str:
        return self.postgresql if dialect == "postgresql" else self.sqlite


def cursor(conn: Connection) -> Any:
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def run(conn: Connection, sql: Sql, params: dict[str, Any] | None = None) -> Any:
    """Execute and return the driver's cursor (fetchone/fetchall/rowcount)."""
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cur.execute(sql[conn.dialect.name], params or {})
    return cur


def one(conn: Connection, sql: Sql, params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
    return run(conn, sql, params).fetchone()  # type: ignore[no-any-return]


DEFERRED = "deferred_writes"  # conn.info: PostgreSQL writes sent with the events, just before COMMIT


def defer(conn: Connection, sql: Sql, params: dict[str, Any]) -> None:
    """A write that nothing in the transaction reads back or refers to before COMMIT: on
    PostgreSQL it goes in one statement with the transaction's events (outbox.flush: one round
    trip for all; a failure there fails the transaction as it would have here; no two deferred
    writes may change the same row). Elsewhere it runs now."""
    queue = conn.info.get(DEFERRED)
    if queue is None or conn.dialect.name != "postgresql":
        cursor(conn).execute(sql[conn.dialect.name], params)
    else:
        queue.append((sql.postgresql, params))


def execute(conn: Connection, text: str) -> None:
    """A parameterless statement (SAVEPOINT, RELEASE …) on the driver."""
    conn.connection.driver_connection.cursor().execute(text)  # type: ignore[union-attr]


def stamp(dialect: str, dt: datetime | None) -> Any:
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    if dialect == "postgresql":
        return dt
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def read_stamp(value: Any) -> datetime | None:
    """A datetime column as the driver returns it (text on SQLite), as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def day(dialect: str, d: date) -> Any:
    return d if dialect == "postgresql" else d.isoformat()


def read_day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def doc(dialect: str, obj: Any) -> Any:
    if obj is None:
        return None
    if dialect == "postgresql":
        from psycopg.types.json import Json
        return Json(obj, dumps=_dumps)
    return _dumps(obj)


def read_doc(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()
