"""The `kiosk-server` command: serve, demo, migrate, import-config, check-config, create-user,
audit-verify, print-test."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

DEMO_USERS = [
    # username, display name, roles, password (demo only: `serve` refuses to start while any is in force)
    ("operator", "值班长 王*", ["operator"], "Demo-Operator-2026"),
    ("secadmin", "安全管理员 李*", ["security_admin"], "Demo-Security-2026"),
    ("auditor", "审计员 赵*", ["auditor"], "Demo-Auditor-2026"),
    ("clerk1", "窗口人员 陈*", ["clerk"], "Demo-Clerk1-2026"),
    ("clerk2", "窗口人员 刘*", ["clerk"], "Demo-Clerk2-2026"),
    ("clerk3", "窗口人员 周*", ["clerk"], "Demo-Clerk3-2026"),
]


def _default_config() -> Path:
    here = Path(__file__).resolve().parent.parent / "config.example.toml"
    return here if here.exists() else Path("config.example.toml")


def _settings(path: str, *, require_secrets: bool = True) -> Any:
    from kiosk_server.config import ConfigError, load_settings
    try:
        return load_settings(path, require_secrets=require_secrets)
    except ConfigError as e:
        print(f"{path}: the configuration has {len(e.problems)} problem(s):", file=sys.stderr)
        for key, msg in e.problems:
            print(f"  {key}: {msg}", file=sys.stderr)
        raise SystemExit(2) from None


def _engine(settings: Any) -> Any:
    from kiosk_server.db.engine import make_engine
    return make_engine(settings.server.database_url, base_dir=settings.base_dir,
                       sqlite_synchronous=settings.server.sqlite_synchronous)


def cmd_check_config(a: argparse.Namespace) -> int:
    s = _settings(a.config, require_secrets=not a.no_secrets)
    lay = s.layout
    print(f"{a.config}: OK" + (f" — hall {lay.hall.code} {lay.hall.name}: {len(lay.zones)} zones, "
                               f"{sum(len(z.matters) for z in lay.zones)} matters, {len(lay.windows)} windows, "
                               f"{len(lay.devices)} devices, {len(lay.printers)} printers" if lay else ""))
    return 0


def cmd_migrate(a: argparse.Namespace) -> int:
    from kiosk_server.db import migrate
    s = _settings(a.config, require_secrets=False)
    e = _engine(s)
    if a.downgrade:
        migrate.downgrade(e, a.downgrade)
    else:
        migrate.upgrade(e)
    print(f"database at revision {migrate.current(e)}")
    return 0


def _import(settings: Any, engine: Any, device_tokens: dict[str, str]) -> None:
    from kiosk_server.db.engine import Database
    from kiosk_server.services.context import SYSTEM, SystemClock
    from kiosk_server.services.layout import import_layout
    from kiosk_server.services.security import Keys
    if settings.layout is None:
        raise SystemExit("the configuration has no hall layout ([hall], [[zones]] …)")
    db = Database(engine)
    with db.write() as conn:
        import_layout(conn, settings.layout, keys=Keys(settings.secret_key, settings.data_key),
                      device_tokens=device_tokens, actor=SYSTEM, now=SystemClock().now())


def cmd_import_config(a: argparse.Namespace) -> int:
    from kiosk_server.db import migrate
    s = _settings(a.config)
    e = _engine(s)
    migrate.upgrade(e)
    _import(s, e, s.device_tokens)
    print(f"imported hall {s.layout.hall.code}: {len(s.layout.zones)} zones, {len(s.layout.windows)} windows, "
          f"{len(s.layout.printers)} printers")
    return 0


def cmd_create_user(a: argparse.Namespace) -> int:
    from kiosk_server.db.engine import Database
    from kiosk_server.domain.errors import DomainError
    from kiosk_server.i18n import t
    from kiosk_server.services.auth import create_user
    from kiosk_server.services.context import Actor, SystemClock
    s = _settings(a.config)
    password = os.environ.get("HALL_NEW_PASSWORD") if a.password_from_env else None
    if password is None:
        password = sys.stdin.readline().rstrip("\n") if a.password_stdin else getpass.getpass("password: ")
    db = Database(_engine(s))
    try:
        with db.write() as conn:
            u = create_user(conn, username=a.username, display_name=a.display_name or a.username, password=password,
                            roles=a.roles.split(","), actor=Actor("cli", frozenset()), now=SystemClock().now(),
                            security=s.security)
    except DomainError as e:
        print(t(e.code, "zh-CN", **e.params), "/", t(e.code, "en", **e.params), file=sys.stderr)
        return 2
    print(f"created user {u['username']} (id {u['id']}) with roles {','.join(u['roles'])}")
    return 0


def cmd_audit_verify(a: argparse.Namespace) -> int:
    from kiosk_server.db.engine import Database
    from kiosk_server.services import audit
    s = _settings(a.config, require_secrets=False)
    db = Database(_engine(s))
    with db.read() as conn:
        problems = audit.verify(conn)
        from sqlalchemy import func, select
        from kiosk_server.db.tables import audit_log
        n = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    if problems:
        print(f"audit log BROKEN: {len(problems)} problem(s) in {n} entries", file=sys.stderr)
        for p in problems[:50]:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"audit log intact: {n} entries, chain verified")
    return 0


def _find_printer(settings: Any, code: str) -> tuple[dict[str, Any] | None, str, list[str]]:
    """A printer by code: from the database when it is migrated and holds it (the source of truth
    after import-config, and where the demo points its printers), else from the configuration.
    Returns (printer or None, where it was found, the codes known)."""
    known: list[str] = []
    try:
        from sqlalchemy import select
        from sqlalchemy.engine import make_url
        from kiosk_server.db import migrate
        from kiosk_server.db.tables import halls, printers
        url = make_url(settings.server.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            if not (Path(settings.base_dir) / url.database).exists():  # connecting would create it
                raise FileNotFoundError(f"no database file yet ({url.database})")
        e = _engine(settings)
        try:
            if migrate.current(e) == _head():
                with e.connect() as conn:
                    rows = conn.execute(select(printers, halls.c.name.label("hall_name"))
                                        .join(halls, halls.c.id == printers.c.hall_id)
                                        .order_by(printers.c.id)).mappings().all()
                known = [r["code"] for r in rows]
                for r in rows:
                    if r["code"] == code:
                        return dict(r), "database", known
        finally:
            e.dispose()
    except Exception as ex:  # no database yet, or not reachable: the file still names the printers
        print(f"(database not read: {ex.__class__.__name__}: {ex})", file=sys.stderr)
    lay = settings.layout
    for pr in (lay.printers if lay else []):
        if pr.code == code:
            return ({"code": pr.code, "name": pr.name, "transport": dict(pr.transport), "profile": dict(pr.profile),
                     "hall_name": lay.hall.name}, "configuration", known)
    known += [pr.code for pr in (lay.printers if lay else []) if pr.code not in known]
    return None, "", known


def cmd_print_test(a: argparse.Namespace) -> int:
    """Print a test slip straight through the printer's transport (no spooler, no queue)."""
    from datetime import datetime

    from kiosk_server.i18n import t
    s = _settings(a.config, require_secrets=False)
    printer, source, known = _find_printer(s, a.printer)

    def say(key: str, status_key: str | None = None, **params: Any) -> str:
        """Both languages; `status_key` is translated into each as the `status` parameter."""
        return " / ".join(t(key, lang, **params, **({"status": t(status_key, lang)} if status_key else {}))
                          for lang in ("zh-CN", "en"))

    if printer is None:
        print(say("print_test.unknown", printer=a.printer, known=", ".join(known) or "-"), file=sys.stderr)
        return 2
    from printer_driver.document import Document
    from printer_driver.profiles import profile_from_dict
    from printer_driver.render import Renderer
    from printer_driver.transports import TransportError, make_transport
    try:
        transport = make_transport(printer["transport"])
        profile = profile_from_dict(printer["profile"])
    except (TypeError, ValueError) as e:
        print(f"{a.printer} ({source}): {e}", file=sys.stderr)
        return 2
    lang = a.lang
    now = datetime.now().astimezone()
    doc = (Document().text(str(printer.get("hall_name") or ""), "center", height=2, bold=True)
           .text(t("print_test.title", lang), "center", width=2, height=2, bold=True).rule()
           .text(t("print_test.printer", lang, printer=printer["code"], name=printer["name"]))
           .text(t("print_test.transport", lang, transport=transport.name))
           .text(t("print_test.profile", lang, paper=profile.paper_mm, charset=profile.charset))
           .text(t("print_test.time", lang, time=now.strftime("%Y-%m-%d %H:%M:%S")))
           .text(t("print_test.sample", lang)).feed(1)
           .qr(f"print-test {printer['code']} {now.isoformat(timespec='seconds')}").cut())
    data = Renderer(profile, font_path=s.printing.font_path).render(doc)
    print(f"{printer['code']} {printer['name']} ({source}): {transport.name}, {profile.name} {profile.charset}")
    try:
        transport.open()
        before = transport.read_status()
        if not before.ready:
            print(say("print_test.not_ready", f"printer.status.{before.error}", printer=printer["code"]),
                  file=sys.stderr)
            return 1
        transport.write(data)
        after = transport.read_status()
    except TransportError as e:
        print(say("print_test.unreachable", printer=printer["code"], transport=transport.name, error=str(e)),
              file=sys.stderr)
        return 1
    finally:
        transport.close()
    print(say("print_test.ok", f"printer.status.{after.error or 'ready'}", printer=printer["code"],
              transport=transport.name))
    return 0 if after.ready else 1


def _demo_passwords_in_force(engine: Any) -> list[str]:
    """Accounts that still have a demo password. Checked for the demo user names (each against
    its own password, and the others), so start-up costs a few hashes, not accounts × 6."""
    from sqlalchemy import select
    from kiosk_server.db.tables import users
    from kiosk_server.services.security import verify_password
    demo = {u[0]: u[3] for u in DEMO_USERS}
    with engine.connect() as conn:
        rows = conn.execute(select(users.c.username, users.c.password_hash).where(
            users.c.active.is_(True), users.c.username.in_(list(demo)))).all()
    return [u for u, h in rows if verify_password(h, demo[u])]


def _run_uvicorn(config_path: str, settings: Any, overrides: dict[str, Any]) -> None:
    from kiosk_server import supervise
    os.environ["HALL_CONFIG"] = str(Path(config_path).resolve())
    os.environ["HALL_RUNTIME"] = json.dumps(overrides)
    options = {"host": settings.server.bind, "port": settings.server.port, "workers": settings.server.workers,
               "access_log": settings.server.access_log}
    if settings.server.workers > 1:  # the supervisor needs none of what the checks imported
        supervise.exec_supervisor(options)
    supervise.run(options)


def cmd_serve(a: argparse.Namespace) -> int:
    from kiosk_server.db import migrate
    s = _settings(a.config)
    if a.port:
        s = s.model_copy(update={"server": s.server.model_copy(update={"port": a.port})})
    if a.workers:
        s = s.model_copy(update={"server": s.server.model_copy(update={"workers": a.workers})})
    if s.is_sqlite and s.server.workers > 1:
        print("SQLite serves one worker; use PostgreSQL for several (server.workers)", file=sys.stderr)
        return 2
    e = _engine(s)
    if migrate.current(e) != _head():
        print("the database is not at the newest schema: run `kiosk-server migrate` first", file=sys.stderr)
        return 2
    demo_users = _demo_passwords_in_force(e)
    if demo_users:
        print(f"refusing to start: demo passwords are in force for {', '.join(demo_users)}", file=sys.stderr)
        return 2
    e.dispose()
    overrides: dict[str, Any] = {}
    if a.port:
        overrides["server"] = s.server.model_dump()
    if a.workers:
        overrides["server"] = s.server.model_dump()
    _run_uvicorn(a.config, s, overrides)
    return 0


def _head() -> str:
    from alembic.script import ScriptDirectory
    from kiosk_server.db.migrate import alembic_config
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def cmd_demo(a: argparse.Namespace) -> int:
    """Everything on one machine: SQLite, the sample hall, demo accounts and device tokens."""
    from kiosk_server.config import load_settings
    from kiosk_server.db import migrate
    from kiosk_server.db.engine import Database
    from kiosk_server.services.auth import create_user
    from kiosk_server.services.context import SYSTEM, SystemClock
    from sqlalchemy import select
    from kiosk_server.db.tables import users
    data = Path(a.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    secrets_file = data / "demo-secrets.json"
    if secrets_file.exists():
        sec = json.loads(secrets_file.read_text())
    else:
        sec = {"secret_key": secrets.token_urlsafe(48), "data_key": secrets.token_hex(32)}
        secrets_file.write_text(json.dumps(sec))
        secrets_file.chmod(0o600)
    s = load_settings(a.config, require_secrets=False)
    tokens = {d.code: secrets.token_urlsafe(24) for d in (s.layout.devices if s.layout else [])}
    server = s.server.model_copy(update={"database_url": f"sqlite:///{data / 'hall.db'}", "port": a.port or s.server.port,
                                         "bind": a.bind or s.server.bind, "workers": 1})
    base = f"http://{'127.0.0.1' if server.bind in ('0.0.0.0', '::') else server.bind}:{server.port}"
    server = server.model_copy(update={"public_base_url": server.public_base_url or base})
    s = s.model_copy(update={"server": server, "secret_key": sec["secret_key"], "data_key": sec["data_key"],
                             "device_tokens": tokens, "demo": True, "ignore_opening_hours": True})
    e = _engine(s)
    migrate.upgrade(e)
    _import(s, e, tokens)
    db = Database(e)
    from kiosk_server.services.security import Keys  # noqa: F401
    with db.write() as conn:
        existing = set(conn.execute(select(users.c.username)).scalars())
        for username, name, roles, password in DEMO_USERS:
            if username not in existing:
                create_user(conn, username=username, display_name=name, password=password, roles=roles,
                            actor=SYSTEM, now=SystemClock().now(), security=s.security)
    sim, previews = _demo_printer(db, s, data / "printer-previews")
    bookings = _demo_appointments(db)
    e.dispose()
    led = _demo_led(s, tokens, base, server.bind)
    print(f"""
  衡阳市政务服务中心 demo — hall queue server (SQLite: {data / 'hall.db'})

  Pages (zh-CN; each has an English switch)
    Kiosk        {base}/kiosk?token={_token_of(s, tokens, "kiosk")}
    Clerk        {base}/clerk         (sign in as clerk1 … below, open a window)
    Hall screen  {base}/display?token={_token_of(s, tokens, "display")}
    Admin        {base}/admin         (operator, security_admin or auditor below)
    Ticket page  {base}/t/<public token>   (the QR code on every ticket)

  API            {base}/api/v1/   (schema: {base}/openapi.json)
  Health         {base}/healthz    Metrics: {base}/metrics
  Hall stream    ws://{base.removeprefix('http://')}/api/v1/display/stream?token=<display token>

  Demo accounts (demo only — `serve` refuses to start while any of these passwords is in force):""")
    for username, _n, roles, password in DEMO_USERS:
        print(f"    {username:<10} {password:<22} {','.join(roles)}")
    print("\n  Device tokens (new at every demo start):")
    for d in s.layout.devices:
        print(f"    {d.code:<4} {d.role:<8} {tokens[d.code]}   {d.name}")
    if sim is not None:
        print(f"\n  Printers       {', '.join(p.code for p in s.layout.printers)} print on a printer simulator at "
              f"127.0.0.1:{sim.port}\n                 every slip is saved as a picture: {previews}/slip-NNNN.png")
    if led is not None:
        print(f"\n  LED strips     {led.url}   (what each window's LED strip shows, live; ?lang=en)\n"
              f"                 a display client drives an LED bus simulator ({led.protocol}) from the stream")
    if bookings:
        print("\n  Appointments   today's bookings to check in on the kiosk (预约签到): "
              + ", ".join(f"{b['code']} ({b['zone']} {b['start']}-{b['end']})" for b in bookings))
    k1 = next((d.code for d in s.layout.devices if d.role == "kiosk"), None)
    if k1:
        print(f"\n  Try:  curl -H 'Authorization: Bearer {tokens[k1]}' {base}/api/v1/kiosk/menu", flush=True)
        print(f"        curl -H 'Authorization: Bearer {tokens[k1]}' -H 'content-type: application/json' "
              f"-d '{{\"zone\":\"A\",\"matter\":\"A01\"}}' {base}/api/v1/tickets\n", flush=True)
    overrides = {"server": server.model_dump(), "secret_key": sec["secret_key"], "data_key": sec["data_key"],
                 "device_tokens": tokens, "demo": True, "ignore_opening_hours": True}
    _run_uvicorn(a.config, s, overrides)
    return 0


def _token_of(settings: Any, tokens: dict[str, str], role: str) -> str:
    code = next((d.code for d in settings.layout.devices if d.role == role), None)
    return tokens.get(code, "<token>") if code else "<token>"


def _demo_appointments(db: Any) -> list[dict[str, Any]]:
    """Three bookings for the demo's day: one due now, one in a quarter of an hour, one later."""
    from datetime import timedelta

    from kiosk_server.services import appointments
    from kiosk_server.services.context import SYSTEM, SystemClock, load_hall
    clock = SystemClock()
    with db.write() as conn:
        hall = load_hall(conn)
        local = clock.now().astimezone(hall.tz)
        out = []
        for zone, offset in (("A", 0), ("B", 15), ("C", 90)):
            start = (local + timedelta(minutes=offset)).replace(second=0, microsecond=0)
            end = start + timedelta(minutes=30)
            if end.date() != local.date():  # near midnight: nothing sensible to book
                continue
            out.append(appointments.book(conn, hall=hall, clock=clock, actor=SYSTEM, zone=zone, matter=None,
                                         day=local.date(), start=start.strftime("%H:%M"), end=end.strftime("%H:%M"),
                                         source="demo"))
        return out


def _demo_led(settings: Any, tokens: dict[str, str], base: str, bind: str) -> Any:
    """The demo's window LED strips: a display client (the hall-wide screen's token) drives an LED
    bus simulator in this process; its page shows what each window's strip displays."""
    lay = settings.layout
    screen = next((d for d in (lay.devices if lay else []) if d.role == "display" and not d.zones), None)
    windows = [w for w in (lay.windows if lay else []) if w.led_address]
    if screen is None or not windows:
        return None
    from display_client.led.demo import LedDemo
    return LedDemo(base, tokens[screen.code], addresses={w.code: w.led_address for w in windows},
                   labels={w.led_address: f"{w.code} {w.name}" for w in windows},
                   host=bind if bind not in ("0.0.0.0", "::") else "127.0.0.1").start()


def _demo_printer(db: Any, settings: Any, previews: Path) -> tuple[Any, Path]:
    """The demo's printers print on a printer simulator in this process (a free loopback port),
    which saves every slip as a PNG picture under `previews`."""
    if not (settings.layout and settings.layout.printers):
        return None, previews
    from sqlalchemy import update

    from kiosk_server.db.tables import printers
    from printer_driver.profiles import PROFILES
    from printer_driver.simulator import PrinterSimulator
    base = settings.layout.printers[0].profile.get("base", "80mm")
    sim = PrinterSimulator("127.0.0.1", 0, profile=PROFILES.get(base, PROFILES["80mm"]), preview_dir=previews,
                           font_path=settings.printing.font_path).start()
    with db.write() as conn:  # the imported transports are overridden: every printer is the simulator
        conn.execute(update(printers).values(transport={"kind": "network", "host": "127.0.0.1", "port": sim.port}))
    return sim, previews


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kiosk-server", description="Hall queue server (政务服务中心排队叫号)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name: str, fn: Any, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", default=os.environ.get("HALL_CONFIG_FILE") or str(_default_config()))
        p.set_defaults(fn=fn)
        return p

    p = add("serve", cmd_serve, "run the server (secrets from the environment)")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p = add("demo", cmd_demo, "run everything with SQLite, the sample hall and demo accounts")
    p.add_argument("--data-dir", default="var/demo")
    p.add_argument("--port", type=int)
    p.add_argument("--bind")
    p = add("migrate", cmd_migrate, "upgrade the database to the newest schema")
    p.add_argument("--downgrade", metavar="REVISION")
    add("import-config", cmd_import_config, "import the hall layout of the configuration into the database")
    p = add("check-config", cmd_check_config, "validate a configuration file and report every problem")
    p.add_argument("--no-secrets", action="store_true", help="do not require the secret environment variables")
    p = add("create-user", cmd_create_user, "create an account")
    p.add_argument("--username", required=True)
    p.add_argument("--display-name")
    p.add_argument("--roles", required=True, help="comma-separated: operator, security_admin, auditor, clerk")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--password-from-env", action="store_true", help="read HALL_NEW_PASSWORD")
    add("audit-verify", cmd_audit_verify, "verify the audit log's hash chain")
    p = add("print-test", cmd_print_test, "print a test slip on a configured printer (straight to it, no queue)")
    p.add_argument("printer", help="the printer's code (P1)")
    p.add_argument("--lang", choices=["zh-CN", "en"], default="zh-CN")
    a = ap.parse_args(argv)
    return a.fn(a) or 0


if __name__ == "__main__":
    raise SystemExit(main())
