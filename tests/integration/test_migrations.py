"""The Alembic migrations, on SQLite and on PostgreSQL: up and down cleanly, produce exactly the
schema in kiosk_server.db.tables, and make the audit log append-only in the database itself."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, inspect, select, text, update
from sqlalchemy.exc import DBAPIError

from kiosk_server.db import migrate
from kiosk_server.db.engine import make_engine
from kiosk_server.db.tables import audit_log, in_dialect, metadata

HEAD = "0005"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kiosk.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def migrated(engine: Engine) -> Engine:
    migrate.upgrade(engine)
    return engine


def _not_version_table(name: str | None, type_: str, _parent: Any) -> bool:
    return not (type_ == "table" and name == "alembic_version")


def test_upgrade_downgrade_upgrade(engine: Engine) -> None:
    assert migrate.current(engine) is None

    migrate.upgrade(engine)
    assert migrate.current(engine) == HEAD
    assert set(inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}

    migrate.downgrade(engine)
    assert migrate.current(engine) is None
    assert inspect(engine).get_table_names() == ["alembic_version"]
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            leftover = conn.scalar(
                text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_log_append_only'"))
        assert leftover == 0

    migrate.upgrade(engine)
    assert migrate.current(engine) == HEAD


def test_migrated_schema_matches_metadata(migrated: Engine) -> None:
    with migrated.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": _not_version_table,
                        "include_object": lambda obj, *_: in_dialect(obj, conn.dialect.name)})
        diffs = compare_metadata(context, metadata)
    assert diffs == []


def _audit_row() -> dict[str, Any]:
    return {"id": 1, "at": datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc), "actor": "admin",
            "action": "login", "result": "ok", "detail": {"k": "v"},
            "prev_hash": "0" * 64, "hash": "a" * 64}


def test_audit_log_is_append_only(migrated: Engine) -> None:
    with migrated.begin() as conn:
        conn.execute(audit_log.insert().values(**_audit_row()))

    with pytest.raises(DBAPIError, match="append-only"):
        with migrated.begin() as conn:
            conn.execute(update(audit_log).where(audit_log.c.id == 1).values(actor="mallory"))
    with pytest.raises(DBAPIError, match="append-only"):
        with migrated.begin() as conn:
            conn.execute(delete(audit_log).where(audit_log.c.id == 1))

    with migrated.connect() as conn:
        rows = conn.execute(select(audit_log.c.id, audit_log.c.actor)).all()
    assert [tuple(r) for r in rows] == [(1, "admin")]


def test_printing_downgrades_and_upgrades_with_data(migrated: Engine) -> None:
    """0002 → 0001 → 0002 with a hall, a kiosk that has a printer and a print job: the devices keep
    their rows (SQLite rebuilds the table in batch mode), the printing tables go and come back."""
    from kiosk_server.config import load_settings
    from kiosk_server.db.engine import Database
    from kiosk_server.db.tables import devices, print_jobs, printers
    from kiosk_server.services.context import SYSTEM
    from kiosk_server.services.layout import import_layout
    from kiosk_server.services.printing import queue_job
    from kiosk_server.services.security import Keys
    from tests.support.hall import EXAMPLE, SESSION_ENV
    s = load_settings(EXAMPLE, env=SESSION_ENV)
    now = datetime.now(timezone.utc)
    with Database(migrated).write() as conn:
        import_layout(conn, s.layout, keys=Keys(s.secret_key, s.data_key), device_tokens={}, actor=SYSTEM, now=now)
        pid = conn.execute(select(devices.c.printer_id).where(devices.c.code == "K1")).scalar_one()
        assert queue_job(conn, printer_id=pid, kind="ticket", data={"n": 1}, lang="zh-CN", now=now)["job_id"] == 1
    migrate.downgrade(migrated, "0001")
    assert migrate.current(migrated) == "0001"
    names = set(inspect(migrated).get_table_names())
    assert "printers" not in names and "print_jobs" not in names
    assert "printer_id" not in {c["name"] for c in inspect(migrated).get_columns("devices")}
    with migrated.connect() as conn:
        assert sorted(conn.execute(text("SELECT code FROM devices")).scalars()) == ["K1", "S1", "S2"]
    migrate.upgrade(migrated)
    with migrated.connect() as conn:
        assert conn.execute(select(printers.c.id)).all() == [] and conn.execute(select(print_jobs.c.id)).all() == []
        assert set(conn.execute(select(devices.c.printer_id)).scalars()) == {None}


def _status_indexes(engine: Engine) -> dict[str, list[str]]:
    return {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("tickets")
            if ix["name"].startswith("ix_tickets_status_")}


def test_status_index_in_queue_order_on_postgresql(migrated: Engine) -> None:
    """0005 replaces (status, business_date) by the same in queue order on PostgreSQL, and its
    downgrade puts it back; SQLite keeps (status, business_date) throughout."""
    queue_order = ["status", "business_date", "queue_zone_id", "rank", "queue_key", "id", "target_window_id"]
    pg = migrated.dialect.name == "postgresql"
    expected = {"ix_tickets_status_queue": queue_order} if pg else {"ix_tickets_status_day": ["status", "business_date"]}
    assert _status_indexes(migrated) == expected
    migrate.downgrade(migrated, "0004")
    assert _status_indexes(migrated) == {"ix_tickets_status_day": ["status", "business_date"]}
    migrate.upgrade(migrated)
    assert _status_indexes(migrated) == expected
