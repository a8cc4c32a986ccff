"""Django's admin autodiscovery imports `<app>.admin`: the staff tools live in staff/."""

from sessions.staff import admin  # noqa: F401
