from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.fixtures import *  # noqa: F401,F403  (pg_server, pg_url)
from tests.support.hall import PASSWORD, FakeClock, PreparedHall, prepare


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hall.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test on a SQLite file and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hall.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def hall(sqlite_url: str) -> PreparedHall:
    return prepare(sqlite_url)


class Api:
    """A TestClient with helpers: sign in by username, device tokens by code."""

    def __init__(self, client: TestClient, hall: PreparedHall) -> None:
        self.client = client
        self.hall = hall
        self._tokens: dict[str, str] = {}

    def token(self, who: str) -> str:
        if who in self.hall.device_tokens:
            return self.hall.device_tokens[who]
        if who not in self._tokens:
            r = self.client.post("/api/v1/auth/login", json={"username": who, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[who] = r.json()["token"]
        return self._tokens[who]

    def h(self, who: str | None, **extra: str) -> dict[str, str]:
        return ({"Authorization": f"Bearer {self.token(who)}"} if who else {}) | extra

    def get(self, path: str, who: str | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers=self.h(who, **kw.pop("headers", {})), **kw)

    def post(self, path: str, who: str | None = None, json: Any = None, **kw: Any) -> Any:
        return self.client.post(path, headers=self.h(who, **kw.pop("headers", {})), json=json, **kw)

    def issue(self, zone: str = "A", who: str = "K1", **body: Any) -> dict[str, Any]:
        r = self.post("/api/v1/tickets", who, json={"zone": zone, **body})
        assert r.status_code == 201, r.text
        return r.json()

    def open(self, window: str, clerk: str) -> None:
        r = self.post(f"/api/v1/windows/{window}/open", clerk)
        assert r.status_code == 200, r.text


@pytest.fixture
def api(hall: PreparedHall, clock: FakeClock) -> Iterator[Api]:
    from kiosk_server.main import create_app
    app = create_app(hall.settings, clock=clock, run_sweeper=False)
    with TestClient(app) as client:
        yield Api(client, hall)
