"""uvicorn, run for `kiosk-server serve` and `demo`; with several workers, in a process of its own.

`serve` checks the configuration, the schema and the demo passwords before it starts, which
imports the whole server (FastAPI, SQLAlchemy, Alembic: ~80 MB). With several workers the
process that goes on is only uvicorn's supervisor: it starts, watches and restarts the workers,
each a fresh interpreter that imports the server for itself. So `serve` replaces itself (exec:
the same pid, so the same signals and the same process group) with this module, which imports
uvicorn and the websocket protocol and nothing else (~30 MB)."""
from __future__ import annotations

import json
import os
import sys
from typing import Any

OPTIONS_ENV = "HALL_UVICORN"  # the options `run` gets, across the exec


def run(options: dict[str, Any]) -> None:
    """uvicorn serving the app of kiosk_server.asgi; `options`: host, port, workers, access_log."""
    import uvicorn

    from kiosk_server.realtime.wsprotocol import PROTOCOL
    uvicorn.run("kiosk_server.asgi:create", factory=True, ws=PROTOCOL, ws_per_message_deflate=False,
                log_config=None, lifespan="on", timeout_graceful_shutdown=5, **options)


def exec_supervisor(options: dict[str, Any]) -> None:
    """Become a fresh interpreter running `run(options)` (never returns)."""
    os.environ[OPTIONS_ENV] = json.dumps(options)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "kiosk_server.supervise"])


if __name__ == "__main__":
    run(json.loads(os.environ.pop(OPTIONS_ENV)))
