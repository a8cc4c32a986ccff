"""Staff tools in the admin: presets (with the catalog import), API tokens, and the
read-only session audit (filters, the session page with its transcript, event log and
timings, exports, closing live sessions), plus the usage page and the live view.

Every page and action stays within the user's Django permissions:
- presets and tokens: the model's own view/add/change permissions;
- the catalog import: add and change on both avatar and voice presets;
- the audit, its exports and the live view: view on avatar sessions;
- closing sessions: change on avatar sessions;
- usage: `avatar_sessions.view_usage`.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy

# Imported for their @admin.register: presets, the session audit, API tokens, and the
# staff action log with the spend alerts.
from sessions.staff import admin_log, admin_presets, admin_sessions, admin_tokens  # noqa: F401

# Knowledge bases (issue 18), registered like the rest.
from sessions.staff import admin_knowledge  # noqa: F401, E402  isort: skip

admin.site.site_header = "avatarsite staff"
admin.site.site_title = "avatarsite staff"
admin.site.index_title = gettext_lazy("Staff tools")
# The staff bar (templates/admin/base_site.html) is the navigation; the sidebar would
# only take the width the audit's columns need.
admin.site.enable_nav_sidebar = False

# Embed keys (issue 20): the websites that show the avatar.
from sessions.staff import admin_embeds  # noqa: F401, E402  isort: skip

# Outbound webhooks (issue 21): endpoints and their deliveries.
from sessions.staff import admin_webhooks  # noqa: F401, E402  isort: skip
