"""The schema: the one `metadata` Alembic sees. Migrations define the database; these tables
mirror them (an autogenerate check in the tests keeps the two in agreement)."""
from __future__ import annotations

from datetime import timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer,
    LargeBinary, MetaData, String, Table, UniqueConstraint, text,
)
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored in UTC; SQLite hands back naive values, which this re-labels."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(timezone.utc)
        # SQLite keeps the wall-clock fields only: store UTC without the label.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


Stamp = UTCDateTime

halls = Table(
    "halls", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("opening_hours", JSON, nullable=False),
    Column("open_weekdays", JSON, nullable=False),
    Column("hotline", String(32)),
    Column("priority_cap", Integer, nullable=False, server_default="3"),
    Column("recall_cap", Integer, nullable=False, server_default="3"),
    Column("requeue_after", Integer, nullable=False, server_default="3"),
    Column("default_service_s", Integer, nullable=False, server_default="300"),
)

zones = Table(
    "zones", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall_id", Integer, ForeignKey("halls.id"), nullable=False),
    Column("code", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(4), nullable=False),
    Column("daily_quota", Integer, nullable=False),
    Column("opening_hours", JSON),
    Column("position", Integer, nullable=False, server_default="0"),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("avg_service_s", Float),
    UniqueConstraint("hall_id", "code", name="uq_zones_hall_code"),
)

matters = Table(
    "matters", metadata,
    Column("id", Integer, primary_key=True),
    Column("zone_id", Integer, ForeignKey("zones.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("department", String(200)),
    Column("case_type", String(32), nullable=False),
    Column("promised_days", Integer, nullable=False, server_default="0"),
    Column("fee", String(100)),
    Column("materials", JSON, nullable=False),
    Column("joint_departments", JSON),
    Column("position", Integer, nullable=False, server_default="0"),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    UniqueConstraint("zone_id", "code", name="uq_matters_zone_code"),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", Stamp, nullable=False),
)

windows = Table(
    "windows", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall_id", Integer, ForeignKey("halls.id"), nullable=False),
    Column("code", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("led_address", Integer),
    Column("state", String(16), nullable=False, server_default="closed"),
    Column("clerk_id", Integer, ForeignKey("users.id")),
    Column("pause_reason", String(200)),
    Column("consecutive_priority", Integer, nullable=False, server_default="0"),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    UniqueConstraint("hall_id", "code", name="uq_windows_hall_code"),
)

window_zones = Table(
    "window_zones", metadata,
    Column("window_id", Integer, ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True),
    Column("zone_id", Integer, ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False),
)

printers = Table(
    # Receipt printers. `transport` and `profile` are what printer_driver's make_transport and
    # profile_from_dict take; `status` is the last PrinterStatus the spooler saw (None: never polled).
    "printers", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall_id", Integer, ForeignKey("halls.id"), nullable=False),
    Column("code", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("transport", JSON, nullable=False),
    Column("profile", JSON, nullable=False),
    Column("status", JSON),
    Column("status_at", Stamp),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    UniqueConstraint("hall_id", "code", name="uq_printers_hall_code"),
)

devices = Table(
    "devices", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall_id", Integer, ForeignKey("halls.id"), nullable=False),
    Column("code", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), unique=True),
    Column("zones", JSON),
    Column("revoked_at", Stamp),
    Column("created_at", Stamp, nullable=False),
    Column("printer_id", Integer, ForeignKey("printers.id")),  # a kiosk's printer
    UniqueConstraint("hall_id", "code", name="uq_devices_hall_code"),
)

auth_sessions = Table(
    "auth_sessions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("last_seen_at", Stamp, nullable=False),
    Column("expires_at", Stamp, nullable=False),
    Column("revoked_at", Stamp),
    Column("client_addr", String(64)),
)

login_failures = Table(
    "login_failures", metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_at", Stamp, nullable=False),
    Column("locked_until", Stamp),
)

counters = Table(
    "counters", metadata,
    Column("zone_id", Integer, ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("value", Integer, nullable=False),          # the last number issued that day
    Column("waiting", Integer, nullable=False, server_default="0"),  # tickets waiting in this queue now
)

tickets = Table(
    "tickets", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("hall_id", Integer, ForeignKey("halls.id"), nullable=False),
    Column("zone_id", Integer, ForeignKey("zones.id"), nullable=False),
    # The queue the ticket waits in: its own zone, or the zone it was transferred to.
    Column("queue_zone_id", Integer, ForeignKey("zones.id"), nullable=False),
    Column("matter_id", Integer, ForeignKey("matters.id")),
    Column("business_date", Date, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("number", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("queue_key", Float, nullable=False),
    Column("target_window_id", Integer, ForeignKey("windows.id")),
    Column("window_id", Integer, ForeignKey("windows.id")),
    Column("issued_at", Stamp, nullable=False),
    Column("called_at", Stamp),
    Column("started_at", Stamp),
    Column("served_at", Stamp),
    Column("closed_at", Stamp),
    Column("call_count", Integer, nullable=False, server_default="0"),
    Column("miss_count", Integer, nullable=False, server_default="0"),
    Column("public_token", String(32), nullable=False, unique=True),
    Column("phone_enc", LargeBinary),
    Column("phone_hash", String(64)),
    Column("appointment_code", String(32)),
    Column("application_number", String(64)),
    Column("issued_by", String(80)),
    UniqueConstraint("zone_id", "business_date", "seq", name="uq_tickets_zone_day_seq"),
    # The queues: waiting tickets only, so a million past ones cost them nothing. A query uses
    # these only when it spells the condition as they do (a literal 'waiting', see tickets.IS_WAITING).
    Index("ix_tickets_waiting", "queue_zone_id", "business_date", "rank", "queue_key", "id",
          sqlite_where=text("status = 'waiting'"), postgresql_where=text("status = 'waiting'")),
    Index("ix_tickets_waiting_target", "target_window_id", "business_date",
          sqlite_where=text("status = 'waiting'"), postgresql_where=text("status = 'waiting'")),
    # Status first: the sweep looks for the few open tickets of past days among millions closed.
    Index("ix_tickets_status_day", "status", "business_date").ddl_if(dialect="sqlite"),
    # PostgreSQL: the same, then the queue order, with the target window last. Its planner cannot
    # see that the tickets waiting are today's (it multiplies the two rarities into one row), so it
    # routes the call-next seeks for "waiting today" through the status index; with these columns
    # each such read is a seek in queue order, not a read of every ticket waiting today (migration
    # 0005). SQLite plans those seeks on the partial indexes above, and would not with this one.
    Index("ix_tickets_status_queue", "status", "business_date", "queue_zone_id", "rank", "queue_key", "id",
          "target_window_id").ddl_if(dialect="postgresql"),
    Index("ix_tickets_phone_hash", "phone_hash"),
    # A window never holds two active tickets: enforced by the database, not only by code.
    Index("uq_tickets_active_window", "window_id", unique=True,
          sqlite_where=text("status IN ('called', 'serving')"),
          postgresql_where=text("status IN ('called', 'serving')")),
)

ticket_history = Table(
    "ticket_history", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ticket_id", BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", Stamp, nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("window_id", Integer, ForeignKey("windows.id")),
    Column("actor", String(80)),
    Column("detail", JSON),
)

print_jobs = Table(
    # The spooler's durable queue (printer_driver.spooler.JobStore): queued → printing → done,
    # back to queued with a next attempt time after a failed send, failed after the last attempt.
    "print_jobs", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("printer_id", Integer, ForeignKey("printers.id"), nullable=False),
    Column("kind", String(32), nullable=False),         # a printer_driver layout: ticket, receipt, …
    Column("data", JSON, nullable=False),               # that layout's input
    Column("lang", String(8), nullable=False, server_default="zh-CN"),
    Column("status", String(16), nullable=False),       # queued printing done failed cancelled
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(500)),
    Column("next_attempt_at", Stamp),
    Column("reprint", Boolean, nullable=False, server_default=text("false")),
    Column("ticket_id", BigInteger, ForeignKey("tickets.id"), index=True),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
    Index("ix_print_jobs_claim", "printer_id", "status", "next_attempt_at", "id"),
)

holidays = Table(
    # Calendar exceptions: a holiday closes a weekday, a make-up working day (调休) opens a weekend.
    "holidays", metadata,
    Column("hall_id", Integer, ForeignKey("halls.id", ondelete="CASCADE"), primary_key=True),
    Column("date", Date, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(100), nullable=False),
)

applications = Table(
    # The place for applications (办件); their life cycle is a later issue.
    "applications", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("hall_id", Integer, ForeignKey("halls.id"), nullable=False),
    Column("ticket_id", BigInteger, ForeignKey("tickets.id"), index=True),
    Column("matter_id", Integer, ForeignKey("matters.id")),
    Column("number", String(64), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("created_at", Stamp, nullable=False),
)

appointments = Table(
    # Bookings made elsewhere (the online platform, the phone line) for a slot of a day. No
    # personal data: the citizen brings the code; the booking system keeps who booked.
    # booked → checked_in (a ticket is issued) | cancelled | missed (the day ended unclaimed).
    "appointments", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall_id", Integer, ForeignKey("halls.id"), nullable=False),
    Column("code", String(16), nullable=False),
    Column("zone_id", Integer, ForeignKey("zones.id"), nullable=False),
    Column("matter_id", Integer, ForeignKey("matters.id")),
    Column("day", Date, nullable=False),
    Column("slot_start", String(5), nullable=False),   # "HH:MM", the hall's local time
    Column("slot_end", String(5), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(64)),
    Column("ticket_id", BigInteger, ForeignKey("tickets.id")),
    Column("created_at", Stamp, nullable=False),
    Column("checked_in_at", Stamp),
    UniqueConstraint("hall_id", "code", name="uq_appointments_hall_code"),
    Index("ix_appointments_day", "hall_id", "day", "slot_start"),
)

events = Table(
    "events", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("hall_id", Integer, ForeignKey("halls.id"), nullable=False),
    Column("type", String(40), nullable=False),
    Column("at", Stamp, nullable=False),
    Column("zone", String(16)),
    Column("payload", JSON, nullable=False),
    Index("ix_events_type_seq", "type", "seq"),
    sqlite_autoincrement=True,
)

audit_log = Table(
    "audit_log", metadata,
    # Ids are given by the writer from audit_head, so the chain has no holes.
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("at", Stamp, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("actor_roles", String(100)),
    Column("client_addr", String(64)),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32)),
    Column("object_id", String(64)),
    Column("result", String(16), nullable=False),
    Column("detail", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    # One row: the hash of the newest audit entry. Writers lock it, so the chain never forks.
    "audit_head", metadata,
    Column("id", Integer, primary_key=True),
    Column("last_id", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)


def in_dialect(obj: Any, dialect: str) -> bool:
    """False for a schema item created only on another database (`.ddl_if(dialect=...)`), which
    Alembic's autogenerate does not know of."""
    cond = getattr(obj, "_ddl_if", None)
    return cond is None or cond.dialect is None or cond.dialect == dialect
