"""Template filters for a session's values in words (the words live in sessions/display.py)."""

from __future__ import annotations

from django import template

from sessions import display

register = template.Library()


@register.filter
def status_name(status: str) -> str:
    """{{ session.status|status_name }}: "Live" for "active", "Ended" for "closed"."""
    return display.status_name(status)
