"""Reads for the API: lists, bodies, snapshots. Plain queries, no use-case logic."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, select

from kiosk_server.db import tables as T
from kiosk_server.domain.model import ACTIVE_STATUSES, TicketStatus
from kiosk_server.services.context import Hall
from kiosk_server.services.tickets import IS_WAITING, estimated_wait_s, position, waiting_counts, zone_is_open

tk = T.tickets


def ticket_body(conn: Connection, t: dict[str, Any]) -> dict[str, Any]:
    zones = dict(conn.execute(select(T.zones.c.id, T.zones.c.code)).all())
    matter = None
    if t["matter_id"] is not None:
        m = conn.execute(select(T.matters.c.code, T.matters.c.name).where(T.matters.c.id == t["matter_id"])).first()
        matter = {"code": m.code, "name": m.name} if m else None
    window = None
    if t["window_id"] is not None:
        w = conn.execute(select(T.windows.c.code, T.windows.c.name).where(T.windows.c.id == t["window_id"])).first()
        window = {"code": w.code, "name": w.name}
    hist = conn.execute(select(T.ticket_history, T.windows.c.code.label("from_window"))
                        .outerjoin(T.windows, T.windows.c.id == T.ticket_history.c.window_id)
                        .where(T.ticket_history.c.ticket_id == t["id"], T.ticket_history.c.action == "transfer")
                        .order_by(T.ticket_history.c.id)).mappings().all()
    transfers = [{"at": h["at"], "from_window": h["from_window"], **(h["detail"] or {})} for h in hist]
    apps = list(conn.execute(select(T.applications.c.id).where(T.applications.c.ticket_id == t["id"])).scalars())
    return {
        "id": t["id"], "number": t["number"], "zone": zones.get(t["zone_id"]), "queue_zone": zones.get(t["queue_zone_id"]),
        "matter": matter, "priority": t["priority"], "status": t["status"], "business_date": t["business_date"],
        "issued_at": t["issued_at"], "called_at": t["called_at"], "started_at": t["started_at"],
        "served_at": t["served_at"], "window": window, "call_count": t["call_count"], "transfers": transfers,
        "applications": apps,
    }


def get_ticket(conn: Connection, hall: Hall, ticket_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(tk).where(tk.c.id == ticket_id, tk.c.hall_id == hall.id)).mappings().first()
    return dict(r) if r else None


def list_tickets(conn: Connection, hall: Hall, *, zone: str | None, status: str | None, business_date: date,
                 limit: int, offset: int) -> list[dict[str, Any]]:
    q = select(tk).where(tk.c.hall_id == hall.id, tk.c.business_date == business_date)
    if zone is not None:
        q = q.where(tk.c.zone_id == select(T.zones.c.id).where(T.zones.c.hall_id == hall.id, T.zones.c.code == zone)
                    .scalar_subquery())
    if status is not None:
        q = q.where(tk.c.status == status)
    rows = conn.execute(q.order_by(tk.c.id).limit(limit).offset(offset)).mappings().all()
    zones = dict(conn.execute(select(T.zones.c.id, T.zones.c.code)).all())
    wins = dict(conn.execute(select(T.windows.c.id, T.windows.c.code)).all())
    return [{"id": r["id"], "number": r["number"], "zone": zones.get(r["zone_id"]),
             "queue_zone": zones.get(r["queue_zone_id"]), "priority": r["priority"], "status": r["status"],
             "issued_at": r["issued_at"], "called_at": r["called_at"], "served_at": r["served_at"],
             "window": wins.get(r["window_id"]), "call_count": r["call_count"]} for r in rows]


def windows_list(conn: Connection, hall: Hall) -> list[dict[str, Any]]:
    ws = conn.execute(select(T.windows).where(T.windows.c.hall_id == hall.id, T.windows.c.enabled.is_(True))
                      .order_by(T.windows.c.code)).mappings().all()
    zmap = dict(conn.execute(select(T.zones.c.id, T.zones.c.code)).all())
    served: dict[int, list[str]] = {}
    for wid, zid in conn.execute(select(T.window_zones.c.window_id, T.window_zones.c.zone_id)
                                 .order_by(T.window_zones.c.window_id, T.window_zones.c.position)):
        served.setdefault(wid, []).append(zmap[zid])
    clerks = dict(conn.execute(select(T.users.c.id, T.users.c.display_name)).all())
    active = {r["window_id"]: r for r in conn.execute(
        select(tk.c.id, tk.c.number, tk.c.status, tk.c.window_id, tk.c.called_at, tk.c.zone_id)
        .where(tk.c.hall_id == hall.id, tk.c.status.in_(ACTIVE_STATUSES))).mappings()}
    out = []
    for w in ws:
        a = active.get(w["id"])
        out.append({
            "code": w["code"], "name": w["name"], "zones": served.get(w["id"], []), "state": w["state"],
            "pause_reason": w["pause_reason"], "led_address": w["led_address"],
            "clerk": {"id": w["clerk_id"], "display_name": clerks.get(w["clerk_id"])} if w["clerk_id"] else None,
            "current_ticket": {"id": a["id"], "number": a["number"], "status": a["status"],
                               "zone": zmap.get(a["zone_id"]), "called_at": a["called_at"]} if a else None,
        })
    return out


def kiosk_menu(conn: Connection, hall: Hall, now: Any, today: date, ignore_hours: bool) -> dict[str, Any]:
    zs = conn.execute(select(T.zones).where(T.zones.c.hall_id == hall.id).order_by(T.zones.c.position)).mappings().all()
    ms = conn.execute(select(T.matters).where(T.matters.c.enabled.is_(True))
                      .order_by(T.matters.c.zone_id, T.matters.c.position)).mappings().all()
    waiting = waiting_counts(conn, hall, today)
    issued = dict(conn.execute(select(T.counters.c.zone_id, T.counters.c.value)
                               .where(T.counters.c.business_date == today)).all())
    zones = []
    for z in zs:
        n = waiting.get(z["code"], 0)
        zone = dict(z)
        is_open = bool(z["enabled"] and (ignore_hours or zone_is_open(conn, hall, zone, now)))
        zones.append({
            "code": z["code"], "name": z["name"], "prefix": z["prefix"], "open": is_open,
            "quota_left": max(0, z["daily_quota"] - issued.get(z["id"], 0)),
            "waiting": n, "estimated_wait_s": estimated_wait_s(conn, hall, zone, n),
            # For the kiosk: the wait one more person adds (live estimates from the waiting counts
            # of the stream), why a closed zone is closed, and its ticket hours.
            "wait_per_person_s": estimated_wait_s(conn, hall, zone, 1),
            "closed_reason": None if is_open else "hours" if zone["enabled"] else "disabled",
            "opening_hours": zone["opening_hours"] or hall.opening_hours,
            "matters": [{"code": m["code"], "name": m["name"], "department": m["department"],
                         "case_type": m["case_type"], "promised_days": m["promised_days"],
                         "materials": m["materials"], "fee": m["fee"]} for m in ms if m["zone_id"] == z["id"]],
        })
    return {"hall": {"code": hall.code, "name": hall.name, "hotline": hall.hotline}, "zones": zones}


def recent_calls(conn: Connection, hall: Hall, zones: set[str] | None, limit: int = 10) -> list[dict[str, Any]]:
    q = (select(T.events).where(T.events.c.hall_id == hall.id, T.events.c.type.in_(("ticket.called", "ticket.recalled")),
                                T.events.c.seq > 0)  # numbered events only (db/outbox.py)
         .order_by(T.events.c.seq.desc()).limit(limit))
    if zones:
        q = q.where(T.events.c.zone.in_(zones))
    return [event_wire(r) for r in conn.execute(q).mappings()]


def event_wire(r: Any) -> dict[str, Any]:
    ev = {"seq": r["seq"], "type": r["type"], "at": r["at"].isoformat(), **r["payload"]}
    if r["zone"] is not None:
        ev["zone"] = r["zone"]
    return ev


# Readers see numbered events only: on PostgreSQL an event committed but not yet numbered has
# a negative `seq` (its mark, db/outbox.py), so every read here is of `seq > N` with N >= 0.

def last_seq(conn: Connection) -> int:
    return max(conn.execute(select(func.coalesce(func.max(T.events.c.seq), 0))).scalar_one(), 0)


def events_since(conn: Connection, hall: Hall, since: int, limit: int) -> list[dict[str, Any]]:
    q = (select(T.events).where(T.events.c.hall_id == hall.id, T.events.c.seq > max(since, 0))
         .order_by(T.events.c.seq).limit(limit))
    return [event_wire(r) for r in conn.execute(q).mappings()]


def display_snapshot(conn: Connection, hall: Hall, today: date, zones: set[str] | None) -> dict[str, Any]:
    seq = last_seq(conn)
    wins = windows_list(conn, hall)
    if zones:
        wins = [w for w in wins if set(w["zones"]) & zones]
    waiting = waiting_counts(conn, hall, today)
    if zones:
        waiting = {k: v for k, v in waiting.items() if k in zones}
    return {
        "seq": seq, "hall": {"code": hall.code, "name": hall.name},
        "calls": recent_calls(conn, hall, zones),
        "windows": [{"code": w["code"], "name": w["name"], "state": w["state"],
                     "current_number": w["current_ticket"]["number"] if w["current_ticket"] else None}
                    for w in wins],
        "waiting": waiting,
    }


def public_ticket_ref(conn: Connection, token: str) -> dict[str, Any] | None:
    """{"id", "zone"} of the ticket with this public token (its queue zone's code), or None:
    what the public stream follows."""
    r = conn.execute(select(tk.c.id, T.zones.c.code).join(T.zones, T.zones.c.id == tk.c.queue_zone_id)
                     .where(tk.c.public_token == token)).first()
    return {"id": r.id, "zone": r.code} if r else None


def public_ticket(conn: Connection, hall: Hall, token: str) -> dict[str, Any] | None:
    t = conn.execute(select(tk).where(tk.c.public_token == token)).mappings().first()
    if t is None:
        return None
    t = dict(t)
    zone = dict(conn.execute(select(T.zones).where(T.zones.c.id == t["queue_zone_id"])).mappings().one())
    ahead = position(conn, t)
    window = None
    if t["window_id"] is not None and t["status"] in (TicketStatus.CALLED, TicketStatus.SERVING):
        w = conn.execute(select(T.windows.c.code, T.windows.c.name).where(T.windows.c.id == t["window_id"])).first()
        window = {"code": w.code, "name": w.name}
    return {"number": t["number"], "zone": {"code": zone["code"], "name": zone["name"]}, "status": t["status"],
            "waiting_ahead": ahead,
            "estimated_wait_s": estimated_wait_s(conn, hall, zone, ahead) if t["status"] == TicketStatus.WAITING else 0,
            "window": window, "issued_at": t["issued_at"], "business_date": t["business_date"]}


# ---------------------------------------------------------------- printing

def kiosk_printer(conn: Connection, printer_id: int | None) -> dict[str, Any] | None:
    """A kiosk's printer as the kiosk sees it: {"code", "state", "status"}."""
    from kiosk_server.services.printing import printer_state
    if printer_id is None:
        return None
    p = conn.execute(select(T.printers.c.code, T.printers.c.enabled, T.printers.c.status)
                     .where(T.printers.c.id == printer_id)).first()
    if p is None:
        return None
    return {"code": p.code, "state": printer_state(p.enabled, p.status), "status": p.status, "enabled": p.enabled}


def printers_list(conn: Connection, hall: Hall) -> list[dict[str, Any]]:
    """Every printer of the hall: its state, last status, kiosks, and the jobs waiting or failed."""
    from kiosk_server.services.printing import FAILED, PRINTING, QUEUED, printer_state
    pj = T.print_jobs
    counted = (QUEUED, PRINTING, FAILED)
    ps = conn.execute(select(T.printers).where(T.printers.c.hall_id == hall.id).order_by(T.printers.c.code)
                      ).mappings().all()
    counts: dict[int, dict[str, int]] = {}
    for pid, status, n in conn.execute(select(pj.c.printer_id, pj.c.status, func.count())
                                       .where(pj.c.status.in_(counted)).group_by(pj.c.printer_id, pj.c.status)):
        counts.setdefault(pid, {})[status] = n
    kiosks: dict[int, list[str]] = {}
    for pid, code in conn.execute(select(T.devices.c.printer_id, T.devices.c.code)
                                  .where(T.devices.c.hall_id == hall.id, T.devices.c.printer_id.is_not(None))
                                  .order_by(T.devices.c.code)):
        kiosks.setdefault(pid, []).append(code)
    return [{"code": p["code"], "name": p["name"], "enabled": p["enabled"],
             "state": printer_state(p["enabled"], p["status"]), "status": p["status"], "status_at": p["status_at"],
             "transport": p["transport"], "profile": p["profile"], "kiosks": kiosks.get(p["id"], []),
             "jobs": {s: counts.get(p["id"], {}).get(s, 0) for s in counted}} for p in ps]


def _job_summary(r: Any) -> dict[str, Any]:
    return {"id": r["id"], "printer": r["printer"], "kind": r["kind"], "status": r["status"],
            "attempts": r["attempts"], "last_error": r["last_error"], "next_attempt_at": r["next_attempt_at"],
            "reprint": r["reprint"], "lang": r["lang"],
            "ticket": {"id": r["ticket_id"], "number": r["number"]} if r["ticket_id"] is not None else None,
            "created_at": r["created_at"], "updated_at": r["updated_at"]}


def _jobs_query() -> Any:
    pj = T.print_jobs
    return (select(pj.c.id, pj.c.kind, pj.c.status, pj.c.attempts, pj.c.last_error, pj.c.next_attempt_at,
                   pj.c.reprint, pj.c.lang, pj.c.ticket_id, pj.c.created_at, pj.c.updated_at,
                   T.printers.c.code.label("printer"), tk.c.number)
            .select_from(pj.join(T.printers, T.printers.c.id == pj.c.printer_id)
                         .outerjoin(tk, tk.c.id == pj.c.ticket_id)))


def print_jobs_list(conn: Connection, hall: Hall, *, status: str | None, printer: str | None, limit: int,
                    before_id: int | None) -> list[dict[str, Any]]:
    """Newest first; no slip data (an operator sees what and where, not whose)."""
    pj = T.print_jobs
    q = _jobs_query().where(T.printers.c.hall_id == hall.id).order_by(pj.c.id.desc()).limit(limit)
    if status is not None:
        q = q.where(pj.c.status == status)
    if printer is not None:
        q = q.where(T.printers.c.code == printer)
    if before_id is not None:
        q = q.where(pj.c.id < before_id)
    return [_job_summary(r) for r in conn.execute(q).mappings()]


def print_job(conn: Connection, hall: Hall, job_id: int) -> dict[str, Any] | None:
    r = conn.execute(_jobs_query().where(T.print_jobs.c.id == job_id, T.printers.c.hall_id == hall.id)
                     ).mappings().first()
    return _job_summary(r) if r is not None else None


def print_job_for_preview(conn: Connection, hall: Hall, job_id: int) -> dict[str, Any] | None:
    pj = T.print_jobs
    r = conn.execute(select(pj.c.kind, pj.c.data, pj.c.lang, pj.c.reprint, T.printers.c.profile)
                     .join(T.printers, T.printers.c.id == pj.c.printer_id)
                     .where(pj.c.id == job_id, T.printers.c.hall_id == hall.id)).mappings().first()
    return dict(r) if r is not None else None


def enabled_printers(conn: Connection, hall_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(T.printers).where(T.printers.c.hall_id == hall_id,
                                                                   T.printers.c.enabled.is_(True))
                                          .order_by(T.printers.c.id)).mappings()]


# ---------------------------------------------------------------- the clerk's console

# ticket_history actions counted in a window's figures of the day
_FIGURE_ACTIONS = {"call": "called", "call_out_of_order": "called", "finish": "served", "no_show": "missed",
                   "transfer": "transferred_out"}


def window_today(conn: Connection, hall: Hall, w: dict[str, Any], today: date) -> dict[str, Any]:
    """One window's day as its console shows it: the zones it serves with their waiting counts,
    the tickets transferred to it and still waiting, today's missed tickets of its zones, its
    figures (from ticket_history: calls, services, no-shows and transfers made at this window
    today) and every zone of the hall (transfer targets). Reads today's tickets by their
    (zone, day) index and their history by ticket: never a scan of past days."""
    h, z = T.ticket_history, T.zones
    hall_zones = conn.execute(select(z.c.id, z.c.code, z.c.name).where(z.c.hall_id == hall.id)
                              .order_by(z.c.position, z.c.code)).all()
    code_of = {r.id: r.code for r in hall_zones}
    served_ids = list(conn.execute(select(T.window_zones.c.zone_id).where(T.window_zones.c.window_id == w["id"])
                                   .order_by(T.window_zones.c.position)).scalars())
    waiting = waiting_counts(conn, hall, today, served_ids) if served_ids else {}
    names = {r.id: r.name for r in hall_zones}
    today_tickets = and_(tk.c.zone_id.in_(list(code_of)), tk.c.business_date == today)

    figures: dict[str, Any] = {"called": 0, "served": 0, "missed": 0, "transferred_out": 0}
    for action, n in conn.execute(
            select(h.c.action, func.count()).select_from(tk.join(h, h.c.ticket_id == tk.c.id))
            .where(today_tickets, h.c.window_id == w["id"], h.c.action.in_(list(_FIGURE_ACTIONS)))
            .group_by(h.c.action)):
        figures[_FIGURE_ACTIONS[action]] += n
    spans = [(r.served_at - r.started_at).total_seconds() for r in conn.execute(
        select(tk.c.started_at, tk.c.served_at).where(today_tickets, tk.c.window_id == w["id"],
                                                      tk.c.status == TicketStatus.SERVED,
                                                      tk.c.started_at.is_not(None)))]
    figures["avg_service_s"] = round(sum(spans) / len(spans), 1) if spans else None

    last_transfer = (select(func.max(h.c.id)).where(h.c.ticket_id == tk.c.id, h.c.action == "transfer")
                     .correlate(tk).scalar_subquery())
    wins = dict(conn.execute(select(T.windows.c.id, T.windows.c.code).where(T.windows.c.hall_id == hall.id)).all())
    transferred_in = [
        {"id": r.id, "number": r.number, "zone": code_of.get(r.zone_id), "priority": r.priority,
         "from_window": wins.get(r.window_id), "reason": (r.detail or {}).get("reason"), "at": r.at}
        for r in conn.execute(
            select(tk.c.id, tk.c.number, tk.c.zone_id, tk.c.priority, h.c.window_id, h.c.detail, h.c.at)
            .select_from(tk.outerjoin(h, h.c.id == last_transfer))
            .where(tk.c.target_window_id == w["id"], IS_WAITING, tk.c.business_date == today)
            .order_by(tk.c.queue_key, tk.c.id).limit(200))]
    missed = [
        {"id": r.id, "number": r.number, "zone": code_of.get(r.zone_id), "queue_zone": code_of.get(r.queue_zone_id),
         "priority": r.priority, "called_at": r.called_at, "miss_count": r.miss_count}
        for r in conn.execute(
            select(tk.c.id, tk.c.number, tk.c.zone_id, tk.c.queue_zone_id, tk.c.priority, tk.c.called_at,
                   tk.c.miss_count)
            .where(tk.c.status == TicketStatus.MISSED, tk.c.business_date == today,
                   tk.c.queue_zone_id.in_(served_ids or [-1]))
            .order_by(tk.c.called_at.desc(), tk.c.id.desc()).limit(200))]
    return {
        "window": {"code": w["code"], "name": w["name"], "state": w["state"], "pause_reason": w["pause_reason"]},
        "business_date": today,
        "zones": [{"code": code_of[i], "name": names[i], "waiting": waiting.get(code_of[i], 0)}
                  for i in served_ids if i in code_of],
        "figures": figures,
        "transferred_in": transferred_in,
        "missed": missed,
        "hall_zones": [{"code": r.code, "name": r.name} for r in hall_zones],
    }
