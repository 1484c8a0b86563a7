"""The spoolers at run time: one printer_driver Spooler thread per enabled printer of the hall,
in exactly one process.

SQLite serves one worker: its spoolers simply start. On PostgreSQL every worker starts a
`PrintRuntime`, and the one that takes a session-level advisory lock (pg_try_advisory_lock on a
dedicated connection) runs the spoolers; the others try again every `leader_retry_s`. The lock
lives as long as that connection: when the worker dies the lock goes with it and another worker
takes over. The leader also LISTENs on the print channel, so a job queued by any worker wakes
the right spooler at once (the NOTIFY is sent after the queueing transaction commits: db/outbox.py).

The spooler threads never print on a request and never hold a transaction while they talk to a
printer (the spooler's loop: claim → commit → send → mark → commit). Their store writes run
  - SQLite: through the group-commit writer on the event loop (`Container.submit`), so the one
    SQLite writer never waits for a lock and events reach the hub in seq order;
  - PostgreSQL: in the spooler thread, one `Database.write()` each; the events are handed to the
    loop with `call_soon_threadsafe(container.publish, …)` (the listener delivers them in seq
    order from the events table).

The printers are read when the spoolers start; a `config.changed` of the printers (admin API,
import through the API) restarts them on the printers as they are then (`reload`). A printer
changed by the `import-config` command takes effect at the next start of the server.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from kiosk_server.bootstrap import Container
from kiosk_server.db import outbox, queries
from kiosk_server.services.printing import CHANNEL, DbJobStore

log = logging.getLogger("kiosk_server.printing")
LOCK_CLASS = 0x5052494E  # 'PRIN': pg_try_advisory_lock(LOCK_CLASS, hall id), session level
NOTIFY_WAIT_S = 0.5
SUBMIT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0


class PrintRuntime:
    def __init__(self, c: Container, loop: asyncio.AbstractEventLoop) -> None:
        self.c, self.loop = c, loop
        self.spoolers: dict[int, Any] = {}   # printer id -> printer_driver Spooler
        self.leader = False
        self.elections = 0                    # times this process took the lock
        self._lock = threading.Lock()
        self._restart_lock = threading.Lock()  # one start/stop of the spoolers at a time
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        if self.c.db.is_sqlite:
            self.leader = True
            self._start_spoolers()
            return
        self._thread = threading.Thread(target=self._elect, name="print-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every spooler (each finishes or abandons its current send) and give up the lock."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S * 2)
            self._thread = None
        with self._restart_lock:
            self._stop_spoolers()

    def reload(self) -> None:
        """The printers changed: restart the spoolers on the printers as they are now, in a thread
        of its own (stopping waits for a send in progress; a slip cut short prints again, marked
        as a reprint). Nothing where this process does not print."""
        if self.leader and not self._halt.is_set():
            threading.Thread(target=self._restart, name="print-reload", daemon=True).start()

    def _restart(self) -> None:
        with self._restart_lock:
            if not self.leader or self._halt.is_set():
                return
            self._stop_spoolers()
            if self.leader and not self._halt.is_set():
                try:
                    self._start_spoolers()
                except Exception:
                    log.exception("the print spoolers did not restart after a change of printers")

    def wake(self, printer_id: int | None = None) -> None:
        """A job was queued: the spooler looks now instead of at its next poll (no-op where the
        printer is not spooled by this process)."""
        with self._lock:
            targets = list(self.spoolers.values()) if printer_id is None else [self.spoolers.get(printer_id)]
        for s in targets:
            if s is not None:
                s.wake()

    # ------------------------------------------------------------------ spoolers

    def _runner(self) -> Callable[..., Any]:
        c, loop = self.c, self.loop
        if c.db.is_sqlite:
            def run(fn: Callable[..., Any], /, **kw: Any) -> Any:
                return asyncio.run_coroutine_threadsafe(c.submit(fn, **kw), loop).result(SUBMIT_TIMEOUT_S)
            return run

        def run_here(fn: Callable[..., Any], /, **kw: Any) -> Any:
            with c.db.write() as conn:
                buf = conn.info[outbox.BUFFER]
                result = fn(conn, **kw)
            events = [wire for _row, wire in buf]
            if events:
                try:
                    loop.call_soon_threadsafe(c.publish, events)
                except RuntimeError:  # the loop is closed: shutting down, the events stay in the table
                    pass
            return result
        return run_here

    def _start_spoolers(self) -> None:
        from printer_driver.profiles import profile_from_dict
        from printer_driver.render import Renderer
        from printer_driver.spooler import Spooler, SpoolerConfig
        from printer_driver.transports import make_transport
        cfg = self.c.settings.printing
        hall = self.c.hall
        rows = self.c.read(queries.enabled_printers, hall.id)
        store = DbJobStore(self._runner(), hall.id, {r["code"]: (r["id"], r["name"]) for r in rows})
        config = SpoolerConfig(max_attempts=cfg.max_attempts, backoff_s=cfg.backoff_s,
                               backoff_max_s=cfg.backoff_max_s, poll_s=cfg.poll_s)
        started = {}
        for r in rows:
            try:
                transport = make_transport(r["transport"])
                renderer = Renderer(profile_from_dict(r["profile"]), font_path=cfg.font_path)
            except (TypeError, ValueError) as e:
                log.error("printer %s is not usable (%s): its jobs wait until it is fixed", r["code"], e)
                continue
            s = Spooler(r["code"], store, transport, renderer, config=config)
            s.start()
            started[r["id"]] = s
            log.info("printing on %s (%s) through %s", r["code"], r["name"], transport.name)
        with self._lock:
            self.spoolers.update(started)

    def _stop_spoolers(self) -> None:
        with self._lock:
            spoolers, self.spoolers = list(self.spoolers.values()), {}
        threads = [threading.Thread(target=s.stop, args=(STOP_TIMEOUT_S,), daemon=True) for s in spoolers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(STOP_TIMEOUT_S + 1)

    # ------------------------------------------------------------------ PostgreSQL: one leader

    def _elect(self) -> None:
        import psycopg

        from kiosk_server.realtime.pg_listener import conninfo
        retry = self.c.settings.printing.leader_retry_s
        url = conninfo(self.c.settings.server.database_url)
        while not self._halt.is_set():
            try:
                hall_id = self.c.hall.id
                with psycopg.connect(url, autocommit=True) as conn:
                    while not self._halt.is_set():
                        got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, hall_id)).fetchone()
                        if got and got[0]:
                            break
                        self._halt.wait(retry)
                    else:
                        return
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.leader = True
                    self.elections += 1
                    log.info("this worker prints (spooler lock taken)")
                    with self._restart_lock:
                        self._start_spoolers()
                    try:
                        while not self._halt.is_set():
                            for n in conn.notifies(timeout=NOTIFY_WAIT_S):
                                self.wake(int(n.payload) if n.payload.isdigit() else None)
                    finally:
                        self.leader = False
                        with self._restart_lock:
                            self._stop_spoolers()  # before the lock is released with the connection
            except Exception as e:
                if self._halt.is_set():
                    return
                log.warning("print leader election: %s; trying again in %.0f s", e, retry)
                self._halt.wait(retry)
