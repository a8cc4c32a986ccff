"""The supervisor of `make serve` (`manage.py serve_workers`): N served processes on
consecutive ports, each restarted if it dies.

Plain Python, no Django: the command checks the settings and migrates, then hands over.

- A worker that exits on its own is started again on its port, after a delay that doubles
  while it keeps dying within a minute of its start (1 s up to 30 s), so a worker that
  cannot start does not spin.
- SIGTERM or SIGINT: every worker gets SIGTERM at once and drains (`manage.py serve` stops
  listening and closes its sockets with 1012, the pages reconnect elsewhere); one still
  running after `drain_timeout` is killed. Then the supervisor exits 0.
- SIGHUP: a rolling restart, one worker at a time: SIGTERM, wait for its exit, start it
  again, and go on to the next only once it answers `/healthz` (any answer below 500: a
  version without the endpoint answers 404, which shows it serves too). Meanwhile the
  other workers carry the pages that reconnect.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0  # a worker up this long has its restart delay reset
TICK = 0.2


def worker_command(host: str, port: int) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), "serve", "--host", host, "--port", str(port)]


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True once the worker answers its health check with anything below a 500."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=timeout):  # noqa: S310
            return True
    except urllib.error.HTTPError as error:
        return error.code < 500
    except OSError:
        return False


@dataclass
class Worker:
    port: int
    process: subprocess.Popen | None = None
    started: float = 0.0
    backoff: float = 1.0
    due: float = 0.0  # when a dead worker is started again


@dataclass
class Supervisor:
    host: str
    ports: list[int]
    drain_timeout: float = 30.0
    ready_timeout: float = 60.0
    say: Callable[[str], None] = print
    workers: list[Worker] = field(init=False)
    stopping: bool = field(default=False, init=False)
    rolling: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.workers = [Worker(port) for port in self.ports]

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._roll)
        for worker in self.workers:
            self._start(worker)
        while not self.stopping:
            if self.rolling:
                self.rolling = False
                self.rolling_restart()
            self._revive()
            time.sleep(TICK)
        self._drain(self.workers)
        return 0

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    def _roll(self, signum, frame) -> None:
        self.rolling = True

    def _start(self, worker: Worker) -> None:
        # A session of its own: a Ctrl-C at the terminal reaches the supervisor only, which
        # drains the workers itself (each gets one SIGTERM).
        worker.process = subprocess.Popen(  # noqa: S603 - our own command line
            worker_command(self.host, worker.port), cwd=ROOT, start_new_session=True
        )
        worker.started = time.monotonic()
        self.say(f"worker on port {worker.port} started (pid {worker.process.pid})")

    def _revive(self) -> None:
        """Start again each worker that died, once its delay is over."""
        now = time.monotonic()
        for worker in self.workers:
            if worker.process is None or worker.process.poll() is None:
                continue
            if not worker.due:
                if now - worker.started >= STABLE_AFTER:
                    worker.backoff = 1.0
                delay, worker.backoff = worker.backoff, min(worker.backoff * 2, MAX_BACKOFF)
                worker.due = now + delay
                code = worker.process.returncode
                self.say(
                    f"worker on port {worker.port} exited ({code}); "
                    f"starting it again in {delay:.0f} s"
                )
            elif now >= worker.due:
                worker.due = 0.0
                self._start(worker)

    def _drain(self, workers: list[Worker]) -> None:
        """SIGTERM to each worker, then wait for all; kill what outlives the timeout."""
        running = [w.process for w in workers if w.process and w.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.drain_timeout
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"worker pid {process.pid} did not drain in time; killing it")
                process.kill()
                process.wait()

    def rolling_restart(self) -> None:
        """Each worker in turn: drained, started again, and answering before the next."""
        self.say("rolling restart: one worker at a time")
        for worker in self.workers:
            if self.stopping:
                return
            self._drain([worker])
            worker.due = 0.0
            self._start(worker)
            if not self._wait_ready(worker):
                self.say(f"worker on port {worker.port} is not answering; rolling restart stopped")
                return
            self.say(f"worker on port {worker.port} answers")
        self.say("rolling restart done")

    def _wait_ready(self, worker: Worker) -> bool:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline and not self.stopping:
            if worker.process is not None and worker.process.poll() is not None:
                return False
            if answers(self.host, worker.port):
                return True
            time.sleep(TICK)
        return False


def proxy_config(host: str, ports: list[int]) -> str:
    """The nginx configuration in front of the workers (printed, never installed)."""
    servers = "\n".join(f"    server {host}:{port} max_fails=2 fail_timeout=5s;" for port in ports)
    return f"""upstream avatarsite {{
    least_conn;  # long-lived websockets: the least busy worker gets the next one
{servers}
}}
map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
server {{
    listen 443 ssl;
    server_name avatars.example.com;
    client_max_body_size 1m;
    client_body_timeout 15s;
    client_header_timeout 15s;
    location / {{
        proxy_pass http://avatarsite;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 3600s;
        # A worker that is restarting refuses connections: try the next one.
        proxy_next_upstream error timeout http_502 http_503;
    }}
    # The health check (nginx Plus: health_check uri=/healthz; HAProxy: option httpchk).
    location = /healthz {{ proxy_pass http://avatarsite; access_log off; }}
}}"""
