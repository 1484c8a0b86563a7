"""The print spooler: one worker loop per printer over a durable job store.

Job life cycle (the store keeps it; the spooler drives it through the `JobStore` port):

    queued ──claim_next──▶ printing ──mark_done──▶ done
       ▲                      │
       └── mark_failed(next_attempt=t) ──┤  (retry at t, exponential backoff)
                              └── mark_failed(next_attempt=None) ──▶ failed  (alarm)
    queued ──(server)──▶ cancelled   (claim_next never returns a cancelled job)

A loop step polls the printer's status first and takes a job only when it can print, so a
printer that is off, out of paper or open spends no attempts: its jobs wait, queued, and print
in order when it is back. An attempt is spent only when sending fails or the printer reports a
fault right after the slip. When bytes of a slip may have reached the printer before the
failure, the job is retried with `reprint=True` and is printed again with the 补打 marker; a job
that nothing of was sent is retried plain. A slip is done when the printer, asked right after
receiving all of it, answers that it is ready.

Run the loop in its own thread (`start`/`stop`); call `wake` when a job is queued so it does not
wait for the next poll. Run one spooler per printer, in one process.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from printer_driver.i18n import DEFAULT_LANG
from printer_driver.layouts import build_document
from printer_driver.render import Renderer
from printer_driver.status import PrinterStatus
from printer_driver.transports import NoResponse, Transport, TransportError

log = logging.getLogger("printer_driver.spooler")

Outcome = Literal["printed", "idle", "not_ready", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class Job:
    """A print job as the store hands it out.

    `kind` is a layout name (layouts.LAYOUTS: ticket, receipt, missing_materials, refusal) and
    `data` its input, kept with the job so it can be rendered again. `attempts` counts the
    claims of this job including the current one. `reprint` puts the 补打 marker on the slip:
    set by the spooler when an earlier attempt may have printed part of it, or by the server for
    a reprint a person asked for.
    """

    id: int | str
    printer: str
    kind: str
    data: Mapping[str, Any]
    lang: str = DEFAULT_LANG
    attempts: int = 1
    reprint: bool = False


class JobStore(Protocol):
    """The spooler's port to durable storage (the server implements it on its print_jobs table).

    Every method is its own transaction, called from the spooler's thread; `now` is the
    spooler's clock (timezone-aware UTC).
    """

    def claim_next(self, printer: str, now: datetime) -> Job | None:
        """Atomically move the oldest job of `printer` that is `queued` and due (no next attempt
        time, or one <= now) to `printing`, add one to its attempts, and return it; None when
        none is due. Must be safe against a concurrent claim (FOR UPDATE SKIP LOCKED, or a
        conditional UPDATE … WHERE status = 'queued')."""
        ...

    def mark_done(self, job: Job, now: datetime) -> None:
        """printing → done."""
        ...

    def mark_failed(self, job: Job, error: str, next_attempt: datetime | None, *, reprint: bool) -> None:
        """With `next_attempt`: printing → queued, due at `next_attempt`, with `reprint` stored
        for the next claim and `error` kept as the last error. Without: printing → failed after
        its last attempt — raise the alarm (event, audit, operator screen)."""
        ...

    def requeue_interrupted(self, printer: str, now: datetime) -> int:
        """At spooler start: jobs of `printer` left in `printing` (the process died mid-job) →
        queued with `reprint` set, due now. Returns how many."""
        ...

    def record_status(self, printer: str, status: PrinterStatus, now: datetime) -> None:
        """The printer's status changed (and once at start): keep it, alarm on faults
        (`status.error`: unreachable, no_response, cover_open, paper_out, printer_error, offline)."""
        ...


@dataclass(frozen=True, slots=True)
class SpoolerConfig:
    max_attempts: int = 5          # sends that may fail before the job fails
    backoff_s: float = 2.0         # delay before the first retry; doubles with every attempt
    backoff_max_s: float = 300.0
    poll_s: float = 2.0            # status poll and job check while idle or while the printer cannot print


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Spooler:
    """Prints the jobs of one printer, one at a time."""

    def __init__(self, printer: str, store: JobStore, transport: Transport, renderer: Renderer, *,
                 config: SpoolerConfig = SpoolerConfig(), clock: Callable[[], datetime] = _utcnow) -> None:
        self.printer, self.store, self.transport, self.renderer = printer, store, transport, renderer
        self.config, self.clock = config, clock
        self.status: PrinterStatus | None = None  # last known
        self._connected = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ running

    def start(self) -> threading.Thread:
        """Run the loop in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"spooler-{self.printer}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def run(self) -> None:
        """Requeue what a previous run left half-done, then step until stopped."""
        n = self.store.requeue_interrupted(self.printer, self.clock())
        if n:
            log.warning("%s: %d interrupted job(s) queued again for a reprint", self.printer, n)
        try:
            while not self._stop.is_set():
                try:
                    outcome = self.step()
                except Exception:  # the store failed (database restart…): keep the loop alive
                    log.exception("%s: spooler step failed", self.printer)
                    outcome = "not_ready"
                if outcome in ("idle", "not_ready"):
                    self._wake.wait(self.config.poll_s)
                    self._wake.clear()
        finally:
            self._disconnect()

    # ------------------------------------------------------------------ one step

    def step(self) -> Outcome:
        """Poll the status; if the printer can print, print the next due job."""
        if not self._poll().ready:
            return "not_ready"
        job = self.store.claim_next(self.printer, self.clock())
        if job is None:
            return "idle"
        try:
            doc = build_document(job.kind, job.data, lang=job.lang, reprint=job.reprint)
            data = self.renderer.render(doc)
        except Exception as e:  # bad job data or no font: another attempt cannot help
            log.error("%s: job %s cannot be rendered: %s", self.printer, job.id, e)
            self.store.mark_failed(job, f"render: {e}", None, reprint=job.reprint)
            return "failed"
        try:
            self.transport.write(data)
            after = self.transport.read_status()  # answered once the whole slip was received
        except TransportError as e:
            self._disconnect()
            self._record(PrinterStatus.unreachable("no_response" if isinstance(e, NoResponse) else "unreachable"))
            return self._retry(job, str(e), reprint=job.reprint or e.sent != 0)
        self._record(after)
        if not after.ready:  # the slip ran into a fault: it may be incomplete
            return self._retry(job, f"printer: {after.error}", reprint=True)
        self.store.mark_done(job, self.clock())
        return "printed"

    def _poll(self) -> PrinterStatus:
        try:
            if not self._connected:
                self.transport.open()
                self._connected = True
            status = self.transport.read_status()
        except TransportError as e:
            self._disconnect()
            status = PrinterStatus.unreachable("no_response" if isinstance(e, NoResponse) else "unreachable")
            if status != self.status:
                log.warning("%s: %s", self.printer, e)
        self._record(status)
        return status

    def _retry(self, job: Job, error: str, *, reprint: bool) -> Outcome:
        now = self.clock()
        if job.attempts >= self.config.max_attempts:
            log.error("%s: job %s failed after %d attempts: %s", self.printer, job.id, job.attempts, error)
            self.store.mark_failed(job, error, None, reprint=reprint)
            return "failed"
        delay = min(self.config.backoff_s * 2 ** (job.attempts - 1), self.config.backoff_max_s)
        log.warning("%s: job %s attempt %d failed (%s); retry in %.1f s%s", self.printer, job.id, job.attempts,
                    error, delay, " with the reprint marker" if reprint else "")
        self.store.mark_failed(job, error, now + timedelta(seconds=delay), reprint=reprint)
        return "retry"

    def _record(self, status: PrinterStatus) -> None:
        if status != self.status:
            self.store.record_status(self.printer, status, self.clock())
            self.status = status

    def _disconnect(self) -> None:
        if self._connected:
            self._connected = False
            self.transport.close()
