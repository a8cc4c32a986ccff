"""A session's statuses and the reasons it ends: their one home (sessions.models names
them too, for the code that reads them beside the models)."""

from django.db import models


class Status(models.TextChoices):
    STARTING = "starting"
    ACTIVE = "active"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"


LIVE_STATUSES = (Status.STARTING, Status.ACTIVE, Status.CLOSING)


class CloseReason(models.TextChoices):
    """Why a session ended: the same words on the page, in History, the admin and the API."""

    USER = "user", "ended by the user"
    PAGE_CLOSED = "page_closed", "the page was closed"
    ABANDONED = "abandoned", "no page was connected"
    EXPIRED = "expired", "its time was up"
    ADMIN = "admin", "ended by staff"
    ERROR = "error", "an error"
    UPSTREAM = "upstream", "ended by the avatar service"
    CRASHED = "crashed", "our server stopped"
    EXTENDED = "extended", "it went on in a follow-on session"
    REVOKED = "revoked", "the website's embed key was turned off"
