"""The audit log: append-only, each entry chained to the previous one by SHA-256."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, insert, select, update

from kiosk_server.db import tables as T
from kiosk_server.services.context import Actor

GENESIS = "0" * 64


def _digest(row: dict[str, Any]) -> str:
    at = row["at"]
    if isinstance(at, datetime):
        at = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = [row["id"], at, row["actor"], row.get("actor_roles"), row.get("client_addr"), row["action"],
            row.get("object_type"), row.get("object_id"), row["result"], row.get("detail"), row["prev_hash"]]
    data = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def record(conn: Connection, *, actor: Actor, action: str, at: datetime, result: str = "ok",
           object_type: str | None = None, object_id: Any = None, detail: dict[str, Any] | None = None) -> int:
    """Append one entry. The head row is locked, so concurrent writers never fork the chain."""
    head = conn.execute(select(T.audit_head).where(T.audit_head.c.id == 1).with_for_update()).mappings().one()
    row = {
        "id": head["last_id"] + 1,
        "at": at.astimezone(timezone.utc).replace(microsecond=at.microsecond),
        "actor": actor.name,
        "actor_roles": ",".join(sorted(actor.roles)) or None,
        "client_addr": actor.client_addr,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "result": result,
        "detail": detail,
        "prev_hash": head["hash"],
    }
    row["hash"] = _digest(row)
    conn.execute(insert(T.audit_log).values(**row))
    conn.execute(update(T.audit_head).where(T.audit_head.c.id == 1).values(last_id=row["id"], hash=row["hash"]))
    return row["id"]


def verify(conn: Connection) -> list[str]:
    """Recompute the chain. Returns the problems found (empty when the log is intact)."""
    problems: list[str] = []
    prev = GENESIS
    expected_id = 1
    last_id = 0
    for r in conn.execute(select(T.audit_log).order_by(T.audit_log.c.id)).mappings():
        row = dict(r)
        if row["id"] != expected_id:
            problems.append(f"entry {expected_id} is missing (next is {row['id']})")
        if row["prev_hash"] != prev:
            problems.append(f"entry {row['id']}: does not follow the previous entry")
        if _digest(row) != row["hash"]:
            problems.append(f"entry {row['id']}: content does not match its hash (edited)")
        prev = row["hash"]
        expected_id = row["id"] + 1
        last_id = row["id"]
    head = conn.execute(select(T.audit_head).where(T.audit_head.c.id == 1)).mappings().first()
    if head is None:
        problems.append("the audit head is missing")
    elif head["last_id"] != last_id or head["hash"] != prev:
        problems.append(f"the newest entries are missing (head says {head['last_id']}, log ends at {last_id})")
    return problems
