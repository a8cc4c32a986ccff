"""Which query-string filters staff may use: the one home of that rule.

Django's admin lets any lookup on a model's own fields through the query string
(`?rtc__token__regex=^ab`): a pattern over a field answers "does any row match?", and
that bisects any value, a session's join credentials or a token's hash included, out of
a list that never shows it. So only the filters an admin declares are accepted:

- each of its `list_filter` fields (and its `date_hierarchy`), with the suffixes Django's
  own list filters write: equality and null, and ranges and parts of a date on a date
  field; never a pattern;
- each of its SimpleListFilter parameters, as they are;
- its `extra_lookups` (e.g. `id__exact` for one session's export), exactly.

Everything else is refused (a 400 from the changelist, its exports and its actions).
The search box (`q`) is not a lookup: it searches the admin's declared `search_fields`,
none of which holds a secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin import SimpleListFilter
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpResponseBadRequest

REFUSED = "Those filters are not valid: only the list's own filters may be used, with their values."
# What Django's list filters and date hierarchy put in the query string: equality and
# null on any declared field, ranges and parts of a date on a date field only.
FILTER_SUFFIXES = frozenset({"exact", "isnull"})
DATE_SUFFIXES = frozenset({"gte", "lt", "year", "month", "day"})
# A relation filter names the related row by its key: `owner__id__exact`.
KEY_PARTS = ("id", "pk")


def _declared(list_filter: Iterable[Any], date_hierarchy: str | None) -> tuple[set, set]:
    """(field paths, exact parameter names) of an admin's declared filters."""
    paths, names = set(), set()
    for item in list_filter:
        if isinstance(item, type) and issubclass(item, SimpleListFilter):
            names.add(item.parameter_name)
        elif isinstance(item, (list, tuple)):
            paths.add(item[0])
        else:
            paths.add(item)
    if date_hierarchy:
        paths.add(date_hierarchy)
    return paths, names


def _is_date(model: Any, path: str) -> bool:
    try:
        return isinstance(model._meta.get_field(path), models.DateField)
    except FieldDoesNotExist:
        return False


def allowed(model_admin: Any, lookup: str, request: Any = None) -> bool:
    """May staff filter `model_admin`'s list (and its exports) by `lookup`?"""
    list_filter = (
        model_admin.get_list_filter(request) if request is not None else model_admin.list_filter
    )
    paths, names = _declared(list_filter, model_admin.date_hierarchy)
    if lookup in names or lookup in getattr(model_admin, "extra_lookups", ()):
        return True
    path, _, suffix = lookup.rpartition(LOOKUP_SEP)
    if suffix in DATE_SUFFIXES:
        return path in paths and _is_date(model_admin.model, path)
    if suffix not in FILTER_SUFFIXES:
        return False
    head, _, last = path.rpartition(LOOKUP_SEP)
    return path in paths or (last in KEY_PARTS and head in paths)


class DeclaredFiltersOnly:
    """ModelAdmin mixin: only the declared filters may come from the query string."""

    def lookup_allowed(self, lookup: str, value: Any, request: Any = None) -> bool:
        return allowed(self, lookup, request)

    def changelist_view(self, request: Any, extra_context: Any = None) -> Any:
        # Django answers a refused lookup with its bare 400 page; say what was wrong.
        try:
            return super().changelist_view(request, extra_context)  # type: ignore[misc]
        except DisallowedModelAdminLookup:
            return HttpResponseBadRequest(REFUSED, content_type="text/plain; charset=utf-8")
