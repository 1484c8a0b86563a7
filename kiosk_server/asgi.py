"""Entry for uvicorn workers: `HALL_CONFIG` names the TOML file (set by `kiosk-server serve`)."""
from __future__ import annotations

import json
import os
import sys

from fastapi import FastAPI

# How long the event loop may keep the interpreter lock when another thread asks for it: the
# SQLite writer thread (its COMMIT) and PostgreSQL's transaction threads each wait this long, at
# worst, while the loop writes a call to a thousand screens. Python's 5 ms made issuing's p99
# during a broadcast 29-34 ms; at 1 ms it is 23 ms, and PostgreSQL serves as many or more
# (bench/ws_bench.py, bench/run.py; every thread switch it adds costs microseconds).
SWITCH_INTERVAL_S = 0.001


def create() -> FastAPI:
    from kiosk_server import logs
    from kiosk_server.config import Settings, load_settings
    from kiosk_server.main import create_app

    sys.setswitchinterval(SWITCH_INTERVAL_S)
    overrides = json.loads(os.environ.get("HALL_RUNTIME", "{}"))
    settings = load_settings(os.environ["HALL_CONFIG"], require_secrets=not overrides.get("demo"))
    if overrides:
        settings = Settings.model_validate({**settings.model_dump(), **overrides})
    logs.setup(settings.server.log_level, settings.server.access_log)
    return create_app(settings)
