"""The command line on a real SQLite file: migrate, import, create-user, serve's refusals."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.hall import SESSION_ENV, write_config

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk_server", *args], env={**os.environ, **env}, cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_migrate_import_create_user_and_serve_refusals(tmp_path: Path):
    db = tmp_path / "hall.db"
    cfg = write_config(tmp_path / "hall.toml", f"sqlite:///{db}", 18999)
    env = dict(SESSION_ENV)
    r = run(["serve", "--config", str(cfg)], env)
    assert r.returncode == 2 and "kiosk-server migrate" in r.stderr  # not migrated: refuses
    assert run(["migrate", "--config", str(cfg)], env).returncode == 0
    r = run(["import-config", "--config", str(cfg)], env)
    assert r.returncode == 0 and "6 zones, 11 windows" in r.stdout
    r = run(["create-user", "--config", str(cfg), "--username", "wang", "--roles", "operator,auditor",
             "--password-stdin"], env, stdin="Str0ng-Passw0rd\n")
    assert r.returncode == 2 and "roles_not_separated" not in r.stdout and "不能由同一账号兼任" in r.stderr
    r = run(["create-user", "--config", str(cfg), "--username", "operator", "--roles", "operator",
             "--password-stdin"], env, stdin="Demo-Operator-2026\n")
    assert r.returncode == 0
    r = run(["serve", "--config", str(cfg)], env)
    assert r.returncode == 2 and "demo passwords are in force for operator" in r.stderr
    r = run(["serve", "--config", str(cfg)], {k: "" for k in env})
    assert r.returncode == 2 and "HALL_SECRET_KEY" in r.stderr
    r = run(["audit-verify", "--config", str(cfg)], env)
    assert r.returncode == 0 and "chain verified" in r.stdout
    sqlite_workers = write_config(tmp_path / "w.toml", f"sqlite:///{db}", 18999, workers=2)
    r = run(["serve", "--config", str(sqlite_workers)], env)
    assert r.returncode == 2 and "SQLite serves one worker" in r.stderr
