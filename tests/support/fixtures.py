"""PostgreSQL fixtures: one server per test session, a fresh database per test.
Used from the main conftest with `from tests.support.fixtures import *`."""
from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, postgres_available

__all__ = ["pg_server", "pg_url"]

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if not postgres_available():
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH nor under "
                    "/usr/lib/postgresql/*/bin (as root, the `postgres` user and runuser are needed "
                    "too): install them with `apt-get install postgresql`, or run .ci/run",
                    pytrace=False)
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    name = f"test_{next(_db_numbers)}"
    yield pg_server.create_database(name)
    pg_server.drop_database(name)
