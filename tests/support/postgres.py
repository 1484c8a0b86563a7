"""A throwaway PostgreSQL server for tests: its own data directory under a temp dir, listening
only on 127.0.0.1 (and a unix socket inside the temp dir), trust auth, removed on stop.

initdb refuses to run as root, so as root every server binary runs as the `postgres` user."""
from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

SERVER_BINARIES = ("initdb", "pg_ctl")
RUN_AS = "postgres"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _version_key(bin_dir: str) -> tuple[int, ...]:
    version = Path(bin_dir).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def find_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl: initdb's on PATH, else the newest Debian install."""
    initdb = shutil.which("initdb")
    candidates = [Path(initdb).resolve().parent] if initdb else []
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += [Path(d) for d in debian]
    for bin_dir in candidates:
        if all(os.access(bin_dir / name, os.X_OK) for name in SERVER_BINARIES):
            return bin_dir
    return None


def _is_root() -> bool:
    return os.geteuid() == 0


def postgres_available() -> bool:
    """True when a server can be started here: the binaries exist, and as root so do the
    `postgres` user and runuser."""
    if find_bin_dir() is None:
        return False
    if _is_root():
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return False
        return shutil.which("runuser") is not None
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, max_connections: int = 200) -> None:
        self.max_connections = max_connections
        self.port: int | None = None
        self.base_dir: Path | None = None
        self._bin_dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "server.log"

    def _run(self, binary: str, *args: str) -> None:
        assert self._bin_dir is not None and self.base_dir is not None
        cmd = [str(self._bin_dir / binary), *args]
        if _is_root():
            cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
        done = subprocess.run(cmd, cwd=self.base_dir, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-4000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{log}")

    def start(self) -> PostgresServer:
        if self.base_dir is not None:
            raise RuntimeError("server already started")
        self._bin_dir = find_bin_dir()
        if self._bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH nor "
                               "under /usr/lib/postgresql/*/bin: install them (apt-get install "
                               "postgresql) or run .ci/run")
        # As root the temp dir goes under /tmp (world-traversable) and belongs to `postgres`.
        self.base_dir = Path(tempfile.mkdtemp(prefix="pgtest-", dir="/tmp" if _is_root() else None))
        try:
            self.base_dir.chmod(0o755)
            socket_dir = self.base_dir / "socket"
            socket_dir.mkdir()
            if _is_root():
                user = pwd.getpwnam(RUN_AS)
                for path in (self.base_dir, socket_dir):
                    os.chown(path, user.pw_uid, user.pw_gid)
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C", "--no-sync")
            self.port = _free_port()
            with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
                conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                           f"unix_socket_directories = '{socket_dir}'\n"
                           f"max_connections = {self.max_connections}\n")
            self._run("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                      "-w", "-t", "60")
        except BaseException:
            self._remove()
            raise
        return self

    def stop(self) -> None:
        if self.base_dir is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")
        finally:
            self._remove()

    def _remove(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        self.base_dir = None
        self.port = None

    def url(self, name: str) -> str:
        assert self.port is not None, "server not started"
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _admin(self) -> psycopg.Connection:
        assert self.port is not None, "server not started"
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"bad database name: {name!r}")
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing any connection still open to it."""
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
