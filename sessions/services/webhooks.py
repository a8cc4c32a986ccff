"""Outbound webhooks (README "Webhooks"): events for other backends, from a durable queue.

Where a session's state changes (sessions.services.lifecycle) one WebhookDelivery row is
written per endpoint that wants the event; nothing is sent in the request path. The
process that takes the webhook lock sends due rows every WEBHOOK_POLL_SECONDS (the
reaper's background loop), `manage.py send_webhooks` does one pass (cron). A row is claimed
atomically before it is sent (it becomes due again only when the claim runs out, as after
a crash mid-send), so two processes never send one attempt twice; a 2xx marks it delivered
and it is never sent again. Timeouts, connection errors, 408, 429 and 5xx are retried
with exponential backoff and jitter up to WEBHOOK_MAX_ATTEMPTS; any other answer fails
it at once. Endpoints follow the tools' URL rule (sessions.services.tool_urls: https to
public addresses, unless listed in TOOL_HTTP_HOSTS), checked on save and at every send.

Each POST is signed: ``X-Avatarsite-Signature: v1=<hex HMAC-SHA256(secret,
"<timestamp>.<body>")>`` with ``X-Avatarsite-Timestamp`` (receivers refuse one more than 5
minutes old) and ``X-Avatarsite-Delivery`` (the row's id: receivers drop repeats by it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from sessions import keys, shared_cache
from sessions.models import AvatarSession, SessionEvent, TranscriptEntry
from sessions.services import tool_urls
from sessions.webhook_models import WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger("avatarsite.webhooks")

EVENT_HEADER = "X-Avatarsite-Event"
DELIVERY_HEADER = "X-Avatarsite-Delivery"
TIMESTAMP_HEADER = "X-Avatarsite-Timestamp"
SIGNATURE_HEADER = "X-Avatarsite-Signature"
Status = WebhookDelivery.Status
BATCH = 20  # rows claimed (and sent at once) per round of a pass
CLAIM_MARGIN = 60.0  # seconds a claim outlives the timeout: then a crashed send is retried
MAX_BACKOFF = 3600.0


# --- events: the rows, written where the state changes ------------------------------
def _principal_kind(session: AvatarSession) -> str:
    if session.embed_key_id:
        return "embed"
    return {"user": "user", "token": "token"}.get(session.principal.split(":", 1)[0], "visitor")


def _started(session: AvatarSession) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "preset": session.preset_slug,
        "principal": _principal_kind(session),
        "created_at": session.created_at,
        "started_at": session.started_at,
        "duration_reserved_seconds": session.duration,
        "embed_key": session.embed_key.public_key if session.embed_key_id else None,
    }


def _closed(session: AvatarSession) -> dict[str, Any]:
    lines = TranscriptEntry.objects.filter(session_id=session.pk).exclude(text="")
    used = session.used_seconds or 0
    return {
        "id": str(session.id),
        "preset": session.preset_slug,
        "status": session.status,
        "reason": session.close_reason or None,
        "created_at": session.created_at,
        "started_at": session.started_at,
        "closed_at": session.closed_at,
        "minutes_reserved": round(session.duration / 60, 2),
        "minutes_used": round(used / 60, 2),
        "transcript": [
            {"role": line.role, "text": line.text, "at": line.created_at} for line in lines
        ],
    }


def _origin(session: AvatarSession) -> str | None:
    """The host page's origin, as the session's first state event recorded it."""
    data = (
        SessionEvent.objects.filter(session_id=session.pk, data__has_key="origin")
        .values_list("data", flat=True)
        .first()
    )
    return data.get("origin") if data else None


def _enqueue(session_id: Any, wanted: dict[str, Any]) -> int:
    """One row per endpoint that wants each event in `wanted` (event -> a function of the
    session making its data; called only when someone wants it)."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(active=True) if e.events]
    todo = {event: make for event, make in wanted.items() if any(e.wants(event) for e in endpoints)}
    if not todo:
        return 0
    session = AvatarSession.objects.select_related("embed_key").get(pk=session_id)
    rows = []
    for event, make in todo.items():
        data = json.loads(json.dumps(make(session), cls=DjangoJSONEncoder))
        rows += [
            WebhookDelivery(endpoint=e, event=event, session_id_text=str(session.pk), payload=data)
            for e in endpoints
            if e.wants(event)
        ]
    WebhookDelivery.objects.bulk_create(rows)
    return len(rows)


def _embed_closed(session: AvatarSession) -> dict[str, Any]:
    return {
        **_closed(session),
        "embed_key": session.embed_key.public_key,
        "origin": _origin(session),
    }


@sync_to_async
def _enqueue_quietly(session_id: Any, wanted: dict[str, Any], origin: str | None = None) -> None:
    """Never raises: called inside the state change, which must not fail for this."""
    try:
        if origin is not None:
            SessionEvent.objects.create(
                session_id=session_id,
                kind=SessionEvent.Kind.INFO,
                message="started on a website",
                data={"origin": origin},
            )
        _enqueue(session_id, wanted)
    except Exception:
        # The session's own state is what matters to its user: a queue failure is logged.
        log.exception("webhooks: could not queue %s for session %s", list(wanted), session_id)


async def session_started(session: AvatarSession, principal: Any) -> None:
    """The session became active. A website's: its host page's origin is kept in the
    session's event log, for its embed.session.closed."""
    origin = principal.embed.origin if principal.embed is not None else None
    await _enqueue_quietly(session.pk, {WebhookEvent.SESSION_STARTED: _started}, origin)


async def session_closed(session: AvatarSession) -> None:
    """The session closed (or failed): `session.closed`, and for a session of an embed
    key `embed.session.closed` too."""
    wanted: dict[str, Any] = {WebhookEvent.SESSION_CLOSED: _closed}
    if session.embed_key_id:
        wanted[WebhookEvent.EMBED_SESSION_CLOSED] = _embed_closed
    await _enqueue_quietly(session.pk, wanted)


def resend(delivery: WebhookDelivery) -> WebhookDelivery:
    """Staff's re-send: a new delivery (a new id, so the receiver takes it) of the same
    event and data."""
    return WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        event=delivery.event,
        session_id_text=delivery.session_id_text,
        payload=delivery.payload,
    )


# --- signing and the body ------------------------------------------------------------
def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: what a receiver recomputes with its secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def body(delivery: WebhookDelivery) -> bytes:
    envelope = {
        "event": delivery.event,
        "delivery": str(delivery.id),
        "created_at": delivery.created_at,
        "data": delivery.payload,
    }
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False).encode()


# --- sending -----------------------------------------------------------------------
def _claim(limit: int) -> list[WebhookDelivery]:
    """Due rows, each taken by one process only: its attempt counted and its due time
    moved past the attempt's end (a send that never reports back is retried then)."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
    claim = {
        "next_attempt_at": now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + CLAIM_MARGIN),
        "attempts": F("attempts") + 1,
    }
    if connection.features.has_select_for_update_skip_locked:  # PostgreSQL
        with transaction.atomic():
            rows = due.select_for_update(skip_locked=True).order_by("next_attempt_at")
            ids = list(rows.values_list("pk", flat=True)[:limit])
            WebhookDelivery.objects.filter(pk__in=ids).update(**claim)
    else:  # SQLite: a conditional update per row, which only one writer can win
        ids = []
        candidates = due.order_by("next_attempt_at").values_list("pk", "next_attempt_at")
        for pk, at in list(candidates[:limit]):
            taken = WebhookDelivery.objects.filter(
                pk=pk, status=Status.PENDING, next_attempt_at=at
            ).update(**claim)
            if taken:
                ids.append(pk)
    return list(WebhookDelivery.objects.filter(pk__in=ids).select_related("endpoint"))


@dataclass
class Outcome:
    delivered: bool = False
    retry: bool = False
    status_code: int | None = None
    error: str = ""


def _backoff(attempts: int) -> float:
    delay = min(settings.WEBHOOK_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
    return delay * random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not a secret


def _record(delivery: WebhookDelivery, outcome: Outcome) -> str:
    now = timezone.now()
    fields: dict[str, Any] = {
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:200],
    }
    if outcome.delivered:
        fields.update(status=Status.DELIVERED, delivered_at=now)
    elif outcome.retry and delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        fields["next_attempt_at"] = now + timedelta(seconds=_backoff(delivery.attempts))
    else:
        fields["status"] = Status.FAILED
    # Only a row still pending: a delivered one stays delivered, whatever a late report says.
    WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(**fields)
    return fields.get("status", "retry")


def _answered(code: int) -> Outcome:
    if 200 <= code < 300:
        return Outcome(delivered=True, status_code=code)
    retry = code in (408, 429) or code >= 500
    return Outcome(retry=retry, status_code=code, error=f"HTTP {code}")


async def _post(delivery: WebhookDelivery) -> Outcome:
    endpoint = delivery.endpoint
    if not endpoint.active:
        return Outcome(error="The endpoint is turned off.")
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    try:
        target = await asyncio.to_thread(tool_urls.resolve, endpoint.url)
        data, stamp = body(delivery), str(int(time.time()))
        default_port = 443 if target.scheme == "https" else 80
        headers = {
            "Content-Type": "application/json",
            "Host": target.host if target.port == default_port else f"{target.host}:{target.port}",
            "User-Agent": "avatarsite-webhooks",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.id),
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(endpoint.secret, stamp, data),
        }
        address = f"[{target.address}]" if ":" in target.address else target.address
        # The checked address, not the name: a second lookup could answer differently.
        url = f"{target.scheme}://{address}:{target.port}{target.path}"
        sni = {"sni_hostname": target.host} if target.scheme == "https" else {}
        async with httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=False) as c:
            request = c.build_request("POST", url, content=data, headers=headers, extensions=sni)
            response = await asyncio.wait_for(c.send(request), timeout=timeout)
            await response.aclose()
    except tool_urls.UrlRefused as exc:
        return Outcome(retry=True, error=str(exc))
    except (asyncio.TimeoutError, httpx.TimeoutException):
        return Outcome(retry=True, error=f"No answer within {timeout:g} s.")
    except httpx.HTTPError as exc:
        return Outcome(retry=True, error=f"Could not connect ({type(exc).__name__}).")
    return _answered(response.status_code)


async def _deliver(delivery: WebhookDelivery) -> str:
    try:
        outcome = await _post(delivery)
    except Exception as exc:
        log.exception("webhooks: delivery %s failed unexpectedly", delivery.pk)
        outcome = Outcome(retry=True, error=f"Unexpected error ({type(exc).__name__}).")
    result = await sync_to_async(_record)(delivery, outcome)
    # The endpoint by id: its URL may carry a receiver's token.
    log.info(
        "webhooks: %s %s to endpoint %s, attempt %d: %s %s",
        delivery.event,
        delivery.pk,
        delivery.endpoint_id,
        delivery.attempts,
        result,
        outcome.error,
    )
    return result


async def send_due(*, rounds: int = 1) -> dict[str, int]:
    """One pass: up to `rounds` rounds of BATCH due deliveries, each round's sent at once.
    Returns how many were delivered, will be retried, failed."""
    counts = {"delivered": 0, "retry": 0, "failed": 0}
    for _ in range(rounds):
        claimed = await sync_to_async(_claim)(BATCH)
        for result in await asyncio.gather(*(_deliver(d) for d in claimed)):
            counts[result] += 1
        if not claimed:  # none due, or all taken by another sender
            break
    return counts


async def locked_pass(interval: float) -> None:
    """The background loop's pass: one process per interval (the lock), the others skip."""
    try:
        if await shared_cache.add(keys.WEBHOOK_LOCK, 1, timeout=max(1, int(interval * 0.9))):
            await send_due()
    except Exception:
        log.exception("webhook pass failed")
