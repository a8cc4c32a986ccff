"""Running the site as a service (issue 21): health and readiness probes, and the
Prometheus metrics (README "Operations")."""

from __future__ import annotations

import time

from sessions.operations import metrics
from sessions.operations.metrics import MeteredSocket

__all__ = ["PROCESS_STARTED", "MeteredSocket", "metrics"]

# When this process started, near enough: the first import of this package comes with the
# application's (the session socket's module imports metrics). Readiness waits three
# reaper intervals of uptime before it expects a reaper pass.
PROCESS_STARTED = time.monotonic()
