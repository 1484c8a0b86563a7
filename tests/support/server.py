"""A real `kiosk-server serve` process for tests: started on a loopback port with the test
secrets in its environment, ready when GET /healthz answers, killable like a power cut.

The server runs in its own session (process group): with `workers > 1` uvicorn is a supervisor
with one child per worker, and `kill()` SIGKILLs the whole group at once, as a crash would."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0            # uvicorn itself gives connections 5 s to finish


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerError(RuntimeError):
    pass


class ServerProcess:
    """`python -m kiosk_server serve --config FILE --port PORT [--workers N]`.

    `env` holds the secrets (HALL_SECRET_KEY, HALL_DATA_KEY, HALL_TOKEN_*); it is laid over the
    current environment. Output (stdout and stderr) of every start is appended to `log_file`.
    """

    def __init__(self, config: Path, env: dict[str, str], *, port: int | None = None, workers: int | None = None,
                 log_file: Path | None = None, start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.config = Path(config)
        self.env = dict(env)
        self.port = port or free_port()
        self.workers = workers
        self.log_file = Path(log_file) if log_file else self.config.with_name(self.config.stem + ".server.log")
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.last_start_s: float | None = None  # seconds from spawn to the first healthy answer
        self.last_stop_graceful: bool | None = None
        self.last_stop_s: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "kiosk_server", "serve", "--config", str(self.config), "--port", str(self.port)]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        return cmd

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------ life cycle

    def start(self) -> ServerProcess:
        if self.running():
            raise ServerError(f"server already running (pid {self.pid})")
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        env.pop("HALL_CONFIG_FILE", None)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with open(self.log_file, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            t0 = time.monotonic()
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_healthy(t0)
        except BaseException:
            self.kill()
            raise
        self.last_start_s = time.monotonic() - t0
        return self

    def _wait_healthy(self, t0: float) -> None:
        deadline = t0 + self.start_timeout_s
        last: str = "no answer"
        with httpx.Client(base_url=self.base_url, timeout=2.0, trust_env=False) as client:
            while True:
                assert self.proc is not None
                code = self.proc.poll()
                if code is not None:
                    raise ServerError(f"server exited with {code} before it was healthy:\n{self.log_tail()}")
                try:
                    r = client.get("/healthz")
                    if r.status_code == 200 and r.json().get("status") == "ok":
                        return
                    last = f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as e:
                    last = repr(e)
                if time.monotonic() >= deadline:
                    raise ServerError(f"server not healthy after {self.start_timeout_s:.0f} s (last: {last}):\n"
                                      f"{self.log_tail()}")
                time.sleep(0.1)

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)  # start_new_session: the group id is the leader's pid
        except ProcessLookupError:
            pass

    def group_members(self) -> list[int]:
        """Live (not zombie) processes of the server's process group."""
        assert self.proc is not None
        pgid = self.proc.pid
        proc_dir = Path("/proc")
        if not proc_dir.is_dir():  # not Linux: ask the kernel whether the group exists at all
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return []
            return [pgid]
        members = []
        for d in proc_dir.iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp ...
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(d.name))
        return members

    def _wait_group_gone(self, timeout: float) -> bool:
        """True once no live process of the group is left (workers outlive a killed leader
        unless they are signalled too, which is why the whole group is)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.group_members():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the supervisor and every worker at once: nothing gets to clean up."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT_S)
        if not self._wait_group_gone(STOP_TIMEOUT_S):
            raise ServerError(f"process group {self.proc.pid} still alive after SIGKILL")

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM the group (graceful shutdown, as systemd or Ctrl-C would), SIGKILL whatever is
        left after `timeout` seconds. Returns the supervisor's exit code; `last_stop_graceful`
        tells whether SIGTERM alone was enough, `last_stop_s` how long it took."""
        if self.proc is None:
            return None
        timeout = STOP_TIMEOUT_S if timeout is None else timeout
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            graceful = self._wait_group_gone(max(0.5, t0 + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            graceful = False
        if not graceful:
            with open(self.log_file, "ab") as log:
                log.write(f"\n===== not stopped {timeout:.0f} s after SIGTERM: SIGKILL\n".encode())
            self._signal_group(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)
            self._wait_group_gone(STOP_TIMEOUT_S)
        self.last_stop_graceful = graceful
        self.last_stop_s = time.monotonic() - t0
        return self.proc.returncode

    def restart(self, *, kill: bool = False) -> ServerProcess:
        """Stop (or with `kill`, SIGKILL) and start again on the same port."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def __enter__(self) -> ServerProcess:
        return self.start() if not self.running() else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
