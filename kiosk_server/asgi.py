"""Entry for uvicorn workers: `HALL_CONFIG` names the TOML file (set by `kiosk-server serve`)."""
from __future__ import annotations

import json
import os

from fastapi import FastAPI


def create() -> FastAPI:
    from kiosk_server import logs
    from kiosk_server.config import Settings, load_settings
    from kiosk_server.main import create_app

    overrides = json.loads(os.environ.get("HALL_RUNTIME", "{}"))
    settings = load_settings(os.environ["HALL_CONFIG"], require_secrets=not overrides.get("demo"))
    if overrides:
        settings = Settings.model_validate({**settings.model_dump(), **overrides})
    logs.setup(settings.server.log_level, settings.server.access_log)
    return create_app(settings)
