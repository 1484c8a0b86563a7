"""The events outbox. Use cases append events while they work; the unit of work writes them
at the very end of the transaction, just before COMMIT, under a hall-wide transaction lock on
PostgreSQL. So `seq` is assigned in commit order: a reader that has seen `seq` N has seen
every event below N (no event commits later with a smaller number), across any number of
workers, and a refused request never burns a number."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert

from kiosk_server.db import raw
from kiosk_server.db import tables as T

BUFFER = "event_buffer"
LOCK_KEY = 0x48414C4C  # 'HALL': the transaction-level advisory lock around the events insert
CHANNEL = "hall_events"
_INSERT = insert(T.events).returning(T.events.c.seq)
# The same insert on the driver (db/raw.py): every request that changes anything runs it.
_INSERT_RAW = raw.Sql("INSERT INTO events (hall_id, type, at, zone, payload) VALUES (:hall_id, :type, :at, :zone, :payload) "
                      "RETURNING seq")


def append(conn: Connection, row: dict[str, Any], wire: dict[str, Any]) -> None:
    """Buffer an event (row for the table, wire dict for the screens; its seq is set at flush)."""
    buf = conn.info.get(BUFFER)
    if buf is None:  # a connection outside the unit of work: write at once
        wire["seq"] = conn.execute(_INSERT, row).scalar_one()
    else:
        buf.append((row, wire))


def flush(conn: Connection, buf: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    if not buf:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": LOCK_KEY})
    dialect = conn.dialect.name
    cur = raw.cursor(conn)
    sql = _INSERT_RAW[dialect]
    for row, wire in buf:
        cur.execute(sql, {"hall_id": row["hall_id"], "type": row["type"], "at": raw.stamp(dialect, row["at"]),
                          "zone": row["zone"], "payload": raw.doc(dialect, row["payload"])})
        wire["seq"] = cur.fetchone()[0]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_notify(%(c)s, %(s)s)", {"c": CHANNEL, "s": str(buf[-1][1]["seq"])})
