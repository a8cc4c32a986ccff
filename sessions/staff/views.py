"""Staff pages beside the admin's own: usage, the live view of a session, closing one
session, and the catalog import.

sessions/admin.py mounts each of these under /admin/ (ModelAdmin.get_urls), so every one
runs behind admin_view (a signed-in, active staff user; anyone else is sent to the admin's
sign-in) and then checks its own Django permission, answering 403 without it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from sessions import display, errors
from sessions.embed_models import EmbedKey
from sessions.models import AvatarSession, CloseReason, Status
from sessions.providers import ProviderError, get_provider
from sessions.providers.base import CatalogLanguage
from sessions.services import catalog, embeds, lifecycle, spend, staff_actions
from sessions.services.catalog_sync import SyncResult, sync_catalog
from sessions.staff import usage

USAGE_PERMISSION = "avatar_sessions.view_usage"
# The import creates and refreshes presets of both kinds, and knowledge bases.
CATALOG_PERMISSIONS = (
    "avatar_sessions.add_avatarpreset",
    "avatar_sessions.change_avatarpreset",
    "avatar_sessions.add_voicepreset",
    "avatar_sessions.change_voicepreset",
    "avatar_sessions.add_knowledgebase",
    "avatar_sessions.change_knowledgebase",
)
USAGE_RANGES = (7, 30, 90, 365)


# --- Usage ------------------------------------------------------------------------------


class UsageRange(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, last = usage.FIRST_DAY, usage.LAST_DAY
        for day in (data.get("start"), data.get("end")):
            if day is not None and not first <= day <= last:
                raise forms.ValidationError(
                    _("Pick days from %(first)s to %(last)s.") % {"first": first, "last": last}
                )
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or max(first, end - timedelta(days=29))
        if start > end:
            raise forms.ValidationError(_("The first day must not be after the last."))
        if (end - start).days + 1 > usage.MAX_DAYS:
            raise forms.ValidationError(_("Pick at most %(days)d days.") % {"days": usage.MAX_DAYS})
        data.update(start=start, end=end)
        return data


def usage_page(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    if not request.user.has_perm(USAGE_PERMISSION):
        raise PermissionDenied
    form = UsageRange(request.GET or None)
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        end = timezone.localdate()
        start = end - timedelta(days=29)
    if not form.is_bound:
        form = UsageRange(initial={"start": start, "end": end})
    report = usage.report(start, end) if not form.errors else None
    today = timezone.localdate()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Usage",
        "form": form,
        "report": report,
        "ranges": [
            {"days": days, "start": today - timedelta(days=days - 1), "end": today}
            for days in USAGE_RANGES
        ],
        "audit_url": reverse("admin:avatar_sessions_avatarsession_changelist"),
        "can_audit": model_admin.has_view_permission(request),
        "range_query": _range_query(start, end),
        "spending": [spend_words(figure) for figure in spend.figures()],
        # Each website's embed key: today's and this month's, against its own daily cap.
        "embed_usage": [(key, embeds.usage(key)) for key in EmbedKey.objects.all()],
    }
    return TemplateResponse(request, "staff/usage.html", context)


def spend_words(figure: spend.Figure) -> str:
    """Today's or this month's reserved minutes against its cap, as one sentence."""
    start, used, cap, percent = (
        figure.period.start,
        figure.minutes,
        figure.period.cap,
        # "18 %", as the usage tables write it; none without a cap
        "" if figure.percent is None else display.percent(figure.percent),
    )
    words = {"start": start, "used": used, "cap": cap, "percent": percent}
    if figure.period.name == "day":
        if cap:
            text = _("Today (UTC, %(start)s): %(used)d of %(cap)d minutes reserved (%(percent)s).")
        else:
            text = _("Today (UTC, %(start)s): %(used)d minutes reserved; no daily cap.")
    elif cap:
        text = _(
            "This month (UTC, from %(start)s): %(used)d of %(cap)d minutes reserved (%(percent)s)."
        )
    else:
        text = _("This month (UTC, from %(start)s): %(used)d minutes reserved; no monthly cap.")
    return text % words


def _preset_name(session: AvatarSession) -> str:
    """The preset's name, as staff know it (its slug once the preset is gone)."""
    return display.preset_name(session) or session.avatar_id


def _range_query(start: date, end: date) -> str:
    """The audit list's filter for the same days, as its own date filter writes it."""
    low, high = usage.window(start, end)
    return urlencode({"created_at__gte": str(low), "created_at__lt": str(high)})


# --- Live view ----------------------------------------------------------------------------


def live_page(request: HttpRequest, model_admin: admin.ModelAdmin, object_id: str) -> HttpResponse:
    session = get_object_or_404(
        AvatarSession.objects.select_related("owner", "preset"), pk=object_id
    )
    if not model_admin.has_view_permission(request, session):
        raise PermissionDenied
    audit_url = reverse("admin:avatar_sessions_avatarsession_change", args=[session.pk])
    if session.status != Status.ACTIVE:
        messages.info(request, "That session is not live any more: here is its record.")
        return HttpResponseRedirect(audit_url)
    owner = session.owner.get_username() if session.owner else "an anonymous visitor"
    staff_actions.record(
        request.user,
        staff_actions.Kind.WATCH,
        f"Opened the live view of session {session.pk}.",
        session=session,
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": _("Live: %(preset)s with %(owner)s")
        % {"preset": _preset_name(session), "owner": owner},
        "session": session,
        "owner": owner,
        "audit_url": audit_url,
        "live_config": {
            "sessionId": str(session.pk),
            "wsPath": session.ws_path,
            "owner": owner,
            "status": session.status,
            "expiresAt": session.expires_at.isoformat() if session.expires_at else None,
            "auditUrl": audit_url,
            "closeReasons": dict(CloseReason.choices),
            "statusNames": display.status_names(),
        },
    }
    return TemplateResponse(request, "staff/live.html", context)


# --- Closing one session ---------------------------------------------------------------


def close_sessions(request: HttpRequest, sessions: Any, *, via: str) -> None:
    """Close each live session of `sessions` with reason "admin", telling staff how it went
    (`via`: "page" or "action", for the staff action log)."""
    closed, failed = 0, 0
    for session in sessions:
        if session.status not in (Status.STARTING, Status.ACTIVE, Status.CLOSING):
            continue
        try:
            async_to_sync(lifecycle.close_session)(session.pk, CloseReason.ADMIN)
            closed += 1
            outcome = "ended"
        except errors.DomainError as exc:
            failed += 1
            messages.error(request, f"{session.pk}: {exc.message}")
            outcome = "not confirmed yet"
        staff_actions.record(
            request.user,
            staff_actions.Kind.CLOSE,
            f"Ended session {session.pk} ({outcome}).",
            session=session,
            via=via,
            outcome=outcome,
        )
    if not closed and not failed:
        messages.warning(request, "None of those sessions was live: nothing to end.")
    elif failed:
        retries = "it" if failed == 1 else "them"
        not_yet = f"could not be ended yet (the reaper retries {retries})"
        if closed:
            said = f"{ended_words(closed)}; {failed} {not_yet}."
        else:
            said = f"{failed} session{'' if failed == 1 else 's'} {not_yet}."
        messages.warning(request, said)
    else:
        messages.success(request, f"{ended_words(closed)}.")


def ended_words(count: int) -> str:
    return f"Ended {count} session" + ("" if count == 1 else "s")


@require_POST
def close_one(request: HttpRequest, model_admin: admin.ModelAdmin, object_id: str) -> HttpResponse:
    session = get_object_or_404(AvatarSession, pk=object_id)
    if not model_admin.has_change_permission(request, session):
        raise PermissionDenied
    close_sessions(request, [session], via="page")
    return HttpResponseRedirect(
        reverse("admin:avatar_sessions_avatarsession_change", args=[session.pk])
    )


# --- Catalog import ---------------------------------------------------------------------


def can_import(request: HttpRequest) -> bool:
    return request.user.has_perms(CATALOG_PERMISSIONS)


def catalog_source() -> str:
    return "AKool" if get_provider().name == "akool" else "sandbox"


async def _import() -> tuple[SyncResult, list[CatalogLanguage] | None, str]:
    result = await sync_catalog()
    try:
        languages: list[CatalogLanguage] | None = await get_provider().list_languages()
        problem = ""
    except ProviderError as exc:
        languages, problem = None, exc.message
    return result, languages, problem


def languages_note(languages: list[CatalogLanguage]) -> str:
    """What the upstream offers compared with the languages the site lets sessions use."""
    offered = ", ".join(f"{lang.name} ({lang.code})" for lang in languages) or "none"
    missing = sorted({lang.code for lang in languages} - set(catalog.KNOWN_LANGUAGES))
    note = f"Languages offered upstream: {offered}."
    if missing:
        note += f" Not offered on this site yet: {', '.join(missing)}."
    return note


def run_import(request: HttpRequest) -> bool:
    """Import (or refresh) the catalog, telling staff the outcome. True when it worked."""
    source = catalog_source()
    try:
        result, languages, problem = async_to_sync(_import)()
    except ProviderError as exc:
        staff_actions.record(
            request.user,
            staff_actions.Kind.IMPORT,
            f"Tried to import the {source} catalog; it could not be fetched.",
            error=exc.message,
        )
        messages.error(request, f"The {source} catalog could not be fetched: {exc.message}")
        return False
    staff_actions.record(
        request.user, staff_actions.Kind.IMPORT, f"Imported the {source} catalog: {result}."
    )
    messages.success(request, f"Imported the {source} catalog: {result}.")
    if languages is not None:
        messages.info(request, languages_note(languages))
    else:
        messages.warning(request, f"The list of languages could not be fetched: {problem}")
    return True


@require_POST
def import_catalog(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    if not can_import(request):
        raise PermissionDenied
    run_import(request)
    opts = model_admin.model._meta
    return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
