"""PostgreSQL pool: a connection is checked before use only after sitting idle (db/engine.py),
and a dead idle one is replaced instead of failing the request."""
from __future__ import annotations

import pytest
from sqlalchemy import event, text

from kiosk_server.db import engine as eng

pytestmark = pytest.mark.postgres


def test_busy_connections_are_not_pinged_and_a_dead_idle_one_is_replaced(pg_url: str,
                                                                          monkeypatch: pytest.MonkeyPatch):
    e = eng.make_engine(pg_url, pool_size=1)
    pings: list[str] = []

    @event.listens_for(e, "before_cursor_execute")
    def _seen(_conn, _cur, statement, *_a):  # noqa: ANN001
        pings.append(statement)
    try:
        for _ in range(5):
            with e.connect() as conn:
                assert conn.execute(text("SELECT 42")).scalar_one() == 42
        assert pings == ["SELECT 42"] * 5  # no round trip added to a busy connection
        with e.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        import psycopg  # the server drops the pooled connection while it is idle
        with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        monkeypatch.setattr(eng, "IDLE_PING_S", 0.0)  # as if it had been idle for long
        with e.connect() as conn:
            assert conn.execute(text("SELECT 7")).scalar_one() == 7  # a fresh connection, no error
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        e.dispose()
