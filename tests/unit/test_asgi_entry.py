"""The uvicorn worker's entry (`kiosk_server.asgi:create`) sets up the process as well as the app."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from kiosk_server import asgi
from tests.support import hall as support


def test_a_worker_lets_other_threads_have_the_interpreter_within_a_millisecond(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite writer thread's COMMIT and PostgreSQL's transaction threads must not wait
    Python's default 5 ms for the lock while the loop writes a call to every screen."""
    config = tmp_path / "hall.toml"
    shutil.copy(support.EXAMPLE, config)
    for name, value in support.test_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HALL_CONFIG", str(config))
    monkeypatch.delenv("HALL_RUNTIME", raising=False)
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        app = asgi.create()
        assert sys.getswitchinterval() == pytest.approx(asgi.SWITCH_INTERVAL_S)
        assert asgi.SWITCH_INTERVAL_S <= 0.001
        app.state.container.db.dispose()
    finally:
        sys.setswitchinterval(before)
