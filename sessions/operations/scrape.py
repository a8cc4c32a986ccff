"""GET /metrics: the Prometheus text format, for every worker process at once
(sessions/operations/metrics.py), plus the live sessions read from the database now.

Who may read it: with METRICS_TOKEN set, only a request with `Authorization: Bearer
<METRICS_TOKEN>` (401 otherwise); without one, anyone in development (DEBUG), else only a
scraper on this machine (loopback, and not forwarded by a proxy: a proxy on this machine
connects from loopback on a visitor's behalf) (403 otherwise). Refusals are in the API's
error shape.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from sessions.api.http_errors import error_response
from sessions.models import AvatarSession
from sessions.operations import metrics
from sessions.states import LIVE_STATUSES

log = logging.getLogger("avatarsite.metrics")


class LiveSessions:
    """Live sessions by provider and status: one grouped count from the database at
    scrape time (the database is every process's, so no worker adds it up)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "avatarsite_sessions_live",
            "Sessions starting, active or closing now, by provider and status.",
            labels=["provider", "status"],
        )
        rows = (
            AvatarSession.objects.filter(status__in=LIVE_STATUSES)
            .values_list("provider", "status")
            .annotate(n=Count("id"))
            .order_by()
        )
        try:
            rows = list(rows)
        except DatabaseError:
            # The database is down (/readyz says so): the other metrics still matter most.
            log.warning("metrics: live sessions could not be read from the database")
            return
        for provider, status, count in rows:
            family.add_metric([provider, status], count)
        yield family


def _registry() -> CollectorRegistry:
    if metrics.MULTIPROC_DIR:
        # A fresh registry per scrape, as the client library's multiprocess mode wants.
        registry = CollectorRegistry()
        metrics.forget_dead_processes()
        MultiProcessCollector(registry, path=metrics.MULTIPROC_DIR)
    else:
        registry = CollectorRegistry()
        registry.register(_ThisProcess())
    registry.register(LiveSessions())
    return registry


class _ThisProcess:
    """The default registry's metrics (this process's), beside LiveSessions without
    registering it in the default registry for good."""

    def collect(self):
        return REGISTRY.collect()


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        response = error_response(
            401, "not_authenticated", _("Send the metrics token as a Bearer authorization.")
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if settings.DEBUG or _from_this_machine(request):
        return None
    return error_response(
        403, "forbidden", _("Metrics are served only to this machine unless a token is set.")
    )


def _from_this_machine(request: HttpRequest) -> bool:
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
