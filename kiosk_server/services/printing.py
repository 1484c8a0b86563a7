"""Printing: the print jobs of the hall, and the spooler's store.

The server never prints on a request. A use case queues a job (a row of `print_jobs`: a
printer_driver layout name and its data) in the transaction it runs in; after the commit the spooler of
that printer is woken (in this process directly, in another worker through NOTIFY on PostgreSQL)
and prints it from its own thread through `DbJobStore`, printer_driver's JobStore port on the
same table.

A kiosk's ticket is queued even while its printer cannot print: the answer then says
`unavailable`, so the kiosk shows the ticket's QR code on screen at once, and the slip still
comes out (in order, without losing any) when the printer is back; a disabled printer gets no
job at all. Reprints (补打) are asked for by staff, never by the kiosk: a kiosk token lives on a
public machine, and a reprint by ticket id would print anybody's ticket.

Nothing here imports printer_driver at module level: workers that never print stay without it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, or_, select, update

from kiosk_server.db import outbox, raw
from kiosk_server.db import tables as T
from kiosk_server.domain.errors import Conflict, NotFound
from kiosk_server.domain.model import TicketStatus
from kiosk_server.services import audit
from kiosk_server.services.context import Actor, Clock, Hall
from kiosk_server.services.events import append_event

if TYPE_CHECKING:  # the driver's types, for the port; imported lazily at run time
    from printer_driver.spooler import Job
    from printer_driver.status import PrinterStatus

log = logging.getLogger("kiosk_server.printing")

pj = T.print_jobs
QUEUED, PRINTING, DONE, FAILED, CANCELLED = "queued", "printing", "done", "failed", "cancelled"
JOB_STATUSES = (QUEUED, PRINTING, DONE, FAILED, CANCELLED)
CHANNEL = "hall_print"            # PostgreSQL NOTIFY channel: payload is the printer id
SPOOLER = Actor(name="system:spooler", roles=frozenset())
CLOSED_TICKET = (TicketStatus.SERVED, TicketStatus.CANCELLED, TicketStatus.EXPIRED)


# ---------------------------------------------------------------- states

def status_ready(status: dict[str, Any] | None) -> bool | None:
    """The stored status of a printer: True ready, False cannot print, None never polled."""
    if status is None:
        return None
    return status.get("error") is None


def job_state(enabled: bool, status: dict[str, Any] | None) -> str:
    """What a kiosk is told about the slip it asked for: `queued` (it will print now), or
    `unavailable` (the printer cannot print now: show the QR code on screen)."""
    return "queued" if enabled and status_ready(status) is not False else "unavailable"


def printer_state(enabled: bool, status: dict[str, Any] | None) -> str:
    """`ready`, `unavailable` (disabled, or its last status is a fault) or `unknown` (not yet polled)."""
    if not enabled:
        return "unavailable"
    ready = status_ready(status)
    return "unknown" if ready is None else "ready" if ready else "unavailable"


def state_message_key(enabled: bool, status: dict[str, Any] | None) -> str:
    """The i18n key that says why a printer is in its state."""
    if not enabled:
        return "printer.state.disabled"
    if status is None:
        return "printer.state.unknown"
    return f"printer.status.{status['error']}" if status.get("error") else "printer.state.ready"


# ---------------------------------------------------------------- queueing

def ticket_slip_data(hall: Hall, *, number: str, zone: dict[str, Any], matter: dict[str, Any] | None,
                     priority: str, waiting_ahead: int, estimated_wait_s: int | None, issued_at: datetime,
                     status_url: str | None) -> dict[str, Any]:
    """What printer_driver.layouts.ticket_slip needs, as JSON."""
    footer: list[dict[str, Any]] = []
    if hall.hotline:
        footer.append({"key": "footer.hotline", "hotline": hall.hotline})
    footer.append({"key": "footer.missed", "n": hall.requeue_after})
    return {"hall_name": hall.name, "timezone": hall.tz.key, "number": number, "zone": zone, "matter": matter,
            "priority": priority, "waiting_ahead": waiting_ahead, "estimated_wait_s": estimated_wait_s,
            "issued_at": issued_at.isoformat(), "status_url": status_url, "footer": footer}


def slip_status_url(base_url: str | None, public_token: str) -> str | None:
    """The QR code's target: only an absolute address is worth printing."""
    return f"{base_url.rstrip('/')}/t/{public_token}" if base_url else None


_PRINTER_RAW = raw.Sql("SELECT enabled, status FROM printers WHERE id = :printer_id")
_INSERT_JOB_RAW = raw.Sql(
    "INSERT INTO print_jobs (printer_id, kind, data, lang, status, attempts, reprint, ticket_id, created_at, updated_at) "
    "VALUES (:printer_id, :kind, :data, :lang, :status, 0, :reprint, :ticket_id, :created_at, :updated_at) RETURNING id")


def notify(conn: Connection, printer_id: int) -> None:
    """PostgreSQL: wake the spooler of `printer_id` in whichever worker prints, after COMMIT
    (db/outbox.py `notify_after_commit`: not inside the ticket's transaction)."""
    if conn.dialect.name == "postgresql":
        outbox.notify_after_commit(conn, CHANNEL, str(printer_id))


def queue_job(conn: Connection, *, printer_id: int, kind: str, data: dict[str, Any], lang: str, now: datetime,
              ticket_id: int | None = None, reprint: bool = False) -> dict[str, Any]:
    """Queue a job for a printer (in the caller's transaction). Returns {"job_id", "state"};
    a disabled or unknown printer gets no job (`job_id` None, `unavailable`)."""
    d = conn.dialect.name
    p = raw.one(conn, _PRINTER_RAW, {"printer_id": printer_id})  # on every kiosk ticket: on the driver
    if p is None or not p[0]:
        return {"job_id": None, "state": "unavailable"}
    stamp = raw.stamp(d, now)
    job_id = raw.one(conn, _INSERT_JOB_RAW, {
        "printer_id": printer_id, "kind": kind, "data": raw.doc(d, data), "lang": lang, "status": QUEUED,
        "reprint": reprint, "ticket_id": ticket_id, "created_at": stamp, "updated_at": stamp})[0]  # type: ignore[index]
    notify(conn, printer_id)
    return {"job_id": job_id, "state": job_state(bool(p[0]), raw.read_doc(p[1]))}


def _printer_by_code(conn: Connection, hall: Hall, code: str) -> dict[str, Any]:
    p = conn.execute(select(T.printers).where(T.printers.c.hall_id == hall.id, T.printers.c.code == code)
                     ).mappings().first()
    if p is None:
        raise NotFound("printer_not_found", printer=code)
    return dict(p)


def reprint_ticket(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, ticket_id: int,
                   printer_code: str | None, status_base_url: str | None, lang: str) -> dict[str, Any]:
    """补打: print an open ticket again, with the reprint marker, on `printer_code` or else on the
    printer of its last slip, in the language of its last slip (else `lang`). The slip shows the
    ticket's place in the queue now. Audited."""
    from kiosk_server.services import tickets as tsvc  # tickets imports this module
    now = clock.now()
    t = tsvc._ticket(conn, hall, ticket_id)
    if t["status"] in CLOSED_TICKET:
        raise Conflict("ticket_state", number=t["number"], status=t["status"], action="reprint")
    last = conn.execute(select(pj.c.printer_id, pj.c.lang).where(pj.c.ticket_id == t["id"])
                        .order_by(pj.c.id.desc()).limit(1)).first()
    if last is not None:
        lang = last.lang  # the language the citizen chose at the kiosk
    if printer_code is not None:
        printer = _printer_by_code(conn, hall, printer_code)
    elif last is not None:
        printer = dict(conn.execute(select(T.printers).where(T.printers.c.id == last.printer_id)).mappings().one())
    else:
        raise Conflict("no_printer")
    if not printer["enabled"]:
        raise Conflict("printer_disabled", printer=printer["code"])
    zones = {z["id"]: z for z in conn.execute(select(T.zones).where(T.zones.c.hall_id == hall.id)).mappings()}
    zone, queue_zone = zones[t["zone_id"]], dict(zones[t["queue_zone_id"]])
    matter = None
    if t["matter_id"] is not None:
        m = conn.execute(select(T.matters.c.code, T.matters.c.name).where(T.matters.c.id == t["matter_id"])).first()
        matter = {"code": m.code, "name": m.name} if m else None
    ahead = tsvc.position(conn, t)
    waiting = t["status"] == TicketStatus.WAITING
    data = ticket_slip_data(
        hall, number=t["number"], zone={"code": zone["code"], "name": zone["name"]}, matter=matter,
        priority=t["priority"], waiting_ahead=ahead,
        estimated_wait_s=tsvc.estimated_wait_s(conn, hall, queue_zone, ahead) if waiting else None,
        issued_at=t["issued_at"], status_url=slip_status_url(status_base_url, t["public_token"]))
    queued = queue_job(conn, printer_id=printer["id"], kind="ticket", data=data, lang=lang, now=now,
                       ticket_id=t["id"], reprint=True)
    audit.record(conn, actor=actor, action="ticket.reprint", at=now, object_type="ticket", object_id=t["id"],
                 detail={"number": t["number"], "printer": printer["code"], "job": queued["job_id"]})
    return {**queued, "printer": printer["code"], "printer_id": printer["id"],
            "ticket": {"id": t["id"], "number": t["number"]}}


def retry_job(conn: Connection, *, hall: Hall, clock: Clock, actor: Actor, job_id: int) -> dict[str, Any]:
    """A failed job back to the queue with its attempts counted afresh (audited). It keeps its
    reprint marker: a failed slip may have come out in part."""
    now = clock.now()
    row = conn.execute(select(pj.c.id, pj.c.status, pj.c.printer_id, T.printers.c.code)
                       .join(T.printers, T.printers.c.id == pj.c.printer_id)
                       .where(pj.c.id == job_id, T.printers.c.hall_id == hall.id).with_for_update(of=pj)).first()
    if row is None:
        raise NotFound("print_job_not_found")
    if row.status != FAILED:
        raise Conflict("print_job_state", job_status=row.status, action="retry")
    conn.execute(update(pj).where(pj.c.id == job_id).values(status=QUEUED, attempts=0, next_attempt_at=None,
                                                             updated_at=now))
    notify(conn, row.printer_id)
    audit.record(conn, actor=actor, action="print.retry", at=now, object_type="print_job", object_id=job_id,
                 detail={"printer": row.code})
    return {"id": job_id, "status": QUEUED, "printer": row.code, "printer_id": row.printer_id}


# ---------------------------------------------------------------- the spooler's store

Runner = Callable[..., Any]  # runner(fn, **kw): fn(conn, **kw) in one write transaction, events published after


class DbJobStore:
    """printer_driver's JobStore port on `print_jobs` (see printer_driver/spooler.py).

    Each method is one short transaction through `run` (given by the runtime: the group-commit
    writer on SQLite, an own `Database.write()` on PostgreSQL); events it appends go through the
    outbox like every other and reach the hub after the commit. Printers are named by code in
    the port and found by id here."""

    def __init__(self, run: Runner, hall_id: int, printers: dict[str, tuple[int, str]]) -> None:
        self.run = run
        self.hall_id = hall_id
        self.printers = printers  # code -> (id, name)

    def _id(self, printer: str) -> int:
        return self.printers[printer][0]

    def _ref(self, printer: str) -> dict[str, str]:
        return {"code": printer, "name": self.printers[printer][1]}

    # -- the port

    def claim_next(self, printer: str, now: datetime) -> Job | None:
        row = self.run(_claim, printer_id=self._id(printer), now=now)
        if row is None:
            return None
        from printer_driver.spooler import Job
        return Job(row["id"], printer, row["kind"], row["data"], row["lang"], attempts=row["attempts"],
                   reprint=row["reprint"])

    def mark_done(self, job: Job, now: datetime) -> None:
        self.run(_finish, job_id=int(job.id), now=now)

    def mark_failed(self, job: Job, error: str, next_attempt: datetime | None, *, reprint: bool) -> None:
        self.run(_fail, job_id=int(job.id), error=error, next_attempt=next_attempt, reprint=reprint,
                 hall_id=self.hall_id, printer=self._ref(job.printer), kind=job.kind, attempts=job.attempts)

    def requeue_interrupted(self, printer: str, now: datetime) -> int:
        return int(self.run(_requeue_interrupted, printer_id=self._id(printer), now=now))

    def record_status(self, printer: str, status: PrinterStatus, now: datetime) -> None:
        self.run(_record_status, printer_id=self._id(printer), hall_id=self.hall_id, printer=self._ref(printer),
                 status=status.to_dict(), now=now)


_CLAIM_HEAD = (select(pj.c.id).where(pj.c.printer_id == bindparam("b_printer"), pj.c.status == QUEUED,
                                     or_(pj.c.next_attempt_at.is_(None), pj.c.next_attempt_at <= bindparam("b_now")))
               .order_by(pj.c.id).limit(1).with_for_update(skip_locked=True).scalar_subquery())
# One statement: PostgreSQL locks the head with FOR UPDATE SKIP LOCKED, SQLite (one writer)
# drops the lock clause; the repeated status condition makes the UPDATE conditional either way.
_CLAIM = (update(pj).where(pj.c.id == _CLAIM_HEAD, pj.c.status == QUEUED)
          .values(status=PRINTING, attempts=pj.c.attempts + 1, updated_at=bindparam("b_now"))
          .returning(pj.c.id, pj.c.kind, pj.c.data, pj.c.lang, pj.c.attempts, pj.c.reprint))


def _claim(conn: Connection, *, printer_id: int, now: datetime) -> dict[str, Any] | None:
    row = conn.execute(_CLAIM, {"b_printer": printer_id, "b_now": now}).mappings().first()
    return dict(row) if row is not None else None


def _finish(conn: Connection, *, job_id: int, now: datetime) -> None:
    conn.execute(update(pj).where(pj.c.id == job_id, pj.c.status == PRINTING).values(status=DONE, updated_at=now))


def _fail(conn: Connection, *, job_id: int, error: str, next_attempt: datetime | None, reprint: bool, hall_id: int,
          printer: dict[str, str], kind: str, attempts: int) -> None:
    error = error[:500]
    now = _now()  # the port gives no time here; the spooler's clock is the wall clock too
    if next_attempt is not None:
        conn.execute(update(pj).where(pj.c.id == job_id, pj.c.status == PRINTING).values(
            status=QUEUED, next_attempt_at=next_attempt, reprint=reprint, last_error=error, updated_at=now))
        return
    conn.execute(update(pj).where(pj.c.id == job_id, pj.c.status == PRINTING).values(
        status=FAILED, reprint=reprint, last_error=error, updated_at=now))
    number = conn.execute(select(T.tickets.c.number).join(pj, pj.c.ticket_id == T.tickets.c.id)
                          .where(pj.c.id == job_id)).scalar()
    # The alarm names the printer, the job and the ticket number: nothing about the person.
    append_event(conn, hall_id=hall_id, type="printer.alarm", at=now, payload={
        "printer": printer, "job": {"id": job_id, "kind": kind, "attempts": attempts, "ticket": number},
        "error": error[:200]})
    audit.record(conn, actor=SPOOLER, action="print.failed", at=now, object_type="print_job", object_id=job_id,
                 result="failed", detail={"printer": printer["code"], "attempts": attempts, "error": error[:200]})


def _requeue_interrupted(conn: Connection, *, printer_id: int, now: datetime) -> int:
    return conn.execute(update(pj).where(pj.c.printer_id == printer_id, pj.c.status == PRINTING).values(
        status=QUEUED, reprint=True, next_attempt_at=None, updated_at=now)).rowcount


def _record_status(conn: Connection, *, printer_id: int, hall_id: int, printer: dict[str, str],
                   status: dict[str, Any], now: datetime) -> None:
    conn.execute(update(T.printers).where(T.printers.c.id == printer_id).values(status=status, status_at=now))
    append_event(conn, hall_id=hall_id, type="printer.status", at=now, payload={"printer": printer, "status": status})


def _now() -> datetime:
    return datetime.now(UTC)
