"""The one page that shows a secret (a new API token, a webhook endpoint's signing
secret): rendered in the response to the action that made it, never put in a message
(messages travel in a cookie or the session store), never cached."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse


def shown_once(
    request: HttpRequest, admin_site: Any, model: Any, template: str, **context: Any
) -> TemplateResponse:
    opts = model._meta
    response = TemplateResponse(
        request,
        template,
        {
            **admin_site.each_context(request),
            "opts": opts,
            "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
            **context,
        },
    )
    response["Cache-Control"] = "no-store, private"
    return response
