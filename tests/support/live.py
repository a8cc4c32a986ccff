"""A real served process for end-to-end tests: `manage.py serve` on loopback, on a database
of its own, migrated and seeded like `make run` does.

Migrating and seeding cost ~4 s a process, and a run starts dozens: the run does them once,
into a template database, and each process gets a copy (a SQLite file copied with SQLite's
backup, or a PostgreSQL database created from the template). A restarted process keeps
its database (and migrates and seeds it, as before). A test that hands a process a
DATABASE_URL of its own (two processes on one database) gets `migrate` and `seed_demo`
at every start, as before.

On the embedded defaults that is a SQLite file in its work directory. When the run itself
is on PostgreSQL and Redis (make test's second pass sets DATABASE_URL and REDIS_URL), the
process gets a database of its own on that PostgreSQL and a Redis database number of its
own, so the end-to-end tests run on both setups too.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tools import secret_scan, services
from tools.serving import ROOT, daphne_command, manage

# Redis database numbers for served processes: 0 is the test run's own cache, 1 the
# scale-out tests'; a process takes the next one (a run has only a few at once).
_redis_dbs = itertools.cycle(range(2, 16))


def _on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


_template_url: str | None = None  # the run's migrated, seeded database (made on first use)


def _template() -> str:
    """The URL of the run's template database: migrated and seeded the first time a
    process needs it, dropped at exit. On the run's own settings (not the first test's:
    the template is the same whichever test comes first)."""
    global _template_url
    if _template_url is None:
        if _on_postgres():
            name = f"live_template_{uuid.uuid4().hex[:10]}"
            url = services.create_database(os.environ["DATABASE_URL"], name)
            atexit.register(services.drop_database, os.environ["DATABASE_URL"], name)
        else:
            folder = tempfile.mkdtemp(prefix="live-template-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            url = f"sqlite:///{folder}/template.sqlite3"
        template_env = {**os.environ, "DEBUG": "true", "DATABASE_URL": url}
        template_env.pop("DJANGO_SETTINGS_MODULE", None)
        for command in (("migrate", "--noinput"), ("seed_demo",)):
            output = manage(template_env, *command)
            secret_scan.record("captured output", output, f"manage.py {' '.join(command)}")
        _template_url = url
    return _template_url


def _copy_sqlite(template_url: str, path: Path) -> None:
    source = sqlite3.connect(f"file:{template_url.removeprefix('sqlite:///')}?mode=ro", uri=True)
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _copy_postgres(template_url: str, name: str) -> None:
    """A new database `name` on the run's PostgreSQL, a copy of the template's.
    (CREATE DATABASE ... TEMPLATE needs the template without connections: only the
    finished `migrate` and `seed_demo` ever connected to it.)"""
    import psycopg

    template = template_url.rsplit("/", 1)[1]
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


_seeded: set[str] = set()  # databases made by seeded_database(): migrated and seeded


def seeded_database(server_url: str, name: str) -> str | None:
    """A database `name` for processes that share one (tests/processes/), a copy of the
    run's template, so that their first start has no `migrate` and `seed_demo` to run
    (~15 s a pair on a busy machine): its URL. None when `server_url` is not the run's own
    PostgreSQL (the template lives there); the caller then creates an empty database."""
    if not _on_postgres() or server_url != os.environ["DATABASE_URL"]:
        return None
    _copy_postgres(_template(), name)
    url = f"{server_url.rsplit('/', 1)[0]}/{name}"
    _seeded.add(url)
    return url


class LiveServer:
    def __init__(self, workdir: Path, **settings: str) -> None:
        self.port = services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log_path = workdir / f"daphne-{self.port}.log"
        self.own_database: str | None = None
        # Migrated and seeded at every start only on a database the test chose (unless it
        # is a copy of the template already).
        self.migrate_at_start = settings.get("DATABASE_URL", "") not in _seeded | {""}
        backends = {"DATABASE_URL": f"sqlite:///{workdir / 'live.sqlite3'}"}
        if not self.migrate_at_start and _on_postgres():
            self.own_database = f"live_{uuid.uuid4().hex[:10]}"
            base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
            backends["DATABASE_URL"] = f"{base}/{self.own_database}"
            if os.environ.get("REDIS_URL"):
                backends["REDIS_URL"] = services.with_redis_db(
                    os.environ["REDIS_URL"], next(_redis_dbs)
                )
                services.flush_redis(backends["REDIS_URL"])
        self.env = {
            **os.environ,
            "DEBUG": "true",
            "SANDBOX_WORDS_PER_SECOND": "40",
            "LOG_LEVEL": "INFO",
            # A served process outlives many tests' creates: the account's spend caps
            # (sessions/services/spend.py) are off unless a test sets its own.
            "SPEND_MINUTES_PER_DAY": "0",
            "SPEND_MINUTES_PER_MONTH": "0",
            **backends,
            **settings,
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        if self.own_database is not None:
            _copy_postgres(_template(), self.own_database)
        elif not self.migrate_at_start:
            _copy_sqlite(_template(), workdir / "live.sqlite3")
        self.process: subprocess.Popen | None = None
        # Its responses, its log and the secrets it is handed are the secret scan's too.
        secret_scan.watch_server(self, settings)

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Read the served process's database (placeholders `%s`) while it serves."""
        url = self.env["DATABASE_URL"]
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                return db.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                db.close()
        import psycopg

        with psycopg.connect(url) as db:
            # Without parameters psycopg leaves the text alone (a LIKE 'x%' stays valid).
            return db.execute(sql, params or None).fetchall()

    def manage(self, *args: str) -> str:
        output = manage(self.env, *args)
        secret_scan.record("captured output", output, f"manage.py {' '.join(args)}")
        return output

    def start(self) -> LiveServer:
        # A restart migrates and seeds again, as `make run` does: the restart tests'
        # timings (tests/processes/test_crash_recovery.py) were set with that delay.
        if self.migrate_at_start or self.process is not None:
            self.manage("migrate", "--noinput")
            self.manage("seed_demo")
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            daphne_command(self.port),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=1).close()
                secret_scan.serving(self, True)
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("daphne did not start in 30 s")

    def kill(self) -> None:
        """kill -9: no goodbye, no cleanup, as in a crash."""
        assert self.process is not None
        secret_scan.serving(self, False)
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        secret_scan.serving(self, False)
        try:
            services.stop_process(self.process)
            if getattr(self, "_log", None):
                self._log.close()
            if self.own_database is not None:
                services.drop_database(os.environ["DATABASE_URL"], self.own_database)
                self.own_database = None
        finally:
            secret_scan.scan_server_log(self)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def process_pair(tmp_path_factory, label: str, **settings: str):
    """Two served processes sharing one PostgreSQL database (a seeded copy of the run's
    template when it can) and one emptied Redis database (counters per day or hour must
    start from nobody else's): on the run's own services when DATABASE_URL and REDIS_URL
    point at them, else on services started here, else the test is skipped. A generator
    for a module fixture: yields (a, b)."""
    workdir = tmp_path_factory.mktemp(label)
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")) and redis_url:
        yield from _pair_on(database_url, redis_url, workdir, label, settings)
    elif services.available():
        with services.running(install=False) as (redis, postgres):
            yield from _pair_on(postgres.url, redis.url, workdir, label, settings)
    else:
        pytest.skip("needs PostgreSQL and Redis (make test installs and starts them)")


def _pair_on(server_url: str, redis_url: str, workdir: Path, label: str, settings: dict):
    name = f"{label}_{uuid.uuid4().hex[:8]}"
    database_url = seeded_database(server_url, name) or services.create_database(server_url, name)
    redis_db = services.with_redis_db(redis_url, 1)
    services.flush_redis(redis_db)
    shared = {"DATABASE_URL": database_url, "REDIS_URL": redis_db, **settings}
    (workdir / "a").mkdir()
    (workdir / "b").mkdir()
    a, b = LiveServer(workdir / "a", **shared), LiveServer(workdir / "b", **shared)
    try:
        a.start()  # migrates the shared database (unless it is a seeded copy)
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()
        services.drop_database(server_url, name)
