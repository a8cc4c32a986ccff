"""Serve the site: daphne's server in this process, and this process's background loop.

`make run` uses it, and so does every end-to-end test (tests/support/live.py). Daphne's own
command line offers no start-up hook for the application; its `Server` does
(`ready_callable`, called once the reactor and its asyncio loop are set up, just before
they run), so the background loop (the process's presence beat and the reaper, see
sessions/services/reaper.py) starts with the server, before anyone connects.

SIGTERM or SIGINT (Twisted's handlers stop the reactor): the process stops listening,
daphne cancels its connections' application instances and waits for them, the
connections are dropped (pages reconnect, to another process if need be), the background
loop is cancelled, and the command exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import sys

# daphne.server installs Twisted's asyncio reactor: import it before anything else
# imports twisted.internet.reactor.
from daphne.server import Server  # isort:skip

from asgiref.compatibility import guarantee_single_callable
from daphne.access import AccessLogGenerator
from daphne.endpoints import build_endpoint_description_strings
from daphne.utils import import_by_path
from django.core.management.base import BaseCommand
from twisted.internet import defer, reactor

from sessions.services import reaper

log = logging.getLogger("avatarsite.serve")


class _Server(Server):
    """Daphne's server, keeping its listening ports so a shutdown can close them first."""

    def run(self):
        self.ports = []
        super().run()

    def listen_success(self, port):
        self.ports.append(port)
        super().listen_success(port)


class Command(BaseCommand):
    help = (
        "Serve the site with daphne (HTTP and websockets) and run this process's "
        "background loop: its presence beat and the reaper."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on")
        parser.add_argument(
            "--websocket-max-message-size",
            type=int,
            default=65536,
            help="largest websocket message daphne accepts, in bytes",
        )
        parser.add_argument(
            "--application-close-timeout",
            type=float,
            default=10,
            help="seconds a closed connection's application may take to finish",
        )
        parser.add_argument(
            "--app",
            default="avatarsite.asgi:application",
            help="the ASGI application, as module:attribute (to serve a variant)",
        )

    def handle(self, *args, **options) -> None:
        application = guarantee_single_callable(import_by_path(options["app"]))
        access_log = AccessLogGenerator(sys.stdout) if options["verbosity"] >= 1 else None
        self.server = _Server(
            application=application,
            endpoints=build_endpoint_description_strings(
                host=options["host"], port=options["port"]
            ),
            websocket_max_message_size=options["websocket_max_message_size"],
            application_close_timeout=options["application_close_timeout"],
            action_logger=access_log,
            ready_callable=self._ready,
            signal_handlers=True,  # Twisted's: SIGTERM and SIGINT stop the reactor
        )
        self.server.run()
        _finish(asyncio.get_event_loop())
        if self.server.abort_start:
            sys.exit(1)  # daphne logged why (the port is taken, say)

    def _ready(self) -> None:
        # Daphne calls this once it listens, after setting its reactor's asyncio loop as
        # the current one and before running it: queue the start, which needs the
        # running loop.
        asyncio.get_event_loop().call_soon(reaper.ensure_started)
        reactor.addSystemEventTrigger("before", "shutdown", self._shutdown)
        for host, port in self.server.listening_addresses:
            self.stdout.write(f"Serving on http://{host}:{port}/")
        self.stdout.flush()

    def _shutdown(self) -> defer.Deferred:
        """Stop accepting connections while daphne's own trigger (added first, in the same
        phase) cancels the open connections' application instances and waits for them.
        Twisted then drops the connections; the background loop ends in _finish."""
        log.info("shutting down")
        stops = [defer.maybeDeferred(port.stopListening) for port in self.server.ports]
        return defer.DeferredList(stops, consumeErrors=True)


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """What asyncio.run does at its end, for the loop the reactor ran on: cancel the tasks
    still pending (the background loop, and those an application instance left behind
    when daphne cancelled it) and let them finish, rather than be collected half-run at
    exit (which crashed the interpreter now and then: SIGSEGV while collecting a pending
    `asyncio.Queue.get`)."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
