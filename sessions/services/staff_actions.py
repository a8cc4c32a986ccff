"""Staff accountability: the one place that records what a staff member did with users'
data or the account's money (watched a live session, read a transcript, exported,
closed, minted or revoked a token, imported the catalog) as a StaffAction row.

Here rather than in sessions.staff because the observer socket (sessions.realtime)
records too, and nothing but the URLs and the admin may import sessions.staff.
Rows are only ever added; the admin shows them to superusers and lets nobody edit them.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async

from sessions.models import StaffAction

log = logging.getLogger("avatarsite.staff")

Kind = StaffAction.Kind


def record(actor: Any, kind: str, what: str, *, session: Any = None, **data: Any) -> None:
    """Record that `actor` (a user) did `what` (a sentence), on `session` (a session or
    its id) if one. What shows users' data records before showing it, so a record that
    cannot be written shows nothing."""
    name = actor.get_username()
    StaffAction.objects.create(
        actor=actor,
        actor_name=name[:150],
        kind=kind,
        what=what[:500],
        session_id_text=str(getattr(session, "pk", session) or ""),
        data=data,
    )
    log.info("staff action: %s: %s", name, what)


arecord = sync_to_async(record)
