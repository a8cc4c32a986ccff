"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "avatarsite.settings")
# Set up Django (apps, models) before importing anything that uses the ORM.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from avatarsite.routing import websocket_application  # noqa: E402
from sessions.services import reaper  # noqa: E402

router = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application})


async def application(scope, receive, send):
    # Any other ASGI server: the first connection starts this process's background loop
    # (its presence beat and the reaper).
    reaper.ensure_started()
    return await router(scope, receive, send)


# Daphne has no start-up hook for applications, but it runs Twisted on an asyncio loop
# it created before importing us: queue the background loop's start on that loop, so a
# restarted process beats and reaps even before anyone connects.
_daphne = sys.modules.get("daphne.server")
if _daphne is not None and hasattr(_daphne, "twisted_loop"):
    _daphne.twisted_loop.call_soon_threadsafe(reaper.ensure_started)
