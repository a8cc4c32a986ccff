"""Serve the site: daphne's server in this process, and this process's background loop.

`make run` uses it, and so does every end-to-end test (tests/support/live.py). Daphne's own
command line offers no start-up hook for the application; its `Server` does
(`ready_callable`, called once the reactor and its asyncio loop are set up, just before
they run), so the background loop (the process's presence beat and the reaper, see
sessions/services/reaper.py) starts with the server, before anyone connects.

SIGTERM or SIGINT (Twisted's handlers stop the reactor): the process stops listening and
closes its open websockets with 1012 "service restart" (the page's relay reconnects, to
another process if need be); their applications get `websocket.disconnect` and finish as
on any close (traffic counters, what the page forwarded, presence), within
`--application-close-timeout`. Only then is what is left cancelled (daphne's own
shutdown cancels every application at once, so no socket's `disconnect` would run). The
background loop is cancelled, and the command exits 0.
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
from daphne.ws_protocol import WebSocketProtocol
from django.core.management.base import BaseCommand
from twisted.internet import defer, reactor

from sessions.operations import collector
from sessions.services import reaper

log = logging.getLogger("avatarsite.serve")

# The close code of the sockets open when the server stops: "service restart", outside
# 4000-4999, so the page reconnects.
CLOSE_SERVICE_RESTART = 1012


class _Server(Server):
    """Daphne's server, keeping its listening ports so a shutdown can close them first,
    and closing its websockets before their applications are cancelled."""

    def run(self):
        self.ports = []
        super().run()

    def listen_success(self, port):
        self.ports.append(port)
        super().listen_success(port)

    def kill_all_applications(self) -> defer.Deferred:
        """Daphne's shutdown trigger: websockets first get a close, and their
        applications the disconnect and time to finish; then the rest is cancelled."""
        closed = defer.Deferred.fromFuture(asyncio.ensure_future(self._close_all()))
        closed.addErrback(lambda failure: log.error("closing the sockets failed: %s", failure))
        return closed

    async def _close_all(self) -> None:
        closing = [
            instance for protocol, instance in self._running() if self._close_socket(protocol)
        ]
        if closing:
            log.info("closing %d websocket(s)", len(closing))
            # The disconnect reaches each application when its connection is gone: at
            # the client's close reply, or autobahn's close handshake timeout.
            await asyncio.wait(closing, timeout=self.application_close_timeout)
        left = [instance for _, instance in self._running()]
        for instance in left:
            instance.cancel()
        if left:
            log.info("cancelled %d application instance(s)", len(left))
        await asyncio.gather(*left, return_exceptions=True)

    def _running(self) -> list[tuple[object, asyncio.Future]]:
        """The connections whose application instance is still running."""
        return [
            (protocol, instance)
            for protocol, details in list(self.connections.items())
            if (instance := details.get("application_instance")) is not None and not instance.done()
        ]

    @staticmethod
    def _close_socket(protocol: object) -> bool:
        """Close an open websocket (with `sendCloseFrame`, as daphne sends 1011: autobahn's
        `sendClose` takes only 1000 and 3000-4999). True for every websocket past its
        handshake, closing or closed already too: its application has or will have its
        disconnect, and is worth waiting for. A handshake in progress is cancelled."""
        if not isinstance(protocol, WebSocketProtocol):
            return False
        if protocol.state == protocol.STATE_OPEN:
            protocol.sendCloseFrame(code=CLOSE_SERVICE_RESTART, reasonUtf8=b"service restart")
        return protocol.state in (protocol.STATE_CLOSING, protocol.STATE_CLOSED)


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
            help="seconds a closed connection's application may take to finish (on shutdown too)",
        )
        parser.add_argument(
            "--app",
            default="avatarsite.asgi:application",
            help="the ASGI application, as module:attribute (to serve a variant)",
        )

    def handle(self, *args, **options) -> None:
        application = guarantee_single_callable(import_by_path(options["app"]))
        collector.tune_for_serving()  # all that is loaded now stays: out of the GC's walk
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
        phase: _Server.kill_all_applications) closes the websockets and waits for their
        applications. Twisted then drops what is left; the background loop ends in
        _finish."""
        log.info("shutting down")
        stops = [defer.maybeDeferred(port.stopListening) for port in self.server.ports]
        return defer.DeferredList(stops, consumeErrors=True)


# Rounds of tasks started by the ends of others, at most (a task that starts another at
# each end must not keep the process from stopping).
_FINISH_ROUNDS = 5


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """What asyncio.run does at its end, for the loop the reactor ran on: cancel the tasks
    still pending (the background loop, and those an application instance left behind
    when daphne cancelled it) and let them finish, rather than be collected half-run at
    exit (which crashed the interpreter now and then: SIGSEGV while collecting a pending
    `asyncio.Queue.get`). A task's end may start another (a socket's last turn timing
    waits for its timed write, services/write_behind.py): those are finished too."""
    for _ in range(_FINISH_ROUNDS):
        pending = asyncio.all_tasks(loop)
        if not pending:
            break
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
