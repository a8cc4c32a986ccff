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

# The keys of a record's data that say whose (a user's id, and what they named a token):
# never the owner's name in `what`, so that deleting the account can take these away.
ABOUT_USER = ("owner", "name")


def about_user(user: Any, **details: Any) -> dict[str, Any]:
    """A record's data naming a user (and details only they gave): by id, scrubbed by
    `forget_user` when their account goes."""
    return {"owner": user.pk, **details}


def forget_user(user_id: int) -> int:
    """Account deletion: no staff record keeps who the user was (their id, their token's
    names); what was done, by whom and when stays. Returns how many records changed."""
    rows = StaffAction.objects.filter(data__owner=user_id)
    for action in rows:
        action.data = {k: v for k, v in action.data.items() if k not in ABOUT_USER}
        action.save(update_fields=["data"])
    return len(rows)
