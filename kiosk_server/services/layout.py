"""Import a validated hall layout into the database (the source of truth afterwards).
Re-importing updates by code and never deletes anything tickets refer to."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from kiosk_server.config import Layout
from kiosk_server.db import tables as T
from kiosk_server.services import audit
from kiosk_server.services.context import Actor
from kiosk_server.services.events import Event, append_event
from kiosk_server.services.security import Keys


def _upsert(conn: Connection, table: Any, keys: dict[str, Any], values: dict[str, Any]) -> int:
    cond = [table.c[k] == v for k, v in keys.items()]
    existing = conn.execute(select(table.c.id).where(*cond)).scalar()
    if existing is None:
        return conn.execute(insert(table).values(**keys, **values).returning(table.c.id)).scalar_one()
    conn.execute(update(table).where(table.c.id == existing).values(**values))
    return existing


def import_layout(conn: Connection, layout: Layout, *, keys: Keys, device_tokens: dict[str, str], actor: Actor,
                  now: datetime) -> tuple[int, list[Event]]:
    h = layout.hall
    hall_id = _upsert(conn, T.halls, {"code": h.code}, {
        "name": h.name, "timezone": h.timezone, "opening_hours": h.opening_hours, "open_weekdays": h.open_weekdays,
        "hotline": h.hotline, "priority_cap": h.priority_cap, "recall_cap": h.recall_cap,
        "requeue_after": h.requeue_after, "default_service_s": h.default_service_s})
    zone_ids: dict[str, int] = {}
    for zi, z in enumerate(layout.zones):
        zone_ids[z.code] = zid = _upsert(conn, T.zones, {"hall_id": hall_id, "code": z.code}, {
            "name": z.name, "prefix": z.prefix, "daily_quota": z.daily_quota, "opening_hours": z.opening_hours,
            "position": zi, "enabled": z.enabled})
        for mi, m in enumerate(z.matters):
            _upsert(conn, T.matters, {"zone_id": zid, "code": m.code}, {
                "name": m.name, "department": m.department, "case_type": m.case_type,
                "promised_days": m.promised_days, "fee": m.fee,
                "materials": [mat.model_dump() for mat in m.materials],
                "joint_departments": m.joint_departments, "position": mi, "enabled": m.enabled})
    for w in layout.windows:
        wid = _upsert(conn, T.windows, {"hall_id": hall_id, "code": w.code},
                      {"name": w.name, "led_address": w.led_address, "enabled": w.enabled})
        conn.execute(delete(T.window_zones).where(T.window_zones.c.window_id == wid))
        conn.execute(insert(T.window_zones), [{"window_id": wid, "zone_id": zone_ids[z], "position": i}
                                              for i, z in enumerate(w.zones)])
    printer_ids: dict[str, int] = {}
    for pr in layout.printers:
        # The status is the spooler's to keep; a printer left out of the file stays as it is.
        printer_ids[pr.code] = _upsert(conn, T.printers, {"hall_id": hall_id, "code": pr.code}, {
            "name": pr.name, "transport": dict(pr.transport), "profile": dict(pr.profile), "enabled": pr.enabled})
    for d in layout.devices:
        values: dict[str, Any] = {"name": d.name, "role": d.role, "zones": d.zones,
                                  "printer_id": printer_ids.get(d.printer) if d.printer else None}
        if d.code in device_tokens:
            values["token_hash"] = keys.token_hash(device_tokens[d.code])
            values["revoked_at"] = None
        existing = conn.execute(select(T.devices.c.id).where(T.devices.c.hall_id == hall_id,
                                                             T.devices.c.code == d.code)).scalar()
        if existing is None:
            conn.execute(insert(T.devices).values(hall_id=hall_id, code=d.code, created_at=now, **values))
        else:
            conn.execute(update(T.devices).where(T.devices.c.id == existing).values(**values))
    for hd in layout.holidays:
        day = date.fromisoformat(hd.date)
        conn.execute(delete(T.holidays).where(T.holidays.c.hall_id == hall_id, T.holidays.c.date == day))
        conn.execute(insert(T.holidays).values(hall_id=hall_id, date=day, kind=hd.kind, name=hd.name))
    audit.record(conn, actor=actor, action="config.import", at=now, object_type="hall", object_id=h.code,
                 detail={"zones": len(layout.zones), "windows": len(layout.windows), "devices": len(layout.devices),
                         "printers": len(layout.printers)})
    ev = append_event(conn, hall_id=hall_id, type="config.changed", at=now, payload={"what": "layout"})
    return hall_id, [ev]
