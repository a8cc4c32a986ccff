"""How a served process is started and managed, for the end-to-end tests
(tests/support/live.py) and the benchmarks (bench/) alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def daphne_command(port: int, app: str = "avatarsite.asgi:application") -> list[str]:
    """How a served process is started: `manage.py serve` on loopback, as `make run` starts
    it (daphne's server with the process's background loop). `app` serves another ASGI
    application (bench/load.py measures variants)."""
    return [
        sys.executable,
        str(ROOT / "manage.py"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--websocket-max-message-size",
        "65536",
        "--app",
        app,
    ]


def manage(env: dict[str, str], *args: str, timeout: float = 300, cwd: Path = ROOT) -> str:
    """Run a manage.py command in the environment of a served process; its output. `cwd`
    is the tree whose manage.py runs (bench/compare.py runs an older revision's)."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout
