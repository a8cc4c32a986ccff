"""ASGI entry point: HTTP through Django, websockets through Channels.

`manage.py serve` serves it and starts this process's background loop (its presence beat
and the reaper) when the server starts. Under any other ASGI server (a bare `daphne`,
uvicorn), the first connection starts that loop instead: until then the process neither
beats nor reaps.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "avatarsite.settings")
# Set up Django (apps, models) before importing anything that uses the ORM.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from avatarsite.routing import websocket_application  # noqa: E402
from sessions.services import reaper  # noqa: E402

router = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application})


async def application(scope, receive, send):
    reaper.ensure_started()  # once per process; a no-op under `manage.py serve`
    return await router(scope, receive, send)
