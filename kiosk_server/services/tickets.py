"""The queue use cases: issue a ticket, call, recall, start, no-show, requeue, transfer,
finish, cancel, expire. Each runs inside one write transaction given by the caller and
returns its result with the events it appended; the caller publishes them after commit."""
from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from kiosk_server.db import raw
from kiosk_server.db import tables as T
from kiosk_server.domain.calendar import business_date, is_open
from kiosk_server.domain.errors import Conflict, Forbidden, NotFound
from kiosk_server.domain.model import (
    TRANSITIONS,
    Priority,
    QueueRank,
    Role,
    TicketStatus,
    WindowState,
    format_number,
)
from kiosk_server.services import audit, printing
from kiosk_server.services.context import Actor, Clock, Hall
from kiosk_server.services.events import Event, append_event
from kiosk_server.services.security import Keys

tk = T.tickets
# `status = 'waiting'` as a literal, the very condition of the partial indexes of waiting tickets:
# SQLite (and PostgreSQL's generic plans) use a partial index only for a query that spells it so.
IS_WAITING = tk.c.status == literal_column("'waiting'")
SERVICE_EMA_WEIGHT = 0.2  # weight of the newest service time in the zone's rolling average


@dataclass
class Outcome:
    ticket: dict[str, Any] | None
    events: list[Event]
    body: dict[str, Any] | None = None  # the ticket as the API answers it, when the use case built it


# ---------------------------------------------------------------- reads used by the use cases

def _zone(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    z = conn.execute(select(T.zones).where(T.zones.c.hall_id == hall.id, T.zones.c.code == code)).mappings().first()
    if z is None:
        raise NotFound("zone_not_found", zone=code)
    return dict(z)


def _window(conn: Connection, hall: Hall, code: str, *, lock: bool = False) -> dict[str, Any]:
    q = select(T.windows).where(T.windows.c.hall_id == hall.id, T.windows.c.code == code)
    if lock:
        q = q.with_for_update()
    w = conn.execute(q).mappings().first()
    if w is None or not w["enabled"]:
        raise NotFound("window_not_found", window=code)
    return dict(w)


def _ticket(conn: Connection, hall: Hall, ticket_id: int, *, lock: bool = False) -> dict[str, Any]:
    q = select(tk).where(tk.c.id == ticket_id, tk.c.hall_id == hall.id)
    if lock:
        q = q.with_for_update()
    t = conn.execute(q).mappings().first()
    if t is None:
        raise NotFound("ticket_not_found")
    return dict(t)


def _window_zone_ids(conn: Connection, window_id: int) -> list[int]:
    return list(conn.execute(select(T.window_zones.c.zone_id).where(T.window_zones.c.window_id == window_id)
                             .order_by(T.window_zones.c.position)).scalars())


def _zone_code(conn: Connection, zone_id: int) -> str:
    return conn.execute(select(T.zones.c.code).where(T.zones.c.id == zone_id)).scalar_one()


def waiting_counts(conn: Connection, hall: Hall, today: date, zone_ids: list[int] | None = None) -> dict[str, int]:
    """Tickets waiting per queue zone today, kept in the counters row by every transition."""
    q = (select(T.zones.c.code, func.coalesce(T.counters.c.waiting, 0))
         .select_from(T.zones.outerjoin(T.counters, and_(T.counters.c.zone_id == T.zones.c.id,
                                                         T.counters.c.business_date == today)))
         .where(T.zones.c.hall_id == hall.id))
    if zone_ids is not None:
        q = q.where(T.zones.c.id.in_(zone_ids))
    return {code: n for code, n in conn.execute(q)}


def _waiting_statement(dialect_name: str) -> Any:
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    up = dialect.insert(T.counters).values(zone_id=bindparam("zone_id"), business_date=bindparam("day"), value=0,
                                           waiting=bindparam("delta"))
    return up.on_conflict_do_update(index_elements=[T.counters.c.zone_id, T.counters.c.business_date],
                                    set_={"waiting": T.counters.c.waiting + up.excluded.waiting})


_ADJUST_WAITING = {name: _waiting_statement(name) for name in ("sqlite", "postgresql")}


def adjust_waiting(conn: Connection, zone_id: int, day: date, delta: int) -> None:
    conn.execute(_ADJUST_WAITING[conn.dialect.name], {"zone_id": zone_id, "day": day, "delta": delta})


def position(conn: Connection, t: dict[str, Any]) -> int:
    """People ahead of a waiting ticket in its queue zone (transfers and priority first)."""
    if t["status"] != TicketStatus.WAITING:
        return 0
    ahead = or_(tk.c.rank < t["rank"], and_(tk.c.rank == t["rank"], or_(
        tk.c.queue_key < t["queue_key"], and_(tk.c.queue_key == t["queue_key"], tk.c.id < t["id"]))))
    q = select(func.count()).select_from(tk).where(
        tk.c.queue_zone_id == t["queue_zone_id"], IS_WAITING, tk.c.business_date == t["business_date"], ahead)
    return conn.execute(q).scalar_one()


def estimated_wait_s(conn: Connection, hall: Hall, zone: dict[str, Any], ahead: int) -> int:
    """The wait estimate, counting the zone's open windows now."""
    return wait_estimate(hall, zone, ahead, raw.one(conn, _OPEN_WINDOWS_RAW, {"zone_id": zone["id"], "yes": True})[0])


def wait_estimate(hall: Hall, zone: dict[str, Any], ahead: int, open_windows: int) -> int:
    """Rolling average service time of the zone × people ahead ÷ open windows serving it."""
    avg = zone.get("avg_service_s") or hall.default_service_s
    return round(avg * ahead / max(1, open_windows))


def zone_is_open(conn: Connection, hall: Hall, zone: dict[str, Any], now: datetime) -> bool:
    if not zone["enabled"]:
        return False
    hours = zone["opening_hours"] or hall.opening_hours
    return is_open(now, hall.tz, hours, hall.holidays, hall.open_weekdays, hall.workdays)


def queue_time(now: datetime, hall: Hall) -> float:
    """Seconds since local midnight: the queues are per business day, and the small magnitude
    keeps a float precise to nanoseconds, so the number's sequence can break ties."""
    local = now.astimezone(hall.tz)
    return local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6


def public_token(now: datetime) -> str:
    """A ticket's public token: the issue time in milliseconds (12 hex digits), then 96 random
    bits in base64url. Unguessable all the same, and the unique index takes each new token at
    its right edge instead of dirtying a random leaf of a big index."""
    return f"{int(now.timestamp() * 1000):012x}{secrets.token_urlsafe(12)}"


# ---------------------------------------------------------------- helpers that write

def _history(conn: Connection, t: dict[str, Any], *, action: str, to: str, at: datetime, actor: Actor,
             window_id: int | None = None, detail: dict[str, Any] | None = None) -> None:
    conn.execute(insert(T.ticket_history).values(
        ticket_id=t["id"], at=at, action=action, from_status=t.get("status"), to_status=to,
        window_id=window_id, actor=actor.name, detail=detail))


def _ticket_ref(t: dict[str, Any], zone_code: str) -> dict[str, Any]:
    return {"id": t["id"], "number": t["number"], "zone": zone_code}


def _check_transition(t: dict[str, Any], action: str) -> str:
    allowed, to = TRANSITIONS[action]
    if t["status"] not in allowed:
        raise Conflict("ticket_state", number=t["number"], status=t["status"], action=action)
    return to


def _check_window_actor(w: dict[str, Any], actor: Actor) -> None:
    """Clerks act only at the window they opened; operators anywhere."""
    if actor.has(Role.OPERATOR):
        return
    if not actor.has(Role.CLERK) or w["clerk_id"] != actor.user_id or w["state"] == WindowState.CLOSED:
        raise Forbidden("window_not_yours", window=w["code"])


def _clerk_window_for_ticket(conn: Connection, hall: Hall, t: dict[str, Any], actor: Actor) -> dict[str, Any] | None:
    """The window from which the actor may act on a ticket: the one it stands at, or for a
    waiting/missed ticket any window of the actor's serving the ticket's queue zone."""
    if actor.has(Role.OPERATOR):
        if t["window_id"] is not None:
            return dict(conn.execute(select(T.windows).where(T.windows.c.id == t["window_id"])).mappings().one())
        return None
    if not actor.has(Role.CLERK):
        raise Forbidden("forbidden")
    mine = conn.execute(select(T.windows).where(T.windows.c.hall_id == hall.id, T.windows.c.clerk_id == actor.user_id,
                                                T.windows.c.state != WindowState.CLOSED)).mappings().first()
    if mine is None:
        raise Forbidden("forbidden")
    if t["window_id"] == mine["id"]:
        return dict(mine)
    if t["status"] in (TicketStatus.WAITING, TicketStatus.MISSED) and (
            t["queue_zone_id"] in _window_zone_ids(conn, mine["id"]) or t["target_window_id"] == mine["id"]):
        return dict(mine)
    raise Forbidden("window_not_yours", window=mine["code"])


def announcement(number: str, window_code: str, lang: str = "zh-CN") -> dict[str, Any]:
    """The token script of a call: 请 / A / 0 / 0 / 7 / 号 / 到 / 0 / 6 / 号窗口 / 办理."""
    from kiosk_server.i18n import t as tr
    tokens = ["请", *list(number), "号", "到", *list(window_code), "号窗口", "办理"]
    return {"text": tr("announce.call", lang, number=number, window=window_code), "tokens": tokens}


def _window_ref(w: dict[str, Any]) -> dict[str, Any]:
    return {"code": w["code"], "name": w["name"]}


# ---------------------------------------------------------------- issuing

# Issuing runs on the driver (db/raw.py): five short statements, no SQLAlchemy per-execute cost.
# The open windows serving a zone (`{zone}`: a parameter, or the zone row's id), for the estimate.
_OPEN_WINDOWS = ("SELECT count(*) FROM windows JOIN window_zones ON window_zones.window_id = windows.id "
                 "WHERE window_zones.zone_id = {zone} AND windows.state = 'open' AND windows.enabled = :yes")
_OPEN_WINDOWS_RAW = raw.Sql(_OPEN_WINDOWS.format(zone=":zone_id"))
_ZONE_COLS = "z.id, z.code, z.name, z.prefix, z.daily_quota, z.opening_hours, z.enabled, z.avg_service_s"
_ZONE_RAW = raw.Sql(f"SELECT {_ZONE_COLS} FROM zones z WHERE z.hall_id = :hall_id AND z.code = :code")
# The same, with the open windows serving the zone in the same round trip (not kept yet: see OpenWindowCounts).
_ZONE_WINDOWS_RAW = raw.Sql(f"SELECT {_ZONE_COLS}, ({_OPEN_WINDOWS.format(zone='z.id')}) "
                            "FROM zones z WHERE z.hall_id = :hall_id AND z.code = :code")
_MATTER_RAW = raw.Sql("SELECT m.id, m.code, m.name FROM matters m JOIN zones z ON z.id = m.zone_id "
                      "WHERE z.hall_id = :hall_id AND z.code = :zone AND m.code = :code AND m.enabled = :yes")
# One atomic statement advances the day's counter (and the zone's waiting count) and returns both.
# The zone is named by its code: no row when there is no such zone.
_NEXT_NUMBER = ("INSERT INTO counters (zone_id, business_date, value, waiting) SELECT z.id, :day, 1, 1 FROM zones z "
                "WHERE z.hall_id = :hall_id AND z.code = :code ON CONFLICT (zone_id, business_date) DO UPDATE "
                "SET value = counters.value + 1, waiting = counters.waiting + 1 RETURNING value, waiting")
_NEXT_NUMBER_RAW = raw.Sql(_NEXT_NUMBER)


@lru_cache(maxsize=8)
def _open_issue_pg(count_windows: bool, matter: bool) -> str:
    """PostgreSQL: the zone (with its open windows, when not kept), the counter advanced (with
    the new ticket's id from its sequence, so that nothing waits for the ticket's insert) and the
    matter, in one statement: one round trip where three made three. The counter's clause runs
    whether or not the zone is found (then it changes nothing)."""
    cols = _ZONE_COLS + (f", ({_OPEN_WINDOWS.format(zone='z.id')})" if count_windows else "")
    sql = (f"WITH c AS ({_NEXT_NUMBER}, nextval('tickets_id_seq') AS id) SELECT {cols}, c.value, c.waiting, c.id"
           + (", m.id, m.code, m.name" if matter else "") + " FROM zones z LEFT JOIN c ON true"
           + (" LEFT JOIN matters m ON m.zone_id = z.id AND m.code = :matter AND m.enabled = :yes" if matter else "")
           + " WHERE z.hall_id = :hall_id AND z.code = :code")
    return raw.Sql(sql).postgresql
_TICKET_INSERT = ("INSERT INTO tickets ({id}hall_id, zone_id, queue_zone_id, matter_id, business_date, seq, number, "
                  "priority, status, rank, queue_key, issued_at, call_count, miss_count, public_token, phone_enc, "
                  "phone_hash, appointment_code, application_number, issued_by) VALUES ({new}:hall_id, :zone_id, "
                  ":zone_id, :matter_id, :day, :seq, :number, :priority, 'waiting', :rank, :queue_key, :issued_at, 0, 0, "
                  ":public_token, :phone_enc, :phone_hash, :appointment_code, :application_number, :issued_by)")
_INSERT_TICKET_RAW = raw.Sql(_TICKET_INSERT.format(id="", new="") + " RETURNING id",
                             pg=_TICKET_INSERT.format(id="id, ", new=":id, "))
class OpenWindowCounts:
    """The open windows serving each zone, kept between requests for the wait estimate.

    Counting them joins the zone's windows (about fifty in a full hall): a tenth of an issue's
    CPU, for a figure that changes only when a window opens, closes, pauses, resumes or is
    edited, and each of those appends an event. The container forgets every count when it
    delivers such an event (`forget`), here or from another worker. A count read while a
    change was being delivered is not kept (`generation`), so a forgotten count cannot come back."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}  # by zone code (a renamed zone is a configuration change)
        self.generation = 0
        self._lock = threading.Lock()  # PostgreSQL runs transactions on threads

    def get(self, zone_code: str) -> int | None:
        return self.counts.get(zone_code)

    def put(self, zone_code: str, n: int, generation: int) -> None:
        with self._lock:
            if generation == self.generation:
                self.counts[zone_code] = n

    def forget(self) -> None:
        with self._lock:
            self.generation += 1
            self.counts.clear()


def issue_ticket(conn: Connection, *, hall: Hall, clock: Clock, keys: Keys, actor: Actor, zone_code: str,
                 matter_code: str | None = None, priority: str = Priority.NORMAL, phone: str | None = None,
                 appointment_code: str | None = None, application_number: str | None = None,
                 ignore_opening_hours: bool = False, status_base_url: str | None = None,
                 lang: str = "zh-CN", appointment_slot_s: float | None = None,
                 open_windows: OpenWindowCounts | None = None, last_write: bool = False) -> Outcome:
    """Issue a ticket. A kiosk with a printer gets its slip queued in the same transaction
    (`print`: {"job_id", "state"}; printed by the spooler after the commit, never here);
    `status_base_url` is the public address the ticket's QR code points at, `lang` the slip's.
    `appointment_slot_s` (seconds after local midnight of the booked slot's start; see
    services/appointments.py) makes it an appointment ticket, ordered by its slot.
    `open_windows`: the process's counts of open windows, when it keeps them. `last_write`: the
    caller writes nothing after this that refers to the ticket, so its insert may be deferred
    (raw.defer: on PostgreSQL it goes with the event, one round trip less).

    PostgreSQL: four round trips (BEGIN; zone, counter and matter; ticket and event; COMMIT)
    where one per statement made six; the zone's counter row, locked from the second, is held
    through two."""
    now = clock.now()
    today = business_date(now, hall.tz)
    d = conn.dialect.name
    known = open_windows.get(zone_code) if open_windows is not None else None
    generation = open_windows.generation if open_windows is not None else 0
    day = raw.day(d, today)
    # The counter advances before the checks below: one that refuses rolls it back with the rest.
    # One atomic statement advances it; the unique constraint on (zone, business_date, seq) makes
    # a duplicate number impossible even if this were wrong.
    params = {"hall_id": hall.id, "code": zone_code, "day": day, "matter": matter_code, "yes": True}
    cur = raw.cursor(conn)
    if d == "postgresql":
        cur.execute(_open_issue_pg(known is None, matter_code is not None), params)
        r = cur.fetchone()
        width = 8 if known is not None else 9
        z, numbered = r and r[:width], r and r[width:width + 3]
        matter = r[width + 3:] if r and matter_code is not None and r[width + 3] is not None else None
    else:
        z = cur.execute((_ZONE_RAW if known is not None else _ZONE_WINDOWS_RAW)[d], params).fetchone()
        numbered = cur.execute(_NEXT_NUMBER_RAW[d], params).fetchone()
        matter = (cur.execute(_MATTER_RAW[d], {**params, "zone": zone_code, "code": matter_code}).fetchone()
                  if matter_code is not None else None)
    if z is None:
        raise NotFound("zone_not_found", zone=zone_code)
    zone = {"id": z[0], "code": z[1], "name": z[2], "prefix": z[3], "daily_quota": z[4],
            "opening_hours": raw.read_doc(z[5]), "enabled": bool(z[6]), "avg_service_s": z[7]}
    if matter_code is not None and matter is None:
        raise NotFound("matter_not_found", matter=matter_code)
    if not (zone["enabled"] and (ignore_opening_hours or zone_is_open(conn, hall, zone, now))):
        raise Conflict("zone_closed", zone=zone["name"])
    seq, waiting, *new_id = numbered
    if seq > zone["daily_quota"]:
        raise Conflict("quota_reached", zone=zone["name"])  # rolls back: the counter does not move
    number = format_number(zone["prefix"], seq, 3 if zone["daily_quota"] <= 999 else 4)
    rank = (QueueRank.APPOINTMENT if appointment_slot_s is not None
            else QueueRank.PRIORITY if priority == Priority.PRIORITY else QueueRank.NORMAL)
    key = appointment_slot_s if appointment_slot_s is not None else queue_time(now, hall)
    row = {
        "hall_id": hall.id, "zone_id": zone["id"], "queue_zone_id": zone["id"],
        "matter_id": matter[0] if matter else None, "business_date": today, "seq": seq, "number": number,
        "priority": str(priority), "status": TicketStatus.WAITING.value, "rank": int(rank),
        "queue_key": key + seq * 1e-7,  # strictly increasing within a zone (and a slot)
        "public_token": public_token(now),
    }
    values = {**row, "day": day, "issued_at": raw.stamp(d, now),
              "phone_enc": keys.encrypt(phone, b"ticket.phone") if phone else None,
              "phone_hash": keys.lookup_hash("phone", phone) if phone else None,
              "appointment_code": appointment_code, "application_number": application_number,
              "issued_by": actor.name}
    if new_id:  # PostgreSQL: the id came with the number
        row["id"] = values["id"] = new_id[0]
        if last_write and actor.printer_id is None:  # a print job would refer to the ticket
            raw.defer(conn, _INSERT_TICKET_RAW, values)
        else:
            raw.cursor(conn).execute(_INSERT_TICKET_RAW[d], values)
    else:
        row["id"] = raw.run(conn, _INSERT_TICKET_RAW, values).fetchone()[0]
    # A new normal ticket is last in its zone: everyone waiting is ahead of it.
    ahead = waiting - 1 if rank == QueueRank.NORMAL else position(conn, row)
    if known is None:
        known = z[8]
        if open_windows is not None:
            open_windows.put(zone_code, known, generation)
    ev = append_event(conn, hall_id=hall.id, type="ticket.issued", at=now, zone=zone["code"],
                      payload={"ticket": _ticket_ref(row, zone["code"]), "waiting": {zone["code"]: waiting}})
    result = {
        "id": row["id"], "number": number,
        "zone": {"code": zone["code"], "name": zone["name"]},
        "matter": {"code": matter[1], "name": matter[2]} if matter else None,
        "priority": str(priority), "status": TicketStatus.WAITING.value,
        "waiting_ahead": ahead, "estimated_wait_s": wait_estimate(hall, zone, ahead, known),
        "issued_at": now, "business_date": today, "public_token": row["public_token"],
        "status_url": f"{status_base_url or ''}/t/{row['public_token']}", "print": None,
    }
    if actor.printer_id is not None:  # a kiosk with a printer: a read and an insert more (and a NOTIFY
        # on PostgreSQL); the printing itself happens in the spooler's thread after the commit
        data = printing.ticket_slip_data(
            hall, number=number, zone=result["zone"], matter=result["matter"], priority=result["priority"],
            waiting_ahead=ahead, estimated_wait_s=result["estimated_wait_s"], issued_at=now,
            status_url=printing.slip_status_url(status_base_url, row["public_token"]))
        result["print"] = printing.queue_job(conn, printer_id=actor.printer_id, kind="ticket", data=data, lang=lang,
                                             now=now, ticket_id=row["id"])
    return Outcome(result, [ev])


# ---------------------------------------------------------------- calling

# The condition is spelled exactly as the partial unique index's, so SQLite uses that index
# (it matches partial indexes by the text of the condition, not by bound parameters).
_ACTIVE_AT_WINDOW = select(tk).where(tk.c.window_id == bindparam("window_id"),
                                     text("tickets.status IN ('called', 'serving')"))


def _active_ticket(conn: Connection, window_id: int) -> dict[str, Any] | None:
    r = conn.execute(_ACTIVE_AT_WINDOW, {"window_id": window_id}).mappings().first()
    return dict(r) if r else None


def _ready_window(conn: Connection, hall: Hall, code: str, actor: Actor) -> dict[str, Any]:
    w = _window(conn, hall, code, lock=True)
    _check_window_actor(w, actor)
    if w["state"] != WindowState.OPEN:
        raise Conflict("window_not_open", window=code)
    active = _active_ticket(conn, w["id"])
    if active is not None:
        raise Conflict("window_busy", window=code, number=active["number"])
    return w


def _do_call(conn: Connection, hall: Hall, w: dict[str, Any], t: dict[str, Any], now: datetime, actor: Actor,
             action: str = "call") -> Outcome:
    claimed = conn.execute(update(tk).where(tk.c.id == t["id"], tk.c.status == TicketStatus.WAITING).values(
        status=TicketStatus.CALLED, window_id=w["id"], called_at=now, call_count=1, target_window_id=None)).rowcount
    if claimed != 1:  # cannot happen under the lock; refuse rather than double-call
        raise Conflict("ticket_state", number=t["number"], status=t["status"], action="call")
    adjust_waiting(conn, t["queue_zone_id"], t["business_date"], -1)
    consecutive = w["consecutive_priority"] + 1 if t["rank"] == QueueRank.PRIORITY else 0
    conn.execute(update(T.windows).where(T.windows.c.id == w["id"]).values(consecutive_priority=consecutive))
    _history(conn, t, action=action, to=TicketStatus.CALLED, at=now, actor=actor, window_id=w["id"])
    zone_code = _zone_code(conn, t["queue_zone_id"])
    today = t["business_date"]
    waiting = waiting_counts(conn, hall, today, [t["queue_zone_id"]])
    ev = append_event(conn, hall_id=hall.id, type="ticket.called", at=now, zone=zone_code, payload={
        "ticket": _ticket_ref(t, _zone_code(conn, t["zone_id"])), "window": _window_ref(w),
        "announcement": announcement(t["number"], w["code"]), "waiting": waiting})
    t.update(status=TicketStatus.CALLED.value, window_id=w["id"], called_at=now, call_count=1)
    return Outcome(t, [ev])


# call-next runs on the driver (db/raw.py): the window (locked), its active ticket, one UPDATE
# that claims the head of its queue and returns it, the zone's waiting count, one history row,
# the event, and the ticket's body for the answer, all in the one transaction.
_WINDOW_RAW = raw.Sql(
    "SELECT id, code, name, state, clerk_id, consecutive_priority, enabled FROM windows "
    "WHERE hall_id = :hall_id AND code = :code",
    pg="SELECT id, code, name, state, clerk_id, consecutive_priority, enabled FROM windows "
       "WHERE hall_id = :hall_id AND code = :code FOR UPDATE")
_TICKET_COLS = ("id, number, zone_id, queue_zone_id, matter_id, business_date, priority, status, rank, issued_at, "
                "called_at, started_at, served_at, call_count, window_id")
_TICKET_KEYS = tuple(c.strip() for c in _TICKET_COLS.split(","))
# The window's active ticket and zones by the window's code: no need to wait for its row first.
# The active ticket's condition is spelled as the partial unique index's, so that SQLite uses it.
_WINDOW_ID = "(SELECT id FROM windows WHERE hall_id = :hall_id AND code = :code)"
_ACTIVE_BY_CODE_RAW = raw.Sql(f"SELECT {_TICKET_COLS} FROM tickets WHERE window_id = {_WINDOW_ID} "
                              "AND status IN ('called', 'serving')")
_WINDOW_ZONES_RAW = raw.Sql(f"SELECT zone_id, position FROM window_zones WHERE window_id = {_WINDOW_ID} "
                            "ORDER BY position")
_ZONE_CODES_RAW = raw.Sql("SELECT id, code FROM zones WHERE id IN (:a, :b)")
_TAKE_WAITING_RAW = raw.Sql("UPDATE counters SET waiting = waiting - 1 WHERE zone_id = :zone_id AND business_date = :day "
                            "RETURNING waiting")
_WAITING_RAW = raw.Sql("SELECT waiting FROM counters WHERE zone_id = :zone_id AND business_date = :day")
_SET_CONSECUTIVE_RAW = raw.Sql("UPDATE windows SET consecutive_priority = :n WHERE id = :window_id")
_HISTORY_RAW = raw.Sql("INSERT INTO ticket_history (ticket_id, at, action, from_status, to_status, window_id, actor, "
                       "detail) VALUES (:ticket_id, :at, :action, :from_status, :to_status, :window_id, :actor, NULL)")
_FINISH_RAW = raw.Sql("UPDATE tickets SET status = 'served', started_at = :started_at, served_at = :now, closed_at = :now "
                      "WHERE id = :id AND status IN ('called', 'serving')")
_SERVICE_AVG_RAW = raw.Sql(
    f"UPDATE zones SET avg_service_s = CASE WHEN avg_service_s IS NULL THEN :took "
    f"ELSE {1 - SERVICE_EMA_WEIGHT!r} * avg_service_s + {SERVICE_EMA_WEIGHT!r} * :took END WHERE id = :zone_id")
_MATTER_NAME_RAW = raw.Sql("SELECT code, name FROM matters WHERE id = :id")
_TRANSFERS_RAW = raw.Sql(
    "SELECT h.at, w.code, h.detail FROM ticket_history h LEFT JOIN windows w ON w.id = h.window_id "
    "WHERE h.ticket_id = :ticket_id AND h.action = 'transfer' ORDER BY h.id")
_APPLICATIONS_RAW = raw.Sql("SELECT id FROM applications WHERE ticket_id = :ticket_id ORDER BY id")


# The head of a window's queue is the least, in queue order (transfers to this window first, then
# rank, the window's zone order, queue key, id), of a few candidates read by index seeks on the
# partial indexes of waiting tickets: per zone of the window and rank, the first tickets in
# queue-key order; and the tickets transferred to this window (a few). An appointment not yet due
# competes as a normal ticket with its key, and so does priority past the cap: within a zone and
# rank, queue-key order is queue order all the same (the keys of due appointments are smaller).
_CLAIM_SET = ("UPDATE tickets SET status = 'called', window_id = {w}, called_at = {now}, call_count = 1, "
              "target_window_id = NULL WHERE id = ({head}) AND {waiting} RETURNING " + _TICKET_COLS)
PG_CANDIDATES = 16  # per seek on PostgreSQL, where racing windows hold heads locked: the next stand in
# PostgreSQL, in a statement that finds its rows by id: "still waiting", spelled so that no index
# on status can serve it and the primary key is the only way in. Spelled `status = 'waiting'`,
# the planner reads every ticket waiting today through the status index or a partial index of
# waiting tickets and keeps the one id: its statistics date from the last VACUUM/ANALYZE, taken
# when nobody waited (the night), so "waiting" looks empty and such a scan free. Under 32 racing
# windows that was ~4,500 tuples read per call-next and most of PostgreSQL's ~7 ms of CPU per call.
# (status is NOT NULL: the same test.)
PG_BY_ID_WAITING = "{t}status IS NOT DISTINCT FROM 'waiting'"


def _placeholder(dialect: str) -> Callable[[str], str]:
    return (lambda n: f"%({n})s") if dialect == "postgresql" else (lambda n: f":{n}")


def _effective_rank(dialect: str, allow_priority: bool) -> str:
    p = _placeholder(dialect)
    demoted = f"t.rank = {int(QueueRank.APPOINTMENT)} AND t.queue_key > {p('now_key')}"
    if not allow_priority:
        demoted += f" OR t.rank = {int(QueueRank.PRIORITY)}"
    return f"CASE WHEN {demoted} THEN {int(QueueRank.NORMAL)} ELSE t.rank END"


def _zone_position(dialect: str) -> str:
    p = _placeholder(dialect)
    return (f"COALESCE((SELECT wz.position FROM window_zones wz WHERE wz.window_id = {p('window_id')} "
            f"AND wz.zone_id = t.queue_zone_id), 999)")


@lru_cache(maxsize=64)
def _candidates_sql(dialect: str, zones: int, allow_priority: bool, per_seek: int) -> str:
    """Rows (targeted, effective rank, zone position, queue key, id, seek) of the candidates:
    those transferred to the window, and `per_seek` at most from each of 4 × zones seeks."""
    p = _placeholder(dialect)
    day = p("day")
    seeks = [(f"SELECT 0 AS tgt, {_effective_rank(dialect, allow_priority)} AS r, {_zone_position(dialect)} AS pos, "
              f"t.queue_key AS k, t.id AS id, 0 AS seek FROM tickets t WHERE t.target_window_id = {p('window_id')} "
              f"AND t.status = 'waiting' AND t.business_date = {day}")]
    as_rank = {QueueRank.TRANSFERRED: str(int(QueueRank.TRANSFERRED)),
               QueueRank.APPOINTMENT: f"CASE WHEN t.queue_key > {p('now_key')} THEN {int(QueueRank.NORMAL)} "
                                      f"ELSE {int(QueueRank.APPOINTMENT)} END",
               QueueRank.PRIORITY: str(int(QueueRank.PRIORITY if allow_priority else QueueRank.NORMAL)),
               QueueRank.NORMAL: str(int(QueueRank.NORMAL))}
    for i in range(zones):
        for rank, r in as_rank.items():
            seeks.append(f"SELECT 1, {r}, CAST({p(f'p{i}')} AS INTEGER), t.queue_key, t.id, {len(seeks)} "
                         f"FROM tickets t WHERE t.queue_zone_id = {p(f'z{i}')} AND t.business_date = {day} "
                         f"AND t.rank = {int(rank)} AND t.status = 'waiting' AND t.target_window_id IS NULL "
                         f"ORDER BY t.queue_key, t.id LIMIT {per_seek}")
    # SQLite takes ORDER BY … LIMIT in a compound's member only inside a subquery.
    return " UNION ALL ".join(f"SELECT * FROM ({q}) s{n}" for n, q in enumerate(seeks))


@lru_cache(maxsize=64)
def _claim_sql(zones: int, allow_priority: bool) -> str:
    """SQLite: UPDATE … WHERE id = (the least candidate) RETURNING the ticket."""
    head = f"SELECT id FROM ({_candidates_sql('sqlite', zones, allow_priority, 1)}) ORDER BY tgt, r, pos, k, id LIMIT 1"
    return _CLAIM_SET.format(w=":window_id", now=":now", head=head, waiting="status = 'waiting'")


def _mine(zones: int, waiting: str = "t.status = 'waiting'") -> str:
    """PostgreSQL: a waiting ticket of this window's queue (re-checked on the row as it is locked)."""
    zone_list = ", ".join(f"%(z{i})s" for i in range(zones))
    return (f"{waiting} AND (t.target_window_id = %(window_id)s "
            f"OR (t.target_window_id IS NULL AND t.queue_zone_id IN ({zone_list or 'NULL'})))")


@lru_cache(maxsize=64)
def _claim_candidate_pg(zones: int) -> str:
    """PostgreSQL: claim the first of the given candidates (in the given order) that no other
    transaction holds locked and that still waits here. The rows are found by id alone: given the
    day too, the planner reads every ticket waiting that day through the status index (it
    takes status and day for independent, so 'waiting today' for a handful of rows)."""
    head = (f"SELECT t.id FROM tickets t WHERE t.id = ANY(%(ids)s::bigint[]) "
            f"AND {_mine(zones, PG_BY_ID_WAITING.format(t='t.'))} "
            f"ORDER BY array_position(%(ids)s::bigint[], t.id) FOR UPDATE OF t SKIP LOCKED LIMIT 1")
    return _CLAIM_SET.format(w="%(window_id)s", now="%(now)s", head=head, waiting=PG_BY_ID_WAITING.format(t=""))


@lru_cache(maxsize=64)
def _claim_full_pg(zones: int, allow_priority: bool) -> str:
    """PostgreSQL: claim the first unlocked ticket of the whole queue, sorted in full (the
    candidates were all locked or taken: racing windows never block, nor miss a waiting ticket)."""
    head = (f"SELECT t.id FROM tickets t WHERE t.business_date = %(day)s AND {_mine(zones)} "
            f"ORDER BY CASE WHEN t.target_window_id = %(window_id)s THEN 0 ELSE 1 END, "
            f"{_effective_rank('postgresql', allow_priority)}, {_zone_position('postgresql')}, t.queue_key, t.id "
            f"LIMIT 1 FOR UPDATE OF t SKIP LOCKED")
    return _CLAIM_SET.format(w="%(window_id)s", now="%(now)s", head=head, waiting=PG_BY_ID_WAITING.format(t=""))


def _takeable(candidates: list[tuple[Any, ...]]) -> list[int]:
    """The candidates' ids in queue order, up to the last one no unseen ticket can precede: a
    zone seek that returned PG_CANDIDATES rows may have more behind its last, so none after that
    (the transfers to the window, seek 0, come whole)."""
    last: dict[int, tuple[Any, ...]] = {}
    count: dict[int, int] = {}
    for c in candidates:
        last[c[5]] = max(last.get(c[5], c[:5]), c[:5])
        count[c[5]] = count.get(c[5], 0) + 1
    bound = min((last[s] for s, n in count.items() if s and n == PG_CANDIDATES), default=None)
    return [c[4] for c in sorted(c[:5] for c in candidates) if bound is None or c <= bound]


def _claim(cur: Any, d: str, zones: int, allow_priority: bool, params: dict[str, Any]) -> tuple[Any, ...] | None:
    """Claim the head of the window's queue: its row, or None when nobody waits. A ticket is
    claimed once: the UPDATE requires it still waiting (and PostgreSQL locks it, skipping the
    heads other windows hold, so that racing windows never get the same ticket nor wait)."""
    if d == "sqlite":
        cur.execute(_claim_sql(zones, allow_priority), params)
        return cur.fetchone()  # type: ignore[no-any-return]
    cur.execute(_candidates_sql(d, zones, allow_priority, PG_CANDIDATES), params)
    candidates = cur.fetchall()
    if not candidates:
        return None
    cur.execute(_claim_candidate_pg(zones), {**params, "ids": _takeable(candidates)})
    row = cur.fetchone()
    if row is None:
        cur.execute(_claim_full_pg(zones, allow_priority), params)
        row = cur.fetchone()
    return row  # type: ignore[no-any-return]


def _ticket_row(values: tuple[Any, ...]) -> dict[str, Any]:
    t = dict(zip(_TICKET_KEYS, values, strict=True))
    t["business_date"] = raw.read_day(t["business_date"])
    for k in ("issued_at", "called_at", "started_at", "served_at"):
        t[k] = raw.read_stamp(t[k])
    return t


def _window_from(r: tuple[Any, ...] | None, code: str, actor: Actor) -> dict[str, Any]:
    if r is None or not r[6]:
        raise NotFound("window_not_found", window=code)
    w = {"id": r[0], "code": r[1], "name": r[2], "state": r[3], "clerk_id": r[4], "consecutive_priority": r[5],
         "enabled": bool(r[6])}
    _check_window_actor(w, actor)
    return w


def _run(conn: Connection, sql: raw.Sql, params: dict[str, Any]) -> Any:
    """Execute on a cursor of its own."""
    cur = raw.cursor(conn)
    cur.execute(sql[conn.dialect.name], params)
    return cur


def _history_raw(conn: Connection, t: dict[str, Any], *, action: str, frm: str, to: str, at: Any,
                 window_id: int, actor: Actor) -> None:
    """Nothing in call-next reads the history it writes: deferred (raw.defer)."""
    raw.defer(conn, _HISTORY_RAW, {"ticket_id": t["id"], "at": at, "action": action, "from_status": frm,
                                   "to_status": to, "window_id": window_id, "actor": actor.name})


def _finish_active(conn: Connection, d: str, hall: Hall, w: dict[str, Any], t: dict[str, Any],
                   now: datetime, actor: Actor) -> tuple[list[Event], dict[str, Any] | None]:
    """办结 the window's ticket (starting it first if it was only called: its service ran from
    the call), as start + finish would: one round trip, the history deferred. Returns its events
    and the parameters of the zone's rolling average update (_SERVICE_AVG_RAW), which the caller
    runs last: see call_next."""
    stamp = raw.stamp(d, now)
    began = t["started_at"] or t["called_at"]
    # Finished before the claim: a window holds one active ticket (a unique index).
    _run(conn, _FINISH_RAW, {"id": t["id"], "now": stamp, "started_at": raw.stamp(d, began)})
    codes = dict(_run(conn, _ZONE_CODES_RAW, {"a": t["queue_zone_id"], "b": t["zone_id"]}).fetchall())
    r = _run(conn, _WAITING_RAW, {"zone_id": t["queue_zone_id"], "day": raw.day(d, t["business_date"])}).fetchone()
    payload = {"ticket": _ticket_ref(t, codes[t["zone_id"]]), "window": _window_ref(w),
               "waiting": {codes[t["queue_zone_id"]]: r[0] if r else 0}}
    events = []
    if t["status"] == TicketStatus.CALLED:
        _history_raw(conn, t, action="start", frm=TicketStatus.CALLED, to=TicketStatus.SERVING, at=stamp,
                     window_id=w["id"], actor=actor)
        events.append(append_event(conn, hall_id=hall.id, type="ticket.started", at=now,
                                   zone=codes[t["queue_zone_id"]], payload=payload))
    _history_raw(conn, t, action="finish", frm=TicketStatus.SERVING, to=TicketStatus.SERVED, at=stamp,
                 window_id=w["id"], actor=actor)
    events.append(append_event(conn, hall_id=hall.id, type="ticket.served", at=now, zone=codes[t["queue_zone_id"]],
                               payload=payload))
    avg = None if began is None else {"took": max(0.0, (now - began).total_seconds()), "zone_id": t["queue_zone_id"]}
    return events, avg


def _body_reads(conn: Connection, t: dict[str, Any]) -> tuple[Any, ...]:
    """The reads a ticket's API body needs besides its row, each on its own cursor."""
    return (_run(conn, _ZONE_CODES_RAW, {"a": t["queue_zone_id"], "b": t["zone_id"]}),
            _run(conn, _MATTER_NAME_RAW, {"id": t["matter_id"]}) if t["matter_id"] is not None else None,
            _run(conn, _TRANSFERS_RAW, {"ticket_id": t["id"]}), _run(conn, _APPLICATIONS_RAW, {"ticket_id": t["id"]}))


def ticket_body_fast(t: dict[str, Any], reads: tuple[Any, ...],
                     w: dict[str, Any] | None) -> tuple[dict[str, Any], dict[int, str]]:
    """The ticket's API body (as queries.ticket_body) from the row in hand and its _body_reads;
    and the zone codes read."""
    codes_cur, matter_cur, transfers_cur, apps_cur = reads
    codes = dict(codes_cur.fetchall())
    m = matter_cur.fetchone() if matter_cur is not None else None
    matter = {"code": m[0], "name": m[1]} if m else None
    transfers = [{"at": raw.read_stamp(at), "from_window": code, **(raw.read_doc(detail) or {})}
                 for at, code, detail in transfers_cur.fetchall()]
    apps = [r[0] for r in apps_cur.fetchall()]
    return {
        "id": t["id"], "number": t["number"], "zone": codes.get(t["zone_id"]), "queue_zone": codes.get(t["queue_zone_id"]),
        "matter": matter, "priority": t["priority"], "status": t["status"], "business_date": t["business_date"],
        "issued_at": t["issued_at"], "called_at": t["called_at"], "started_at": t["started_at"],
        "served_at": t["served_at"], "window": _window_ref(w) if w else None, "call_count": t["call_count"],
        "transfers": transfers, "applications": apps,
    }, codes


def call_next(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, window_code: str,
              finish_current: bool = False) -> Outcome:
    """Claim the head of the window's queue. With `finish_current`, the ticket the window holds
    is finished first in the same transaction (办结并呼叫下一位: one button for the clerk).
    The outcome's `body` is the called ticket as the API answers it."""
    now = clock.now()
    today = business_date(now, hall.tz)
    d = conn.dialect.name
    by_code = {"hall_id": hall.id, "code": window_code}
    w = _window_from(_run(conn, _WINDOW_RAW, by_code).fetchone(), window_code, actor)  # locked first
    active, zones = _run(conn, _ACTIVE_BY_CODE_RAW, by_code).fetchone(), _run(conn, _WINDOW_ZONES_RAW, by_code).fetchall()
    events: list[Event] = []
    avg = None
    if active is not None:
        current = _ticket_row(active)
        if not finish_current:
            if w["state"] != WindowState.OPEN:
                raise Conflict("window_not_open", window=window_code)
            raise Conflict("window_busy", window=window_code, number=current["number"])
        events, avg = _finish_active(conn, d, hall, w, current, now, actor)
    if w["state"] != WindowState.OPEN:
        raise Conflict("window_not_open", window=window_code)
    cur = raw.cursor(conn)
    stamp = raw.stamp(d, now)
    day = raw.day(d, today)
    params: dict[str, Any] = {"window_id": w["id"], "day": day, "now": stamp,
                              # keys of slot starts carry seq × 1e-7 (< 0.001): a slot is due from its minute
                              "now_key": queue_time(now, hall) + 0.001}
    for i, (zone_id, pos) in enumerate(zones):
        params.update({f"z{i}": zone_id, f"p{i}": pos})
    claimed = _claim(cur, d, len(zones), w["consecutive_priority"] < hall.priority_cap, params)
    # The rows every call of a zone updates (its rolling average, its waiting count) come last: a
    # row lock is held until COMMIT, and the zone's other windows queue on it. Taken first, it was
    # held through the whole transaction, and 32 windows on six zones queued ~11 ms a call on it.
    # The average and the history nobody reads here are deferred (raw.defer): on PostgreSQL they
    # go with the events just before COMMIT.
    if claimed is None:
        if avg is not None:
            raw.defer(conn, _SERVICE_AVG_RAW, avg)
        return Outcome(None, events)
    t = _ticket_row(claimed)
    consecutive = w["consecutive_priority"] + 1 if t["rank"] == QueueRank.PRIORITY else 0
    if consecutive != w["consecutive_priority"]:
        raw.defer(conn, _SET_CONSECUTIVE_RAW, {"n": consecutive, "window_id": w["id"]})
    _history_raw(conn, t, action="call", frm=TicketStatus.WAITING, to=TicketStatus.CALLED, at=stamp,
                 window_id=w["id"], actor=actor)
    if avg is not None:
        raw.defer(conn, _SERVICE_AVG_RAW, avg)
    body, codes = ticket_body_fast(t, _body_reads(conn, t), w)
    waiting = _run(conn, _TAKE_WAITING_RAW, {"zone_id": t["queue_zone_id"], "day": raw.day(d, t["business_date"])}
                   ).fetchone()[0]
    zone_code = codes[t["queue_zone_id"]]
    events.append(append_event(conn, hall_id=hall.id, type="ticket.called", at=now, zone=zone_code, payload={
        "ticket": _ticket_ref(t, codes[t["zone_id"]]), "window": _window_ref(w),
        "announcement": announcement(t["number"], w["code"]), "waiting": {zone_code: waiting}}))
    return Outcome(t, events, body)


def call_ticket(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, window_code: str, ticket_id: int) -> Outcome:
    """Call a chosen ticket out of order (audited)."""
    now = clock.now()
    w = _ready_window(conn, hall, window_code, actor)
    t = _ticket(conn, hall, ticket_id, lock=True)
    _check_transition(t, "call")
    zone_ids = _window_zone_ids(conn, w["id"])
    if t["target_window_id"] not in (None, w["id"]) or (t["target_window_id"] is None and t["queue_zone_id"] not in zone_ids):
        raise Conflict("ticket_not_here", number=t["number"])
    out = _do_call(conn, hall, w, t, now, actor, action="call_out_of_order")
    audit.record(conn, actor=actor, action="ticket.call_out_of_order", at=now, object_type="ticket",
                 object_id=t["id"], detail={"number": t["number"], "window": w["code"]})
    return out


def recall(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, window_code: str) -> Outcome:
    now = clock.now()
    w = _window(conn, hall, window_code, lock=True)
    _check_window_actor(w, actor)
    t = _active_ticket(conn, w["id"])
    if t is None or t["status"] != TicketStatus.CALLED:
        raise Conflict("no_active_ticket", window=w["code"])
    if t["call_count"] > hall.recall_cap:
        raise Conflict("recall_cap_reached", cap=hall.recall_cap)
    conn.execute(update(tk).where(tk.c.id == t["id"]).values(call_count=tk.c.call_count + 1))
    _history(conn, t, action="recall", to=TicketStatus.CALLED, at=now, actor=actor, window_id=w["id"])
    ev = append_event(conn, hall_id=hall.id, type="ticket.recalled", at=now, zone=_zone_code(conn, t["queue_zone_id"]),
                      payload={"ticket": _ticket_ref(t, _zone_code(conn, t["zone_id"])), "window": _window_ref(w),
                               "announcement": announcement(t["number"], w["code"]), "call_count": t["call_count"] + 1})
    t["call_count"] += 1
    return Outcome(t, [ev])


# ---------------------------------------------------------------- ticket actions

def _simple(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, ticket_id: int, action: str,
            event_type: str | None, values: dict[str, Any] | None = None, audit_action: str | None = None) -> Outcome:
    now = clock.now()
    t = _ticket(conn, hall, ticket_id, lock=True)
    w = _clerk_window_for_ticket(conn, hall, t, actor)
    to = _check_transition(t, action)
    vals = {"status": to, **(values or {})}
    stamp = {"start": "started_at", "finish": "served_at"}.get(action)
    if stamp:
        vals[stamp] = now
    if to in (TicketStatus.SERVED, TicketStatus.CANCELLED, TicketStatus.EXPIRED):
        vals["closed_at"] = now
    conn.execute(update(tk).where(tk.c.id == t["id"]).values(**vals))
    if (t["status"] == TicketStatus.WAITING) != (to == TicketStatus.WAITING):
        adjust_waiting(conn, t["queue_zone_id"], t["business_date"], 1 if to == TicketStatus.WAITING else -1)
    _history(conn, t, action=action, to=to, at=now, actor=actor, window_id=w["id"] if w else None)
    events = []
    if event_type:
        zone_code = _zone_code(conn, t["queue_zone_id"])
        payload: dict[str, Any] = {"ticket": _ticket_ref(t, _zone_code(conn, t["zone_id"]))}
        if w is not None:
            payload["window"] = _window_ref(w)
        payload["waiting"] = waiting_counts(conn, hall, t["business_date"], [t["queue_zone_id"]])
        events.append(append_event(conn, hall_id=hall.id, type=event_type, at=now, zone=zone_code, payload=payload))
    if audit_action:
        audit.record(conn, actor=actor, action=audit_action, at=now, object_type="ticket", object_id=t["id"],
                     detail={"number": t["number"], "from": t["status"]})
    t.update(vals)
    return Outcome(t, events)


def start(conn: Connection, **kw: Any) -> Outcome:
    return _simple(conn, action="start", event_type="ticket.started", **kw)


def no_show(conn: Connection, **kw: Any) -> Outcome:
    return _simple(conn, action="no_show", event_type="ticket.missed", values={"miss_count": tk.c.miss_count + 1}, **kw)


def cancel(conn: Connection, **kw: Any) -> Outcome:
    return _simple(conn, action="cancel", event_type="ticket.cancelled", audit_action="ticket.cancel", **kw)


def finish(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, ticket_id: int) -> Outcome:
    out = _simple(conn, hall=hall, clock=clock, actor=actor, ticket_id=ticket_id, action="finish",
                  event_type="ticket.served")
    t = out.ticket
    assert t is not None
    if t["started_at"] is not None:
        took = (t["served_at"] - t["started_at"]).total_seconds()
        z = T.zones
        current = conn.execute(select(z.c.avg_service_s).where(z.c.id == t["queue_zone_id"])).scalar_one()
        avg = took if current is None else (1 - SERVICE_EMA_WEIGHT) * current + SERVICE_EMA_WEIGHT * took
        conn.execute(update(z).where(z.c.id == t["queue_zone_id"]).values(avg_service_s=avg))
    return out


def requeue(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, ticket_id: int) -> Outcome:
    """missed → waiting, placed after `requeue_after` waiting tickets of its queue."""
    now = clock.now()
    t = _ticket(conn, hall, ticket_id, lock=True)
    _clerk_window_for_ticket(conn, hall, t, actor)  # who may act comes before what state allows
    _check_transition(t, "requeue")
    keys = list(conn.execute(select(tk.c.queue_key).where(
        tk.c.queue_zone_id == t["queue_zone_id"], IS_WAITING, tk.c.business_date == t["business_date"],
        tk.c.rank == int(QueueRank.NORMAL))
        .order_by(tk.c.queue_key, tk.c.id).limit(hall.requeue_after + 1)).scalars())
    k = hall.requeue_after
    if k == 0:
        key = (keys[0] - 1.0) if keys else queue_time(now, hall)
    elif len(keys) < k:
        key = max([*keys, queue_time(now, hall)]) + 0.001
    elif len(keys) == k:
        key = keys[-1] + 0.001
    else:
        key = (keys[k - 1] + keys[k]) / 2
    return _simple(conn, hall=hall, clock=clock, actor=actor, ticket_id=ticket_id, action="requeue",
                   event_type="ticket.requeued",
                   values={"rank": int(QueueRank.NORMAL), "queue_key": key, "window_id": None})


def transfer(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, ticket_id: int,
             to_window: str | None = None, to_zone: str | None = None, reason: str | None = None) -> Outcome:
    """called/serving → waiting in another queue, same number, ahead of ordinary tickets."""
    if (to_window is None) == (to_zone is None):
        raise Conflict("transfer_target")
    now = clock.now()
    t = _ticket(conn, hall, ticket_id, lock=True)
    w = _clerk_window_for_ticket(conn, hall, t, actor)
    _check_transition(t, "transfer")
    values: dict[str, Any] = {"status": TicketStatus.WAITING, "rank": int(QueueRank.TRANSFERRED),
                              "queue_key": queue_time(now, hall), "window_id": None, "started_at": None}
    detail: dict[str, Any] = {"reason": reason}
    if to_window is not None:
        target = _window(conn, hall, to_window)
        if w is not None and target["id"] == w["id"]:
            raise Conflict("transfer_same_window")
        values["target_window_id"] = target["id"]
        detail["to_window"] = target["code"]
    else:
        zone = _zone(conn, hall, to_zone or "")
        values["target_window_id"] = None
        values["queue_zone_id"] = zone["id"]
        detail["to_zone"] = zone["code"]
    conn.execute(update(tk).where(tk.c.id == t["id"]).values(**values))
    adjust_waiting(conn, values.get("queue_zone_id", t["queue_zone_id"]), t["business_date"], 1)
    _history(conn, t, action="transfer", to=TicketStatus.WAITING, at=now, actor=actor,
             window_id=w["id"] if w else None, detail=detail)
    queue_zone = values.get("queue_zone_id", t["queue_zone_id"])
    zone_code = _zone_code(conn, queue_zone)
    payload: dict[str, Any] = {"ticket": _ticket_ref(t, _zone_code(conn, t["zone_id"])),
                               "from_window": _window_ref(w) if w else None,
                               "to_window": detail.get("to_window"), "to_zone": detail.get("to_zone"),
                               "waiting": waiting_counts(conn, hall, t["business_date"], list({queue_zone, t["queue_zone_id"]}))}
    ev = append_event(conn, hall_id=hall.id, type="ticket.transferred", at=now, zone=zone_code, payload=payload)
    t.update(values)
    return Outcome(t, [ev])


# ---------------------------------------------------------------- day end

def expire_past(conn: Connection, *, hall: Hall, clock: Clock) -> list[Event]:
    """Expire every open ticket of a past business day (waiting, missed, or left called).
    Idempotent: a second run finds nothing."""
    now = clock.now()
    today = business_date(now, hall.tz)
    rows = conn.execute(select(tk.c.id, tk.c.number, tk.c.status, tk.c.zone_id, tk.c.queue_zone_id,
                               tk.c.business_date).where(
        tk.c.hall_id == hall.id, tk.c.business_date < today,
        tk.c.status.in_(TRANSITIONS["expire"][0])).with_for_update()).mappings().all()
    if not rows:
        return []
    codes = dict(conn.execute(select(T.zones.c.id, T.zones.c.code).where(T.zones.c.hall_id == hall.id)).all())
    events = []
    for r in rows:
        conn.execute(update(tk).where(tk.c.id == r["id"]).values(status=TicketStatus.EXPIRED, closed_at=now))
        if r["status"] == TicketStatus.WAITING:
            adjust_waiting(conn, r["queue_zone_id"], r["business_date"], -1)
        _history(conn, dict(r), action="expire", to=TicketStatus.EXPIRED, at=now, actor=Actor("system", frozenset()))
        events.append(append_event(conn, hall_id=hall.id, type="ticket.expired", at=now, zone=codes[r["queue_zone_id"]],
                                   payload={"ticket": {"id": r["id"], "number": r["number"], "zone": codes[r["zone_id"]]}}))
    events.append(append_event(conn, hall_id=hall.id, type="queue.changed", at=now,
                               payload={"waiting": waiting_counts(conn, hall, today)}))
    return events

