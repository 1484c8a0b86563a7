"""Operator administration of the hall layout: zones, matters, windows, printers, devices and
calendar exceptions, one at a time, and the whole layout as TOML (export, import).

Every change is one use case on the caller's transaction. It checks everything before it
writes, so a refused change changes nothing (a reference the database finds, such as tickets of
a zone, is caught in a savepoint and refused the same way). It records an audit entry (`zone.create`,
`window.update` … with the fields it set or changed, never a token) and appends `config.changed`
{"what": "zones"|…, "code", "action"}, on which every worker drops its per-process copies of
the layout (`Container.apply_config_change`). An update that changes nothing writes nothing.
Reads are plain functions of a connection; each use case returns the object as a read shows it."""
from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from kiosk_server.config import ConfigError, Layout, parse_config
from kiosk_server.db import tables as T
from kiosk_server.domain.errors import Conflict, Invalid, NotFound
from kiosk_server.domain.model import WindowState
from kiosk_server.services import audit
from kiosk_server.services.context import Actor, Hall
from kiosk_server.services.events import append_event
from kiosk_server.services.layout import import_layout
from kiosk_server.services.security import Keys, new_token

ADMIN_LOCK = 0x41444D4E  # 'ADMN': pg_advisory_xact_lock(ADMIN_LOCK, hall id) around every change
MAX_IMPORT_BYTES = 4 * 1024 * 1024
NOT_IMPORTED = ("server", "security", "printing")  # sections of a configuration file an import leaves alone


# ---------------------------------------------------------------- shared

def _serialize(conn: Connection, hall: Hall) -> None:
    """One administrative change at a time per hall, so that what a change checked (a free code,
    a free LED address) still holds at its commit. SQLite's write transaction is exclusive
    already; on PostgreSQL an advisory lock does it without locking rows the queue uses."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(a)s, %(b)s)", {"a": ADMIN_LOCK, "b": hall.id})


def _changed(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, what: str, kind: str, code: str,
             action: str, detail: dict[str, Any]) -> None:
    audit.record(conn, actor=actor, action=f"{kind}.{action}", at=now, object_type=kind, object_id=code,
                 detail=detail)
    append_event(conn, hall_id=hall.id, type="config.changed", at=now,
                 payload={"what": what, "code": code, "action": action})


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The fields whose value changes: {"field": {"from", "to"}}."""
    return {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v}


def _try_delete(conn: Connection, fn: Any, error: Conflict) -> None:
    """Delete in a savepoint; a row that still refers to the object (a ticket, a print job) makes
    the database refuse, and the change is refused as a whole with `error`."""
    sp = conn.begin_nested()
    try:
        fn()
    except IntegrityError:
        sp.rollback()
        raise error from None
    sp.commit()


def _next_position(conn: Connection, column: Any, *where: Any) -> int:
    top = conn.execute(select(func.max(column)).where(*where)).scalar()
    return 0 if top is None else top + 1


# ---------------------------------------------------------------- zones

def _zone_row(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    z = conn.execute(select(T.zones).where(T.zones.c.hall_id == hall.id, T.zones.c.code == code)).mappings().first()
    if z is None:
        raise NotFound("zone_not_found", zone=code)
    return dict(z)


def _zone_ids(conn: Connection, hall: Hall) -> dict[str, int]:
    return dict(conn.execute(select(T.zones.c.code, T.zones.c.id).where(T.zones.c.hall_id == hall.id)).all())


def list_zones(conn: Connection, hall: Hall, code: str | None = None) -> list[dict[str, Any]]:
    q = select(T.zones).where(T.zones.c.hall_id == hall.id).order_by(T.zones.c.position, T.zones.c.code)
    if code is not None:
        q = q.where(T.zones.c.code == code)
    zs = conn.execute(q).mappings().all()
    ids = [z["id"] for z in zs]
    counts = dict(conn.execute(select(T.matters.c.zone_id, func.count()).where(T.matters.c.zone_id.in_(ids))
                               .group_by(T.matters.c.zone_id)).all())
    served: dict[int, list[str]] = {}
    for zid, wcode in conn.execute(select(T.window_zones.c.zone_id, T.windows.c.code)
                                   .join(T.windows, T.windows.c.id == T.window_zones.c.window_id)
                                   .where(T.window_zones.c.zone_id.in_(ids)).order_by(T.windows.c.code)):
        served.setdefault(zid, []).append(wcode)
    return [{"code": z["code"], "name": z["name"], "prefix": z["prefix"], "daily_quota": z["daily_quota"],
             "opening_hours": z["opening_hours"], "position": z["position"], "enabled": z["enabled"],
             "matters": counts.get(z["id"], 0), "windows": served.get(z["id"], [])} for z in zs]


def get_zone(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    out = list_zones(conn, hall, code)
    if not out:
        raise NotFound("zone_not_found", zone=code)
    return out[0]


def _check_prefix(conn: Connection, hall: Hall, prefix: str, zone_id: int | None) -> None:
    other = conn.execute(select(T.zones.c.code).where(T.zones.c.hall_id == hall.id, T.zones.c.prefix == prefix,
                                                     T.zones.c.id != (zone_id or 0))).scalar()
    if other is not None:
        raise Conflict("prefix_taken", prefix=prefix, zone=other)


def create_zone(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, data: dict[str, Any]) -> dict[str, Any]:
    _serialize(conn, hall)
    code = data["code"]
    if code in _zone_ids(conn, hall):
        raise Conflict("zone_exists", zone=code)
    _check_prefix(conn, hall, data["prefix"], None)
    values = {k: data[k] for k in ("name", "prefix", "daily_quota", "opening_hours", "enabled")}
    values["position"] = data.get("position")
    if values["position"] is None:
        values["position"] = _next_position(conn, T.zones.c.position, T.zones.c.hall_id == hall.id)
    conn.execute(insert(T.zones).values(hall_id=hall.id, code=code, **values))
    _changed(conn, hall=hall, actor=actor, now=now, what="zones", kind="zone", code=code, action="create",
             detail=values)
    return get_zone(conn, hall, code)


def update_zone(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str,
                changes: dict[str, Any]) -> dict[str, Any]:
    _serialize(conn, hall)
    z = _zone_row(conn, hall, code)
    diff = _diff(z, changes)
    if "prefix" in diff:
        _check_prefix(conn, hall, changes["prefix"], z["id"])
    if diff:
        conn.execute(update(T.zones).where(T.zones.c.id == z["id"]).values(**{k: changes[k] for k in diff}))
        _changed(conn, hall=hall, actor=actor, now=now, what="zones", kind="zone", code=code, action="update",
                 detail={"changed": diff})
    return get_zone(conn, hall, code)


def delete_zone(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str) -> dict[str, Any]:
    """Only a zone no ticket refers to; its matters go with it. A zone that windows serve or
    devices list is refused until they no longer do (nothing is changed behind the operator's back)."""
    _serialize(conn, hall)
    z = _zone_row(conn, hall, code)
    windows = list(conn.execute(select(T.windows.c.code).join(T.window_zones, T.window_zones.c.window_id == T.windows.c.id)
                                .where(T.window_zones.c.zone_id == z["id"]).order_by(T.windows.c.code)).scalars())
    if windows:
        raise Conflict("zone_served", zone=code, windows=", ".join(windows))
    devices = sorted(d.code for d in conn.execute(select(T.devices.c.code, T.devices.c.zones)
                                                   .where(T.devices.c.hall_id == hall.id)) if code in (d.zones or []))
    if devices:
        raise Conflict("zone_shown", zone=code, devices=", ".join(devices))
    tk = T.tickets
    used = conn.execute(select(tk.c.id).where(tk.c.zone_id == z["id"]).limit(1)).first() or conn.execute(
        select(tk.c.id).where(tk.c.queue_zone_id == z["id"]).limit(1)).first()
    if used:
        raise Conflict("zone_in_use", zone=code)
    matters = list(conn.execute(select(T.matters.c.code).where(T.matters.c.zone_id == z["id"])
                                .order_by(T.matters.c.position, T.matters.c.code)).scalars())

    def remove() -> None:
        conn.execute(delete(T.matters).where(T.matters.c.zone_id == z["id"]))
        conn.execute(delete(T.counters).where(T.counters.c.zone_id == z["id"]))
        conn.execute(delete(T.zones).where(T.zones.c.id == z["id"]))
    _try_delete(conn, remove, Conflict("zone_in_use", zone=code))
    _changed(conn, hall=hall, actor=actor, now=now, what="zones", kind="zone", code=code, action="delete",
             detail={"name": z["name"], "prefix": z["prefix"], "matters": matters})
    return {"code": code, "deleted": True, "matters": matters}


# ---------------------------------------------------------------- matters

_MATTER_FIELDS = ("name", "department", "case_type", "promised_days", "fee", "materials", "joint_departments",
                  "position", "enabled")


def _matter_query(hall: Hall) -> Any:
    return (select(T.matters, T.zones.c.code.label("zone_code"))
            .join(T.zones, T.zones.c.id == T.matters.c.zone_id).where(T.zones.c.hall_id == hall.id))


def _matter_public(m: Any) -> dict[str, Any]:
    return {"code": m["code"], "zone": m["zone_code"], "name": m["name"], "department": m["department"],
            "case_type": m["case_type"], "promised_days": m["promised_days"], "fee": m["fee"],
            "materials": m["materials"], "joint_departments": m["joint_departments"], "position": m["position"],
            "enabled": m["enabled"]}


def list_matters(conn: Connection, hall: Hall, zone: str | None = None) -> list[dict[str, Any]]:
    q = _matter_query(hall).order_by(T.zones.c.position, T.zones.c.code, T.matters.c.position, T.matters.c.code)
    if zone is not None:
        q = q.where(T.zones.c.code == zone)
    return [_matter_public(m) for m in conn.execute(q).mappings()]


def _matter_row(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    m = conn.execute(_matter_query(hall).where(T.matters.c.code == code).order_by(T.matters.c.id)).mappings().first()
    if m is None:
        raise NotFound("matter_not_found", matter=code)
    return dict(m)


def get_matter(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    return _matter_public(_matter_row(conn, hall, code))


def _zone_for(conn: Connection, hall: Hall, code: str) -> int:
    zid = _zone_ids(conn, hall).get(code)
    if zid is None:
        raise Invalid("zone_unknown", zone=code)
    return zid


def _materials(v: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": m["name"], "copies": m.get("copies", 1), "original": m.get("original", True)} for m in v]


def create_matter(conn: Connection, *, hall: Hall, actor: Actor, now: datetime,
                  data: dict[str, Any]) -> dict[str, Any]:
    """Matter codes are unique in the hall (as the configuration file requires)."""
    _serialize(conn, hall)
    code = data["code"]
    if conn.execute(_matter_query(hall).where(T.matters.c.code == code)).first() is not None:
        raise Conflict("matter_exists", matter=code)
    zid = _zone_for(conn, hall, data["zone"])
    values = {k: data.get(k) for k in _MATTER_FIELDS}
    values["materials"] = _materials(data.get("materials") or [])
    if values["position"] is None:
        values["position"] = _next_position(conn, T.matters.c.position, T.matters.c.zone_id == zid)
    conn.execute(insert(T.matters).values(zone_id=zid, code=code, **values))
    _changed(conn, hall=hall, actor=actor, now=now, what="matters", kind="matter", code=code, action="create",
             detail={"zone": data["zone"], **values})
    return get_matter(conn, hall, code)


def update_matter(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str,
                  changes: dict[str, Any]) -> dict[str, Any]:
    _serialize(conn, hall)
    m = _matter_row(conn, hall, code)
    changes = dict(changes)
    if "materials" in changes:
        changes["materials"] = _materials(changes["materials"])
    values: dict[str, Any] = {}
    before = {**m, "zone": m["zone_code"]}
    diff = _diff(before, changes)
    if "zone" in diff:
        values["zone_id"] = _zone_for(conn, hall, changes["zone"])
        if "position" not in changes:  # last in its new zone
            values["position"] = _next_position(conn, T.matters.c.position, T.matters.c.zone_id == values["zone_id"])
            diff["position"] = {"from": m["position"], "to": values["position"]}
    values.update({k: changes[k] for k in diff if k in _MATTER_FIELDS and k in changes})
    if diff:
        conn.execute(update(T.matters).where(T.matters.c.id == m["id"]).values(**values))
        _changed(conn, hall=hall, actor=actor, now=now, what="matters", kind="matter", code=code, action="update",
                 detail={"changed": diff})
    return get_matter(conn, hall, code)


def delete_matter(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str) -> dict[str, Any]:
    """Only a matter no ticket nor application refers to (the database says so)."""
    _serialize(conn, hall)
    m = _matter_row(conn, hall, code)
    _try_delete(conn, lambda: conn.execute(delete(T.matters).where(T.matters.c.id == m["id"])),
                Conflict("matter_in_use", matter=code))
    _changed(conn, hall=hall, actor=actor, now=now, what="matters", kind="matter", code=code, action="delete",
             detail={"zone": m["zone_code"], "name": m["name"]})
    return {"code": code, "deleted": True}


# ---------------------------------------------------------------- windows

def list_windows(conn: Connection, hall: Hall, code: str | None = None) -> list[dict[str, Any]]:
    """Every window, disabled ones too (the clerks' list shows only enabled ones)."""
    q = select(T.windows).where(T.windows.c.hall_id == hall.id).order_by(T.windows.c.code)
    if code is not None:
        q = q.where(T.windows.c.code == code)
    ws = conn.execute(q).mappings().all()
    ids = [w["id"] for w in ws]
    served: dict[int, list[str]] = {}
    for wid, zcode in conn.execute(select(T.window_zones.c.window_id, T.zones.c.code)
                                   .join(T.zones, T.zones.c.id == T.window_zones.c.zone_id)
                                   .where(T.window_zones.c.window_id.in_(ids))
                                   .order_by(T.window_zones.c.window_id, T.window_zones.c.position)):
        served.setdefault(wid, []).append(zcode)
    clerk_ids = {w["clerk_id"] for w in ws if w["clerk_id"] is not None}
    clerks = dict(conn.execute(select(T.users.c.id, T.users.c.display_name).where(T.users.c.id.in_(clerk_ids))).all()
                  ) if clerk_ids else {}
    return [{"code": w["code"], "name": w["name"], "zones": served.get(w["id"], []), "led_address": w["led_address"],
             "enabled": w["enabled"], "state": w["state"],
             "clerk": {"id": w["clerk_id"], "display_name": clerks.get(w["clerk_id"])} if w["clerk_id"] else None}
            for w in ws]


def get_window(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    out = list_windows(conn, hall, code)
    if not out:
        raise NotFound("window_not_found", window=code)
    return out[0]


def _window_row(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    w = conn.execute(select(T.windows).where(T.windows.c.hall_id == hall.id, T.windows.c.code == code)
                     .with_for_update()).mappings().first()  # serialised with the clerk's calls
    if w is None:
        raise NotFound("window_not_found", window=code)
    return dict(w)


def _zone_list(conn: Connection, hall: Hall, codes: list[str]) -> list[int]:
    ids = _zone_ids(conn, hall)
    unknown = [z for z in codes if z not in ids]
    if unknown:
        raise Invalid("zone_unknown", zone=", ".join(unknown))
    return [ids[z] for z in codes]


def _check_led(conn: Connection, hall: Hall, address: int | None, window_id: int | None) -> None:
    if address is None:
        return
    other = conn.execute(select(T.windows.c.code).where(T.windows.c.hall_id == hall.id,
                                                       T.windows.c.led_address == address,
                                                       T.windows.c.id != (window_id or 0))).scalar()
    if other is not None:
        raise Conflict("led_address_taken", address=address, window=other)


def _set_zones(conn: Connection, window_id: int, zone_ids: list[int]) -> None:
    conn.execute(delete(T.window_zones).where(T.window_zones.c.window_id == window_id))
    conn.execute(insert(T.window_zones), [{"window_id": window_id, "zone_id": z, "position": i}
                                          for i, z in enumerate(zone_ids)])


def _active_ticket(conn: Connection, window_id: int) -> str | None:
    """The number of the ticket the window has called or serves. The condition is spelled as the
    partial unique index's, so SQLite finds it there rather than scanning every ticket."""
    tk = T.tickets
    return conn.execute(select(tk.c.number).where(tk.c.window_id == window_id,
                                                  text("tickets.status IN ('called', 'serving')"))).scalar()


def create_window(conn: Connection, *, hall: Hall, actor: Actor, now: datetime,
                  data: dict[str, Any]) -> dict[str, Any]:
    _serialize(conn, hall)
    code = data["code"]
    if conn.execute(select(T.windows.c.id).where(T.windows.c.hall_id == hall.id, T.windows.c.code == code)).first():
        raise Conflict("window_exists", window=code)
    zone_ids = _zone_list(conn, hall, data["zones"])
    _check_led(conn, hall, data.get("led_address"), None)
    wid = conn.execute(insert(T.windows).values(hall_id=hall.id, code=code, name=data["name"],
                                                led_address=data.get("led_address"), enabled=data["enabled"],
                                                state=WindowState.CLOSED.value).returning(T.windows.c.id)).scalar_one()
    _set_zones(conn, wid, zone_ids)
    _changed(conn, hall=hall, actor=actor, now=now, what="windows", kind="window", code=code, action="create",
             detail={k: data.get(k) for k in ("name", "zones", "led_address", "enabled")})
    return get_window(conn, hall, code)


def update_window(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str,
                  changes: dict[str, Any]) -> dict[str, Any]:
    """Disabling a window with a called or served ticket is refused; an idle open window is
    closed (its clerk signed out, `window.closed` sent) as it is disabled."""
    _serialize(conn, hall)
    w = _window_row(conn, hall, code)
    before = {**w, "zones": get_window(conn, hall, code)["zones"]}
    diff = _diff(before, changes)
    if "zones" in diff:
        _set_zones(conn, w["id"], _zone_list(conn, hall, changes["zones"]))
    if "led_address" in diff:
        _check_led(conn, hall, changes["led_address"], w["id"])
    values = {k: changes[k] for k in diff if k in ("name", "led_address", "enabled")}
    if values.get("enabled") is False:
        busy = _active_ticket(conn, w["id"])
        if busy is not None:
            raise Conflict("window_busy", window=code, number=busy)
        if w["state"] != WindowState.CLOSED:
            values.update(state=WindowState.CLOSED.value, clerk_id=None, pause_reason=None)
            diff["state"] = {"from": w["state"], "to": WindowState.CLOSED.value}
            append_event(conn, hall_id=hall.id, type="window.closed", at=now, payload={
                "window": {"code": code, "name": changes.get("name", w["name"]), "state": WindowState.CLOSED.value}})
    if values:
        conn.execute(update(T.windows).where(T.windows.c.id == w["id"]).values(**values))
    if diff:
        _changed(conn, hall=hall, actor=actor, now=now, what="windows", kind="window", code=code, action="update",
                 detail={"changed": diff})
    return get_window(conn, hall, code)


def delete_window(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str) -> dict[str, Any]:
    """Only a window that never served a ticket (the database says so); never one with a
    called or served ticket."""
    _serialize(conn, hall)
    w = _window_row(conn, hall, code)
    busy = _active_ticket(conn, w["id"])
    if busy is not None:
        raise Conflict("window_busy", window=code, number=busy)

    def remove() -> None:
        conn.execute(delete(T.window_zones).where(T.window_zones.c.window_id == w["id"]))
        conn.execute(delete(T.windows).where(T.windows.c.id == w["id"]))
    _try_delete(conn, remove, Conflict("window_in_use", window=code))
    _changed(conn, hall=hall, actor=actor, now=now, what="windows", kind="window", code=code, action="delete",
             detail={"name": w["name"]})
    return {"code": code, "deleted": True}


# ---------------------------------------------------------------- printers

def _printer_row(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    p = conn.execute(select(T.printers).where(T.printers.c.hall_id == hall.id, T.printers.c.code == code)
                     ).mappings().first()
    if p is None:
        raise NotFound("printer_not_found", printer=code)
    return dict(p)


def transport_problem(transport: dict[str, Any]) -> str | None:
    """Beyond the configuration file's rules: a printer set up by an operator (admin API, import)
    writes to a device file under /dev/ only, never to any file the server may write (its
    database, its configuration)."""
    if transport.get("kind") == "file":
        path = str(transport.get("path", ""))
        if not path.startswith("/dev/") or "/../" in path or path.endswith("/.."):
            return "printer_file_path"
    return None


def create_printer(conn: Connection, *, hall: Hall, actor: Actor, now: datetime,
                   data: dict[str, Any]) -> dict[str, Any]:
    _serialize(conn, hall)
    code = data["code"]
    if conn.execute(select(T.printers.c.id).where(T.printers.c.hall_id == hall.id, T.printers.c.code == code)).first():
        raise Conflict("printer_exists", printer=code)
    problem = transport_problem(data["transport"])
    if problem:
        raise Invalid(problem)
    values = {k: data[k] for k in ("name", "transport", "profile", "enabled")}
    conn.execute(insert(T.printers).values(hall_id=hall.id, code=code, **values))
    _changed(conn, hall=hall, actor=actor, now=now, what="printers", kind="printer", code=code, action="create",
             detail=values)
    return {"code": code}


def update_printer(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str,
                   changes: dict[str, Any]) -> dict[str, Any]:
    """A new transport forgets the status seen through the old one (the spooler polls afresh)."""
    _serialize(conn, hall)
    p = _printer_row(conn, hall, code)
    diff = _diff(p, changes)
    if "transport" in diff:
        problem = transport_problem(changes["transport"])
        if problem:
            raise Invalid(problem)
    values = {k: changes[k] for k in diff}
    if "transport" in diff:
        values.update(status=None, status_at=None)
    if diff:
        conn.execute(update(T.printers).where(T.printers.c.id == p["id"]).values(**values))
        _changed(conn, hall=hall, actor=actor, now=now, what="printers", kind="printer", code=code, action="update",
                 detail={"changed": diff})
    return {"code": code}


def delete_printer(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str) -> dict[str, Any]:
    """Only a printer that no kiosk uses and that never had a print job."""
    _serialize(conn, hall)
    p = _printer_row(conn, hall, code)
    kiosks = list(conn.execute(select(T.devices.c.code).where(T.devices.c.printer_id == p["id"])
                               .order_by(T.devices.c.code)).scalars())
    if kiosks:
        raise Conflict("printer_in_use", printer=code, devices=", ".join(kiosks))
    _try_delete(conn, lambda: conn.execute(delete(T.printers).where(T.printers.c.id == p["id"])),
                Conflict("printer_has_jobs", printer=code))
    _changed(conn, hall=hall, actor=actor, now=now, what="printers", kind="printer", code=code, action="delete",
             detail={"name": p["name"]})
    return {"code": code, "deleted": True}


# ---------------------------------------------------------------- devices

def _device_query(hall: Hall) -> Any:
    d = T.devices
    return (select(d.c.id, d.c.code, d.c.name, d.c.role, d.c.zones, d.c.revoked_at, d.c.created_at,
                   d.c.token_hash.is_not(None).label("has_token"), T.printers.c.code.label("printer"))
            .select_from(d.outerjoin(T.printers, T.printers.c.id == d.c.printer_id)).where(d.c.hall_id == hall.id))


def _device_public(r: Any) -> dict[str, Any]:
    return {"code": r["code"], "name": r["name"], "role": r["role"], "zones": r["zones"], "printer": r["printer"],
            "has_token": bool(r["has_token"]), "revoked": r["revoked_at"] is not None,
            "revoked_at": r["revoked_at"], "created_at": r["created_at"]}


def list_devices(conn: Connection, hall: Hall) -> list[dict[str, Any]]:
    """Devices without their token hashes."""
    return [_device_public(r) for r in conn.execute(_device_query(hall).order_by(T.devices.c.code)).mappings()]


def _device_row(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    r = conn.execute(_device_query(hall).where(T.devices.c.code == code)).mappings().first()
    if r is None:
        raise NotFound("device_not_found", device=code)
    return dict(r)


def get_device(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    return _device_public(_device_row(conn, hall, code))


def _device_refs(conn: Connection, hall: Hall, role: str, zones: list[str] | None,
                 printer: str | None) -> int | None:
    """Checks what a device names; returns its printer's id."""
    if zones:
        _zone_list(conn, hall, zones)
    if printer is None:
        return None
    if role != "kiosk":
        raise Invalid("device_printer_kiosk_only")
    pid = conn.execute(select(T.printers.c.id).where(T.printers.c.hall_id == hall.id,
                                                    T.printers.c.code == printer)).scalar()
    if pid is None:
        raise Invalid("printer_unknown", printer=printer)
    return pid


def create_device(conn: Connection, *, hall: Hall, keys: Keys, actor: Actor, now: datetime,
                  data: dict[str, Any]) -> dict[str, Any]:
    """A kiosk or hall screen with a new token, returned this once (only its hash is kept)."""
    _serialize(conn, hall)
    code = data["code"]
    if conn.execute(select(T.devices.c.id).where(T.devices.c.hall_id == hall.id, T.devices.c.code == code)).first():
        raise Conflict("device_exists", device=code)
    printer_id = _device_refs(conn, hall, data["role"], data.get("zones"), data.get("printer"))
    token = new_token()
    conn.execute(insert(T.devices).values(hall_id=hall.id, code=code, name=data["name"], role=data["role"],
                                          zones=data.get("zones"), printer_id=printer_id,
                                          token_hash=keys.token_hash(token), created_at=now))
    _changed(conn, hall=hall, actor=actor, now=now, what="devices", kind="device", code=code, action="create",
             detail={k: data.get(k) for k in ("name", "role", "zones", "printer")} | {"token": "issued"})
    return {**get_device(conn, hall, code), "token": token}


def update_device(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str,
                  changes: dict[str, Any]) -> dict[str, Any]:
    _serialize(conn, hall)
    d = _device_row(conn, hall, code)
    diff = _diff(d, changes)
    if not diff:
        return _device_public(d)
    role = changes.get("role", d["role"])
    printer = changes["printer"] if "printer" in changes else d["printer"]
    values: dict[str, Any] = {k: changes[k] for k in diff if k in ("name", "role", "zones")}
    values["printer_id"] = _device_refs(conn, hall, role, changes.get("zones") if "zones" in diff else None, printer)
    conn.execute(update(T.devices).where(T.devices.c.id == d["id"]).values(**values))
    _changed(conn, hall=hall, actor=actor, now=now, what="devices", kind="device", code=code, action="update",
             detail={"changed": diff})
    return get_device(conn, hall, code)


def delete_device(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, code: str) -> dict[str, Any]:
    """Revoke and remove: the token stops working at once. Returns, beside the answer, the
    token's hash (`token_hash`, for the caller to close the device's streams; never sent)."""
    _serialize(conn, hall)
    d = _device_row(conn, hall, code)
    token_hash = conn.execute(select(T.devices.c.token_hash).where(T.devices.c.id == d["id"])).scalar()
    conn.execute(delete(T.devices).where(T.devices.c.id == d["id"]))
    _changed(conn, hall=hall, actor=actor, now=now, what="devices", kind="device", code=code, action="delete",
             detail={"name": d["name"], "role": d["role"]})
    return {"code": code, "deleted": True, "token_hash": token_hash}


# ---------------------------------------------------------------- holidays

def _holiday_public(r: Any) -> dict[str, Any]:
    return {"date": r["date"], "kind": r["kind"], "name": r["name"]}


def list_holidays(conn: Connection, hall: Hall, year: int | None = None) -> list[dict[str, Any]]:
    h = T.holidays
    q = select(h).where(h.c.hall_id == hall.id).order_by(h.c.date)
    if year is not None:
        q = q.where(h.c.date >= date(year, 1, 1), h.c.date <= date(year, 12, 31))
    return [_holiday_public(r) for r in conn.execute(q).mappings()]


def create_holiday(conn: Connection, *, hall: Hall, actor: Actor, now: datetime,
                   data: dict[str, Any]) -> dict[str, Any]:
    """A holiday closes a weekday; a make-up working day (调休, `workday`) opens a weekend."""
    _serialize(conn, hall)
    h = T.holidays
    day: date = data["date"]
    if conn.execute(select(h.c.date).where(h.c.hall_id == hall.id, h.c.date == day)).first() is not None:
        raise Conflict("holiday_exists", date=day.isoformat())
    conn.execute(insert(h).values(hall_id=hall.id, date=day, kind=data["kind"], name=data["name"]))
    _changed(conn, hall=hall, actor=actor, now=now, what="holidays", kind="holiday", code=day.isoformat(),
             action="create", detail={"kind": data["kind"], "name": data["name"]})
    return {"date": day, "kind": data["kind"], "name": data["name"]}


def delete_holiday(conn: Connection, *, hall: Hall, actor: Actor, now: datetime, day: date) -> dict[str, Any]:
    _serialize(conn, hall)
    h = T.holidays
    r = conn.execute(select(h).where(h.c.hall_id == hall.id, h.c.date == day)).mappings().first()
    if r is None:
        raise NotFound("holiday_not_found", date=day.isoformat())
    conn.execute(delete(h).where(h.c.hall_id == hall.id, h.c.date == day))
    _changed(conn, hall=hall, actor=actor, now=now, what="holidays", kind="holiday", code=day.isoformat(),
             action="delete", detail={"kind": r["kind"], "name": r["name"]})
    return {"date": day, "deleted": True}


# ---------------------------------------------------------------- the layout as TOML

def _some(d: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: a missing key is the configuration's null."""
    return {k: v for k, v in d.items() if v is not None}


def export_layout(conn: Connection, hall: Hall) -> dict[str, Any]:
    """The hall's layout as the configuration file writes it (`[hall]`, `[[zones]]` with their
    `[[zones.matters]]`, `[[windows]]`, `[[printers]]`, `[[devices]]`, `[[holidays]]`), in the
    order the kiosk shows it. No token, hash, secret, printer status or window state: what
    `import-config` takes, so that export → import gives the same layout."""
    h = conn.execute(select(T.halls).where(T.halls.c.id == hall.id)).mappings().one()
    doc: dict[str, Any] = {"hall": _some({
        "code": h["code"], "name": h["name"], "timezone": h["timezone"], "opening_hours": h["opening_hours"],
        "open_weekdays": h["open_weekdays"], "hotline": h["hotline"], "priority_cap": h["priority_cap"],
        "recall_cap": h["recall_cap"], "requeue_after": h["requeue_after"],
        "default_service_s": h["default_service_s"]})}
    matters: dict[str, list[dict[str, Any]]] = {}
    for m in list_matters(conn, hall):
        matters.setdefault(m["zone"], []).append(_some({
            "code": m["code"], "name": m["name"], "department": m["department"], "case_type": m["case_type"],
            "promised_days": m["promised_days"], "fee": m["fee"],
            "materials": [_some(dict(x)) for x in m["materials"]], "joint_departments": m["joint_departments"],
            "enabled": m["enabled"]}))
    doc["zones"] = [_some({"code": z["code"], "name": z["name"], "prefix": z["prefix"],
                           "daily_quota": z["daily_quota"], "opening_hours": z["opening_hours"],
                           "enabled": z["enabled"], "matters": matters.get(z["code"], [])})
                    for z in list_zones(conn, hall)]
    doc["windows"] = [_some({"code": w["code"], "name": w["name"], "zones": w["zones"],
                             "led_address": w["led_address"], "enabled": w["enabled"]})
                      for w in list_windows(conn, hall) if w["zones"]]
    doc["printers"] = [{"code": p["code"], "name": p["name"], "transport": p["transport"], "profile": p["profile"],
                        "enabled": p["enabled"]}
                       for p in conn.execute(select(T.printers).where(T.printers.c.hall_id == hall.id)
                                             .order_by(T.printers.c.code)).mappings()]
    doc["devices"] = [_some({"code": d["code"], "name": d["name"], "role": d["role"], "zones": d["zones"],
                             "printer": d["printer"]}) for d in list_devices(conn, hall)]
    doc["holidays"] = [{"date": x["date"].isoformat(), "kind": x["kind"], "name": x["name"]}
                       for x in list_holidays(conn, hall)]
    return {k: v for k, v in doc.items() if v != []}


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_value(v: Any) -> str:
    """One value on one line, the way config.example.toml writes them: arrays and tables inline.
    Strings, numbers and booleans are written by tomli-w (its escaping is TOML's)."""
    import tomli_w
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return tomli_w.dumps({"v": v})[4:].rstrip("\n")


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _toml_value(k)


def to_toml(doc: dict[str, Any], *, header: str = "") -> str:
    """`export_layout`'s document as a configuration file: [hall], then each [[zones]] with its
    [[zones.matters]] indented below it, [[windows]], [[printers]], [[devices]], [[holidays]]."""
    out = [header] if header else []

    def table(head: str, values: dict[str, Any], indent: str = "") -> None:
        out.append(f"{indent}{head}")
        for k, v in values.items():
            if k == "matters" and head == "[[zones]]":
                continue
            if isinstance(v, list) and len(v) > 1 and all(isinstance(x, dict) for x in v):  # materials
                out.append(f"{indent}{_toml_key(k)} = [")
                out.extend(f"{indent}  {_toml_value(x)}," for x in v)
                out.append(f"{indent}]")
            else:
                out.append(f"{indent}{_toml_key(k)} = {_toml_value(v)}")
        out.append("")

    table("[hall]", doc["hall"])
    for z in doc.get("zones", []):
        table("[[zones]]", z)
        for m in z.get("matters", []):
            table("[[zones.matters]]", m, "  ")
    for key in ("windows", "printers", "devices", "holidays"):
        for item in doc.get(key, []):
            table(f"[[{key}]]", item)
    return "\n".join(out)


def _problems(pairs: list[tuple[str, str]]) -> Invalid:
    return Invalid("config_invalid", count=len(pairs), details=[{"path": k, "message": m} for k, m in pairs])


def parse_layout(text: str) -> tuple[Layout, list[str]]:
    """A configuration (TOML text) checked by the very code of `check-config`; secrets are not
    looked for (device tokens are issued through the API). Returns the layout and the sections
    of the file an import does not apply. Raises Invalid("config_invalid") with `details`: every
    problem with its key path."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_IMPORT_BYTES:
        raise Invalid("config_too_large", max=MAX_IMPORT_BYTES)
    if "\x00" in text:
        raise _problems([("(file)", "not valid TOML: a NUL character")])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _problems([("(file)", f"not valid TOML: {e}")]) from None
    try:
        settings = parse_config(data, env={}, require_secrets=False)
    except ConfigError as e:
        raise _problems(e.problems) from None
    if settings.layout is None:
        raise _problems([("hall", "no hall layout: [hall] and [[zones]] are required")])
    bad = [(f"printers.{i}.transport", "a file printer must be a device file under /dev/")
           for i, p in enumerate(settings.layout.printers) if transport_problem(dict(p.transport))]
    if bad:
        raise _problems(bad)
    return settings.layout, [k for k in NOT_IMPORTED if k in data]


def import_config(conn: Connection, *, hall: Hall, layout: Layout, keys: Keys, actor: Actor,
                  now: datetime) -> dict[str, Any]:
    """Apply a checked layout with `import_layout` (as `kiosk-server import-config`): objects are
    updated by code and added; nothing is deleted. A matter the file puts in another zone moves
    there. Refused as a whole when the result would break a rule across the whole hall (a prefix,
    an LED address or a matter code twice)."""
    _serialize(conn, hall)
    if layout.hall.code != hall.code:
        raise Invalid("config_hall_mismatch", hall=layout.hall.code, expected=hall.code)
    zone_ids = _zone_ids(conn, hall)
    for z in layout.zones:
        if z.code not in zone_ids:
            continue
        for m in z.matters:
            conn.execute(update(T.matters).where(
                T.matters.c.code == m.code, T.matters.c.zone_id != zone_ids[z.code],
                T.matters.c.zone_id.in_(list(zone_ids.values()))).values(zone_id=zone_ids[z.code]))
    import_layout(conn, layout, keys=keys, device_tokens={}, actor=actor, now=now)
    problems = []
    for column, table, where, what in (
            (T.zones.c.prefix, T.zones, T.zones.c.hall_id == hall.id, ("zones", "prefix {!r} is used by two zones")),
            (T.windows.c.led_address, T.windows, T.windows.c.hall_id == hall.id,
             ("windows", "LED address {!r} is used by two windows")),
            (T.matters.c.code, T.matters.join(T.zones, T.zones.c.id == T.matters.c.zone_id), T.zones.c.hall_id == hall.id,
             ("zones", "matter code {!r} is used twice"))):
        for v in conn.execute(select(column).select_from(table).where(where, column.is_not(None))
                              .group_by(column).having(func.count() > 1)).scalars():
            problems.append((what[0], what[1].format(v) + " (with one already in the hall)"))
    if problems:
        raise _problems(problems)
    return {"hall": layout.hall.code, "zones": len(layout.zones), "matters": sum(len(z.matters) for z in layout.zones),
            "windows": len(layout.windows), "printers": len(layout.printers), "devices": len(layout.devices),
            "holidays": len(layout.holidays)}
