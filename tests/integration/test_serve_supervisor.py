"""`kiosk-server serve` with several workers: after its checks the process becomes uvicorn's
supervisor alone (kiosk_server/supervise.py), the same pid, without the ~50 MB of imports the
checks needed; the workers serve, and stopping it stops them all."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.live import live_hall

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


def test_the_supervisor_of_several_workers_is_a_lean_process_of_its_own(tmp_path: Path, pg_url: str):
    with live_hall(tmp_path, pg_url, windows=2, workers=2, start_timeout_s=60) as hall:
        pid = hall.server.pid
        assert pid is not None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"kiosk_server.supervise" in cmdline, cmdline  # exec'd: the pid `serve` started with
        assert _status_kb(pid, "VmRSS") < 60 * 1024  # the checks' imports (~80 MB) are gone
        workers = [p for p in hall.server.group_members() if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(workers) == 2, workers
        issued = {t["number"] for t in hall.issue(2)}
        assert hall.call_next(hall.windows[0])["number"] in issued
    assert not hall.server.group_members()  # stopped: supervisor and workers
