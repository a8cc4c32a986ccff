"""Django's database sessions, remembering which key took the place of which.

Django gives a signed-in session a new key when someone signs in and when they change
their password (`update_session_auth_hash`). A socket opened before holds the old key;
with this record it follows its sign-in to the new key, so the sign-in that changed the
password keeps its sockets (services/revocation.py) as it keeps its HTTP requests.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.core.cache import cache

from sessions import keys


class SessionStore(DatabaseStore):
    def cycle_key(self) -> None:
        old = self.session_key
        super().cycle_key()
        if old:
            cache.set(keys.signin_successor(old), self.session_key, settings.SESSION_COOKIE_AGE)

    async def acycle_key(self) -> None:
        old = self.session_key
        await super().acycle_key()
        if old:
            await cache.aset(
                keys.signin_successor(old), self.session_key, settings.SESSION_COOKIE_AGE
            )
