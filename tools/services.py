"""Redis and PostgreSQL for a test run: the distribution's servers, started on loopback in
a temporary directory, and stopped (and the directory removed) afterwards.

    python -m tools.services run -- python -m pytest ...

starts both, runs the command with DATABASE_URL and REDIS_URL set, stops both and exits
with the command's status. `make test` runs the suite a second time this way.

Nothing is installed or started system-wide: no service unit, no cluster registered with
pg_ctlcluster, nothing listening beyond 127.0.0.1 (PostgreSQL's unix socket lives in the
temporary directory). If the servers are missing and we are root on Debian, they are
installed from the distribution's packages (`redis-server`, `postgresql`).

The servers are tuned for tests (no fsync, no snapshots): fast, and nothing to keep.
`durable=True` keeps PostgreSQL's defaults, for measurements (bench/load.py).
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PACKAGES = ("redis-server", "postgresql")
# The port we pick may be taken by someone else between the check and the bind: retry.
START_ATTEMPTS = 3


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports_in_a_row(count: int) -> int:
    """The first of `count` consecutive free loopback ports (`make serve`'s workers listen
    on consecutive ports): each one bound to be sure, then let go."""
    while True:
        first = free_port()
        held: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in held:
                s.close()


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def postgres_bindir() -> Path | None:
    """Debian's PostgreSQL (highest version), not whatever else is on PATH: other builds
    of initdb may lack the distribution's defaults."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def available() -> bool:
    return redis_binary() is not None and postgres_bindir() is not None


def ensure_installed() -> None:
    """Install Redis and PostgreSQL from the distribution's packages when missing."""
    if available():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServiceError(
            "Redis and PostgreSQL are needed (redis-server, postgresql); install them from "
            "your distribution's packages."
        )
    print("Installing Redis and PostgreSQL from the distribution's packages...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # The packages' own service would start the system-wide cluster where systemd runs;
    # we use neither it nor its port.
    if not available():
        raise ServiceError("redis-server or PostgreSQL is still missing after apt-get install")


def stop_process(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """Stop a process we started: politely, then for good if it does not listen."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def _wait_for_port(port: int, process: subprocess.Popen | None, what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{what} exited: {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServiceError(f"{what} did not listen on port {port} in 30 s: {_tail(log)}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"


class Redis:
    """redis-server in the foreground: no snapshots, no append-only file, loopback only."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for_db(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> Redis:
        binary = redis_binary()
        if binary is None:
            raise ServiceError("redis-server is not installed")
        for attempt in range(START_ATTEMPTS):
            self.port = free_port()
            log = open(self.log_path, "a")  # noqa: SIM115 - the child keeps it
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                    "--daemonize",
                    "no",
                    "--maxclients",
                    "10000",
                ],  # fmt: skip
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()
            try:
                _wait_for_port(self.port, self.process, "redis-server", self.log_path)
                return self
            except ServiceError:
                self.stop()
                if attempt == START_ATTEMPTS - 1:
                    raise
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


class Postgres:
    """A throwaway PostgreSQL cluster: initdb in the temporary directory, trust
    authentication on loopback only, the unix socket in the directory too. The role
    `avatarsite` owns the database `avatarsite` and may create databases (pytest-django
    creates `test_avatarsite`)."""

    ROLE = "avatarsite"
    DATABASE = "avatarsite"

    def __init__(self, workdir: Path, *, durable: bool = False, max_connections: int = 300):
        self.workdir = workdir
        self.data = workdir / "pgdata"
        self.socket_dir = workdir / "pgsocket"
        self.log_path = workdir / "postgres.log"
        self.durable = durable
        self.max_connections = max_connections
        self.port = 0
        self.bindir = postgres_bindir()
        self.started = False

    @property
    def url(self) -> str:
        return self.url_for(self.DATABASE)

    def url_for(self, database: str) -> str:
        return f"postgres://{self.ROLE}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        """Run a PostgreSQL program as the `postgres` user when we are root (initdb and
        postgres refuse to run as root)."""
        if os.geteuid() == 0:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        return subprocess.run(cmd, capture_output=True, text=True, **kw)

    def start(self) -> Postgres:
        if self.bindir is None:
            raise ServiceError("PostgreSQL is not installed")
        self.data.mkdir()
        self.socket_dir.mkdir()
        self.log_path.touch()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.workdir, self.data, self.socket_dir, self.log_path):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        result = self._as_owner(
            str(self.bindir / "initdb"),
            "-D", str(self.data),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            timeout=120,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServiceError(f"initdb failed: {result.stderr[-2000:]}")
        options = [
            f"-c listen_addresses=127.0.0.1 -c unix_socket_directories={self.socket_dir}",
            f"-c max_connections={self.max_connections}",
        ]
        if not self.durable:
            # A test database: nothing is worth an fsync.
            options.append("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        for attempt in range(START_ATTEMPTS):
            self.port = free_port()
            result = self._as_owner(
                str(self.bindir / "pg_ctl"),
                "-D", str(self.data),
                "-l", str(self.log_path),
                "-o", " ".join([f"-p {self.port}", *options]),
                "-w",
                "-t", "60",
                "start",
                timeout=90,
            )  # fmt: skip
            if result.returncode == 0:
                self.started = True
                break
            if attempt == START_ATTEMPTS - 1:
                raise ServiceError(f"PostgreSQL did not start: {_tail(self.log_path)}")
        _wait_for_port(self.port, None, "PostgreSQL", self.log_path)
        self.psql(f"CREATE ROLE {self.ROLE} LOGIN CREATEDB")
        self.psql(f"CREATE DATABASE {self.DATABASE} OWNER {self.ROLE}")
        return self

    def psql(self, sql: str, database: str = "postgres", user: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                database,
                "-c",
                sql,
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise ServiceError(f"psql {sql!r} failed: {result.stderr[-2000:]}")
        return result.stdout

    def stop(self) -> None:
        if not self.started:
            return
        result = self._as_owner(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop",
            timeout=60,
        )  # fmt: skip
        if result.returncode != 0:
            # Last resort: the postmaster's pid is the first line of postmaster.pid.
            try:
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGQUIT)
            except (OSError, ValueError, IndexError):
                pass
        self.started = False


def create_database(url: str, name: str) -> str:
    """Create database `name` on the server of the PostgreSQL `url` (its role needs
    CREATEDB); returns the URL of the new database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    """Empty the Redis database of `url` (what an earlier user left there)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def with_redis_db(url: str, db: int) -> str:
    """The same Redis server, another database number (its own keyspace)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@contextmanager
def running(*, durable: bool = False, install: bool = True) -> Iterator[tuple[Redis, Postgres]]:
    """Redis and PostgreSQL for the duration of the block; always stopped and removed."""
    if install:
        ensure_installed()
    workdir = Path(tempfile.mkdtemp(prefix="avatarsite-services-"))
    redis = Redis(workdir)
    postgres = Postgres(workdir, durable=durable)
    try:
        redis.start()
        postgres.start()
        yield redis, postgres
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run(argv: list[str]) -> int:
    started = time.monotonic()
    with running() as (redis, postgres):
        env = {**os.environ, "REDIS_URL": redis.url, "DATABASE_URL": postgres.url}
        print(
            f"services: Redis at {redis.url}, PostgreSQL at {postgres.url} "
            f"(up in {time.monotonic() - started:.1f} s)",
            flush=True,
        )
        # Stopped on Ctrl-C or a CI's SIGTERM too: the child gets the signal, we wait for
        # it and then the `finally` above stops the servers.
        signal.signal(signal.SIGTERM, _interrupt)
        child = subprocess.Popen(argv, env=env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.terminate()
            try:
                return child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                return child.wait()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.services", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a command with DATABASE_URL and REDIS_URL set")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    sub.add_parser("install", help="install Redis and PostgreSQL when missing")
    args = parser.parse_args()
    if args.command == "install":
        ensure_installed()
        return 0
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        parser.error("run needs a command")
    return _run(argv)


if __name__ == "__main__":
    sys.exit(main())
