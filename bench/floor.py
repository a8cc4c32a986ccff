"""The framework's floor: what daphne and Channels cost with none of the product's work.

    python manage.py serve --app bench.floor:application      (PYTHONPATH reaches bench/)

bench/compare.py serves it beside the product under the same load, so that what the product
costs per chat can be read against what no product could go below on the same machine in
the same run (absolute figures move from run to run; the ratio holds better).

HTTP is the product's own Django app, so sessions are created through `POST
/api/v1/sessions` exactly as for the product (and `manage.py serve` runs the process's
background loop as for the product). The websockets have the product's paths, but bare
consumers behind them: no auth, no database, no cache, no channel layer.

- `ws/sessions/<session_id>/`: accepts, says the session is active (what the bench waits
  for), and answers each chat with ONE `rtc_send` at once, carrying a frame shaped like the
  first frame of a real chat stream.
- `ws/sandbox/<channel>/`: accepts and drops what it receives. With `--shuttle` the floor
  carries the page's frames only: the avatar's speech, and the page forwarding it back, are
  the product's work (its sandbox avatar), not the framework's.
"""

from __future__ import annotations

import json
import os
import uuid

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "avatarsite.settings")
django_asgi_app = get_asgi_application()  # as avatarsite/asgi.py builds it

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

ACTIVE = json.dumps({"type": "session", "status": "active"})


class FloorSessionConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send(ACTIVE)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        message = json.loads(text_data or "{}")
        if message.get("type") != "chat":
            return
        frame = json.dumps(
            {
                "v": 2,
                "type": "chat",
                "mid": "msg-" + uuid.uuid4().hex[:16],
                "idx": 0,
                "fin": True,
                "pld": {"from": "user", "text": message.get("text", "")},
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )
        await self.send(json.dumps({"type": "rtc_send", "frame": frame}))


class FloorSandboxConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        pass  # the avatar's speech is the product's work


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                path("ws/sessions/<uuid:session_id>/", FloorSessionConsumer.as_asgi()),
                path("ws/sandbox/<str:channel>/", FloorSandboxConsumer.as_asgi()),
            ]
        ),
    }
)
