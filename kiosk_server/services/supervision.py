"""The operator's live overview of the hall (监控): windows, queues, printers and alarms, as plain
data for the supervision page. A read: it changes nothing."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from kiosk_server.db import queries
from kiosk_server.db import tables as T
from kiosk_server.domain.model import ACTIVE_STATUSES, TicketStatus, WindowState
from kiosk_server.i18n import t as tr
from kiosk_server.services.context import Hall
from kiosk_server.services.printing import state_message_key
from kiosk_server.services.tickets import IS_WAITING, waiting_counts, zone_is_open

WAIT_ALARM_S = 30 * 60     # a zone whose oldest waiting ticket waits longer raises an alarm
PAUSE_ALARM_S = 15 * 60    # a window paused longer raises a warning
WINDOW_EVENTS = ("window.opened", "window.paused", "window.resumed", "window.closed")
STATE_SCAN = 5000          # newest window events read to find when each window entered its state
tk = T.tickets


def printer_overview_state(enabled: bool, status: dict[str, Any] | None) -> str:
    """online | paper_low | no_paper | offline (any other fault: unreachable, cover open …) |
    unknown (never polled) | disabled."""
    if not enabled:
        return "disabled"
    if status is None:
        return "unknown"
    error = status.get("error")
    if error == "paper_out":
        return "no_paper"
    if error:
        return "offline"
    return "paper_low" if status.get("paper_near_end") else "online"


def _state_since(conn: Connection, hall: Hall) -> dict[str, datetime]:
    """When each window entered its current state: its newest window.* event."""
    since: dict[str, datetime] = {}
    q = (select(T.events.c.at, T.events.c.payload)
         .where(T.events.c.hall_id == hall.id, T.events.c.type.in_(WINDOW_EVENTS))
         .order_by(T.events.c.seq.desc()).limit(STATE_SCAN))
    for at, payload in conn.execute(q):
        code = ((payload or {}).get("window") or {}).get("code")
        if code is not None and code not in since:
            since[code] = at
    return since


def _minutes(seconds: float) -> int:
    return int(seconds // 60)


def overview(conn: Connection, hall: Hall, *, now: datetime, today: date, lang: str, ignore_hours: bool = False,
             wait_alarm_s: int = WAIT_ALARM_S, pause_alarm_s: int = PAUSE_ALARM_S) -> dict[str, Any]:
    windows = queries.windows_list(conn, hall)  # enabled windows, their clerk and active ticket
    since = _state_since(conn, hall)
    started = dict(conn.execute(select(tk.c.id, tk.c.started_at).where(
        tk.c.hall_id == hall.id, tk.c.status.in_(ACTIVE_STATUSES))).all())
    out_windows = []
    for w in windows:
        cur = w["current_ticket"]
        out_windows.append({
            "code": w["code"], "name": w["name"], "zones": w["zones"], "state": w["state"],
            "since": since.get(w["code"]), "pause_reason": w["pause_reason"], "clerk": w["clerk"],
            "current_ticket": None if cur is None else {
                "id": cur["id"], "number": cur["number"], "status": cur["status"], "zone": cur["zone"],
                "since": started.get(cur["id"]) if cur["status"] == TicketStatus.SERVING else cur["called_at"]},
        })

    zones = conn.execute(select(T.zones).where(T.zones.c.hall_id == hall.id)
                         .order_by(T.zones.c.position, T.zones.c.code)).mappings().all()
    waiting = waiting_counts(conn, hall, today)
    open_windows = dict(conn.execute(
        select(T.window_zones.c.zone_id, func.count())
        .join(T.windows, and_(T.windows.c.id == T.window_zones.c.window_id, T.windows.c.enabled.is_(True),
                              T.windows.c.state == WindowState.OPEN.value))
        .group_by(T.window_zones.c.zone_id)).all())
    out_zones = []
    alarms: list[dict[str, Any]] = []
    for z in zones:
        oldest = conn.execute(select(tk.c.number, tk.c.issued_at).where(
            tk.c.queue_zone_id == z["id"], IS_WAITING, tk.c.business_date == today)
            .order_by(tk.c.issued_at, tk.c.id).limit(1)).first()
        longest = max(0, int((now - oldest.issued_at).total_seconds())) if oldest else 0
        out_zones.append({
            "code": z["code"], "name": z["name"], "enabled": z["enabled"],
            "open": bool(z["enabled"] and (ignore_hours or zone_is_open(conn, hall, dict(z), now))),
            "waiting": waiting.get(z["code"], 0), "longest_wait_s": longest,
            "oldest_number": oldest.number if oldest else None, "open_windows": open_windows.get(z["id"], 0)})
        if oldest is not None and longest > wait_alarm_s:
            alarms.append({"kind": "wait", "severity": "alarm", "object": z["code"], "since": oldest.issued_at,
                           "message": tr("alarm.wait", lang, zone=z["name"], minutes=_minutes(longest),
                                         number=oldest.number)})

    out_printers = []
    for p in queries.printers_list(conn, hall):
        state = printer_overview_state(p["enabled"], p["status"])
        error = (p["status"] or {}).get("error")
        key = state_message_key(p["enabled"], p["status"])
        if state == "paper_low":
            key = "printer.status.paper_near_end"
        message = tr(key, lang)
        out_printers.append({"code": p["code"], "name": p["name"], "enabled": p["enabled"], "state": state,
                             "error": error, "since": p["status_at"], "message": message, "jobs": p["jobs"]})
        if state in ("offline", "no_paper", "paper_low"):
            alarms.append({"kind": "printer", "severity": "warning" if state == "paper_low" else "alarm",
                           "object": p["code"], "since": p["status_at"],
                           "message": tr("alarm.printer", lang, printer=p["code"], name=p["name"], reason=message)})
        if p["jobs"].get("failed"):
            alarms.append({"kind": "print_jobs", "severity": "warning", "object": p["code"], "since": None,
                           "message": tr("alarm.print_jobs", lang, printer=p["code"], n=p["jobs"]["failed"])})

    for w in out_windows:
        if w["state"] == WindowState.PAUSED and w["since"] is not None:
            paused = (now - w["since"]).total_seconds()
            if paused > pause_alarm_s:
                alarms.append({"kind": "pause", "severity": "warning", "object": w["code"], "since": w["since"],
                               "message": tr("alarm.pause", lang, window=w["code"], minutes=_minutes(paused))})
    alarms.sort(key=lambda a: (a["severity"] != "alarm", a["kind"], a["object"]))
    return {"at": now, "business_date": today, "hall": {"code": hall.code, "name": hall.name},
            "thresholds": {"wait_alarm_s": wait_alarm_s, "pause_alarm_s": pause_alarm_s},
            "windows": out_windows, "zones": out_zones, "printers": out_printers, "alarms": alarms}
