"""The app with Channels' own consumer dispatch (a database-connection check before every
message) instead of sessions.sockets.QuietSocket's (one check every few seconds per
process): `python bench/load.py --app bench.stock_dispatch:application` measures what the
override is worth (the figures are in sessions/sockets.py)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "avatarsite.settings")

from avatarsite.asgi import application  # noqa: E402
from sessions import sockets  # noqa: E402

del sockets.QuietSocket.dispatch  # back to channels.consumer.AsyncConsumer.dispatch

__all__ = ["application"]
