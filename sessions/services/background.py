"""Work that runs after the request or the socket message that started it."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

_background: set[asyncio.Task] = set()  # referenced until done, or the loop may drop them


def in_background(coro: Any) -> asyncio.Task:
    """Run a coroutine after the current request is done, in an empty context: Django
    runs each request in its own thread-sensitive context whose executor is shut down when
    the request ends, and a task that inherited it could no longer reach the database."""
    loop = asyncio.get_running_loop()
    task = contextvars.Context().run(loop.create_task, coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task
