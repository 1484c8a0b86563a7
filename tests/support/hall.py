"""A test hall: the sample layout of config.example.toml with test secrets, migrated and
imported into a real database, with one account per role."""
from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from kiosk_server.config import Settings, load_settings
from kiosk_server.db import migrate
from kiosk_server.db.engine import Database, make_engine
from kiosk_server.services.auth import create_user
from kiosk_server.services.context import SYSTEM
from kiosk_server.services.layout import import_layout

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"
PASSWORD = "Test-Passw0rd-Hall"
USERS = {  # username -> roles
    "op": ["operator"], "sec": ["security_admin"], "aud": ["auditor"],
    "clerk1": ["clerk"], "clerk2": ["clerk"], "clerk3": ["clerk"],
}


class FakeClock:
    """A clock the test drives. Starts on a Monday at 10:00 in Shanghai (02:00 UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.t = start or datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)

    def set(self, t: datetime) -> None:
        self.t = t


def test_env(tmp_path: Path | None = None) -> dict[str, str]:
    env = {"HALL_SECRET_KEY": secrets.token_urlsafe(40), "HALL_DATA_KEY": secrets.token_hex(32)}
    for code in ("K1", "S1", "S2"):
        env[f"HALL_TOKEN_{code}"] = secrets.token_urlsafe(24)
    return env


def make_settings(db_url: str, env: dict[str, str], **server: Any) -> Settings:
    s = load_settings(EXAMPLE, env=env)
    return s.model_copy(update={"server": s.server.model_copy(update={"database_url": db_url, **server})})


@dataclass
class PreparedHall:
    settings: Settings
    env: dict[str, str]
    db: Database
    device_tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


def prepare(db_url: str, env: dict[str, str] | None = None, **server: Any) -> PreparedHall:
    """Migrate, import the sample hall and create the accounts. Done once per test session
    into a template (a SQLite file, a PostgreSQL template database) and copied for each test:
    argon2 hashing and migrations are the slow part."""
    env = env or SESSION_ENV
    settings = make_settings(db_url, env, **server)
    key = ("sqlite" if db_url.startswith("sqlite") else "pg", tuple(sorted(env.items())))
    users = _TEMPLATES.get(key)
    if users is None:
        users = _build_template(db_url, settings)
        _TEMPLATES[key] = users
    else:
        _copy_template(db_url)
    db = Database(make_engine(db_url))
    return PreparedHall(settings=settings, env=env, db=db, device_tokens=dict(settings.device_tokens), users=users)


SESSION_ENV = test_env()
_TEMPLATES: dict[Any, dict[str, int]] = {}
_SQLITE_TEMPLATE = Path(tempfile.mkdtemp(prefix="hall-template-")) / "template.db"
PG_TEMPLATE = "hall_template"


def _populate(db_url: str, settings: Settings) -> dict[str, int]:
    from kiosk_server.services.security import Keys
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    keys = Keys(settings.secret_key, settings.data_key)
    users: dict[str, int] = {}
    now = datetime.now(timezone.utc)
    with Database(engine).write() as conn:
        import_layout(conn, settings.layout, keys=keys, device_tokens=settings.device_tokens, actor=SYSTEM, now=now)
        for username, roles in USERS.items():
            users[username] = create_user(conn, username=username, display_name=username.upper(), password=PASSWORD,
                                          roles=roles, actor=SYSTEM, now=now, security=settings.security)["id"]
    engine.dispose()  # SQLite: closing the last connection checkpoints the WAL into the file
    return users


def _build_template(db_url: str, settings: Settings) -> dict[str, int]:
    if db_url.startswith("sqlite"):
        users = _populate(f"sqlite:///{_SQLITE_TEMPLATE}", settings)
    else:
        with _admin(db_url) as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_TEMPLATE}")
            conn.exec_driver_sql(f"CREATE DATABASE {PG_TEMPLATE}")
        users = _populate(str(make_url(db_url).set(database=PG_TEMPLATE)), settings)
    _copy_template(db_url)
    return users


def _copy_template(db_url: str) -> None:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        target = Path(url.database)
        for suffix in ("", "-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        shutil.copyfile(_SQLITE_TEMPLATE, target)
        return
    with _admin(db_url) as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{url.database}" TEMPLATE {PG_TEMPLATE}')


@contextmanager
def _admin(db_url: str) -> Iterator[Any]:
    from sqlalchemy import create_engine
    engine = create_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def write_config(path: Path, db_url: str, port: int, workers: int = 1, extra_server: str = "") -> Path:
    """A config file for a real server process: the example with another database and port."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('database_url = "sqlite:///var/hall.db"', f'database_url = "{db_url}"', 1)
    text = text.replace("port = 8080", f"port = {port}", 1).replace("workers = 1 ", f"workers = {workers} ", 1)
    text = text.replace('sweep_interval_s = 30', 'sweep_interval_s = 30\n' + extra_server, 1)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- halls for real server processes
# (appended for the load and crash tests: a config with many windows, open around the clock)

def window_codes(n: int) -> list[str]:
    return [f"W{i:02d}" for i in range(1, n + 1)]


def write_load_config(path: Path, db_url: str, port: int, workers: int = 1, *, windows: int = 16,
                      zones: tuple[str, ...] = ("A", "B"), daily_quota: int = 9999) -> Path:
    """`write_config`, and then: the hall open every day around the clock (no holidays), the
    quota of `zones` raised to `daily_quota`, and `windows` extra windows W01, W02 … each serving
    all of `zones` (starting with a different one in turn, so that every queue is drained).
    Import it with `import_config` so that the database agrees."""
    write_config(path, db_url, port, workers)
    text = path.read_text(encoding="utf-8")
    text = text.replace('opening_hours = [["09:00", "12:00"], ["13:30", "17:30"]]',
                        'opening_hours = [["00:00", "24:00"]]', 1)
    text = text.replace("open_weekdays = [1, 2, 3, 4, 5]", "open_weekdays = [1, 2, 3, 4, 5, 6, 7]", 1)
    text = text.split("# Calendar exceptions", 1)[0]  # no holidays: the test must not depend on the date
    for code in zones:
        head = f'[[zones]]\ncode = "{code}"\n'
        start = text.index(head)
        quota_at = text.index("daily_quota = ", start)
        end = text.index("\n", quota_at)
        text = text[:quota_at] + f"daily_quota = {daily_quota}" + text[end:]
    extra = []
    for i, code in enumerate(window_codes(windows)):
        served = list(zones[i % len(zones):]) + list(zones[:i % len(zones)])
        extra.append(f'[[windows]]\ncode = "{code}"\nname = "压测窗口 {code}"\nzones = {served!r}\n'.replace("'", '"'))
    text = text.replace("[[devices]]", "\n".join(extra) + "\n[[devices]]", 1)
    path.write_text(text, encoding="utf-8")
    return path


def import_config(hall: PreparedHall, path: Path) -> Settings:
    """Import the layout of a config file into the hall's database (as `kiosk-server
    import-config` does) and drop the calendar exceptions left by the sample hall."""
    from sqlalchemy import delete

    from kiosk_server.db import tables as T
    from kiosk_server.services.security import Keys
    settings = load_settings(path, env=hall.env)
    assert settings.layout is not None
    with hall.db.write() as conn:
        hall_id, _events = import_layout(conn, settings.layout, keys=Keys(settings.secret_key, settings.data_key),
                                         device_tokens=settings.device_tokens, actor=SYSTEM,
                                         now=datetime.now(timezone.utc))
        conn.execute(delete(T.holidays).where(T.holidays.c.hall_id == hall_id))
    return settings


def add_clerks(hall: PreparedHall, usernames: list[str], *, cheap_hashes: bool = True) -> dict[str, int]:
    """Create clerk accounts (password PASSWORD) with `create_user`. With `cheap_hashes` their
    argon2 hashes use minimal parameters: a default hash costs ~0.2-0.3 s of CPU to make and to
    check, and `serve` checks every account against every demo password at start."""
    from unittest import mock
    cheap = _cheap_hasher()
    created: dict[str, int] = {}
    now = datetime.now(timezone.utc)
    patch = mock.patch("kiosk_server.services.auth.hash_password", cheap.hash) if cheap_hashes else None
    if patch is not None:
        patch.start()
    try:
        with hall.db.write() as conn:
            for username in usernames:
                created[username] = create_user(conn, username=username, display_name=username.upper(),
                                                password=PASSWORD, roles=["clerk"], actor=SYSTEM, now=now,
                                                security=hall.settings.security)["id"]
    finally:
        if patch is not None:
            patch.stop()
    hall.users.update(created)
    return created


def _cheap_hasher() -> Any:
    from argon2 import PasswordHasher
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def use_cheap_password_hashes(hall: PreparedHall) -> int:
    """Re-hash every account's password (PASSWORD) with minimal argon2 parameters.

    `kiosk-server serve` checks every active account against each of the six demo passwords
    before it starts; with default argon2 parameters one check costs 0.2-0.6 s of CPU here, so
    the six accounts of `prepare` alone delay every start by 7-20 s. Tests of a real server
    process that start it often call this; login still runs the real argon2 verification."""
    from sqlalchemy import update

    from kiosk_server.db import tables as T
    cheap = _cheap_hasher().hash(PASSWORD)
    with hall.db.write() as conn:
        return conn.execute(update(T.users).values(password_hash=cheap)).rowcount
