"""`make serve`: the production start in one command.

Checks that several workers would share their state (PostgreSQL and Redis), applies the
migrations once and collects the static files, prints the reverse proxy's configuration,
then supervises the workers (sessions/workers.py): SIGTERM drains them all, SIGHUP restarts
them one at a time.
"""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from sessions import workers


def shared_state_problem() -> str | None:
    """Why several workers could not share their state on these settings, if they could not."""
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        return (
            "the database is the embedded SQLite file: set DATABASE_URL to PostgreSQL "
            "(several processes writing one SQLite file wait on each other's locks)"
        )
    if not settings.REDIS_URL:
        return (
            "REDIS_URL is not set: each worker would keep its own cache and channel layer, "
            "so limits, presence and messages between a session's sockets would not be shared"
        )
    return None


class Command(BaseCommand):
    help = (
        "Serve the site with N workers (`manage.py serve`) on consecutive ports, each "
        "restarted if it dies; SIGTERM drains them, SIGHUP restarts them one at a time."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address the workers listen on")
        parser.add_argument("--port", type=int, default=8000, help="the first worker's port")
        parser.add_argument(
            "--workers", type=int, default=0, help="how many workers (default: one per core)"
        )
        parser.add_argument(
            "--drain-timeout",
            type=float,
            default=30.0,
            help="seconds a worker may take to drain its sockets before it is killed",
        )

    def handle(self, *args, **options) -> None:
        count = options["workers"] or os.cpu_count() or 1
        if count < 1:
            raise CommandError(f"--workers takes a number of workers above 0, not {count}")
        if count > 1 and (problem := shared_state_problem()):
            raise CommandError(
                f"{count} workers need PostgreSQL and Redis to share their state, but {problem}. "
                "Set both, or run one worker (WORKERS=1)."
            )
        ports = [options["port"] + i for i in range(count)]
        call_command("migrate", interactive=False, verbosity=0)
        if not settings.DEBUG:  # the manifest storage serves only collected files
            call_command("collectstatic", interactive=False, verbosity=0)
        connections.close_all()  # the supervisor itself needs no database from here on
        self.stdout.write(
            f"Supervisor pid {os.getpid()}: {count} worker(s) on {options['host']} ports "
            f"{ports[0]}-{ports[-1]}. `kill -HUP {os.getpid()}` restarts them one at a time; "
            f"`kill -TERM {os.getpid()}` drains and stops them.\n\n"
            "The reverse proxy in front of them (nginx; not installed):\n\n"
            f"{workers.proxy_config(options['host'], ports)}\n"
        )
        self.stdout.flush()
        supervisor = workers.Supervisor(
            options["host"],
            ports,
            drain_timeout=options["drain_timeout"],
            say=lambda line: print(f"serve_workers: {line}", file=sys.stderr, flush=True),
        )
        sys.exit(supervisor.run())
