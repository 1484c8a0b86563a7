from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from printer_driver.profiles import PAPER_58MM
from printer_driver.simulator import PrinterSimulator
from printer_driver.spooler import Job
from printer_driver.status import PrinterStatus

STATUS_URL = "http://192.0.2.10:8080/t/{token}"


def ticket_data(n: int = 1, **over: Any) -> dict[str, Any]:
    """A ticket as the server's issue answer has it, plus what the slip needs."""
    return {
        "hall_name": "衡阳市政务服务中心", "number": f"A{n:03d}", "zone": {"code": "A", "name": "商事登记区"},
        "matter": {"code": "A01", "name": "公司设立登记"}, "priority": "normal", "waiting_ahead": 5,
        "estimated_wait_s": 900, "issued_at": "2024-11-21T01:03:00+00:00", "timezone": "Asia/Shanghai",
        "status_url": STATUS_URL.format(token=f"tok{n:05d}"),
        "footer": [{"key": "footer.hotline", "hotline": "12345"}, {"key": "footer.missed", "n": 3}],
    } | over


@dataclass
class StoredJob:
    job: Job
    status: str = "queued"
    next_attempt: datetime | None = None
    errors: list[str] = field(default_factory=list)


class FakeJobStore:
    """The JobStore port in memory, thread-safe, with what the tests look at."""

    def __init__(self) -> None:
        self.rows: dict[int, StoredJob] = {}
        self.statuses: list[PrinterStatus] = []
        self.alarms: list[tuple[int, str]] = []
        self.claims: list[Job] = []
        self.changed = threading.Condition()

    def add(self, kind: str, data: dict[str, Any], *, printer: str = "P1", lang: str = "zh-CN",
            reprint: bool = False) -> int:
        with self.changed:
            job_id = len(self.rows) + 1
            self.rows[job_id] = StoredJob(Job(job_id, printer, kind, data, lang, attempts=0, reprint=reprint))
            return job_id

    def cancel(self, job_id: int) -> None:
        with self.changed:
            if self.rows[job_id].status == "queued":
                self.rows[job_id].status = "cancelled"

    # the port
    def claim_next(self, printer: str, now: datetime) -> Job | None:
        with self.changed:
            for row in self.rows.values():
                if (row.job.printer == printer and row.status == "queued"
                        and (row.next_attempt is None or row.next_attempt <= now)):
                    row.status = "printing"
                    row.job = replace(row.job, attempts=row.job.attempts + 1)
                    self.claims.append(row.job)
                    return row.job
            return None

    def mark_done(self, job: Job, now: datetime) -> None:
        self._set(job, "done")

    def mark_failed(self, job: Job, error: str, next_attempt: datetime | None, *, reprint: bool) -> None:
        with self.changed:
            row = self.rows[int(job.id)]
            assert row.status == "printing"
            row.errors.append(error)
            row.job = replace(row.job, reprint=reprint)
            row.next_attempt = next_attempt
            row.status = "queued" if next_attempt is not None else "failed"
            if next_attempt is None:
                self.alarms.append((int(job.id), error))
            self.changed.notify_all()

    def requeue_interrupted(self, printer: str, now: datetime) -> int:
        with self.changed:
            n = 0
            for row in self.rows.values():
                if row.job.printer == printer and row.status == "printing":
                    row.status, row.job, row.next_attempt = "queued", replace(row.job, reprint=True), None
                    n += 1
            return n

    def record_status(self, printer: str, status: PrinterStatus, now: datetime) -> None:
        with self.changed:
            self.statuses.append(status)
            self.changed.notify_all()

    def _set(self, job: Job, status: str) -> None:
        with self.changed:
            assert self.rows[int(job.id)].status == "printing"
            self.rows[int(job.id)].status = status
            self.changed.notify_all()

    # for the tests
    def count(self, status: str) -> int:
        return sum(1 for r in self.rows.values() if r.status == status)

    def wait(self, predicate: Callable[[FakeJobStore], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"store not as expected after {timeout} s: "
                                       f"{ {s: self.count(s) for s in ('queued', 'printing', 'done', 'failed')} }, "
                                       f"statuses {[s.error for s in self.statuses]}")
                self.changed.wait(min(left, 0.05))

    def status_errors(self) -> list[str | None]:
        with self.changed:
            return [s.error for s in self.statuses]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 11, 21, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def store() -> FakeJobStore:
    return FakeJobStore()


@pytest.fixture
def sim() -> Iterator[PrinterSimulator]:
    with PrinterSimulator(profile=PAPER_58MM) as s:
        yield s
