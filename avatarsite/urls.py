from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import LogoutView
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import path
from django.views.decorators.cache import cache_control, cache_page
from django.views.i18n import JavaScriptCatalog

from sessions import account, embed_views, views
from sessions.api import api
from sessions.signin import AdminSignInForm

# The admin's sign-in is throttled like the site's (sessions/signin.py).
admin.site.login_form = AdminSignInForm


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    # Browsers ask for /favicon.ico whatever a page links (the admin's pages link none of
    # their own): send them to the site's SVG icon. Not a permanent redirect: the icon's
    # static name changes with its content.
    return HttpResponseRedirect(static("img/favicon.svg"))


# The page's words for its scripts (static/js/i18n.js), in the request's language: only our
# own catalog (locale/), not every app's. Cached per language (cache_page keys on it), an
# hour in the browser too: the words change only with a deploy.
javascript_catalog = cache_control(max_age=3600)(
    cache_page(3600)(JavaScriptCatalog.as_view(packages=["sessions"]))
)

urlpatterns = [
    path("", views.avatar_page, name="avatar"),
    path("favicon.ico", favicon, name="favicon"),
    path("jsi18n/", javascript_catalog, name="javascript-catalog"),
    path("history/", views.history, name="history"),
    path("history/<uuid:session_id>/", views.history_detail, name="history-detail"),
    path("accounts/login/", views.SiteLoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    # A user's own data and account (issue 16).
    path("history/export/", views.export_history, name="history-export"),
    path("history/<uuid:session_id>/delete/", views.delete_transcript, name="history-delete"),
    path("accounts/", account.account, name="account"),
    path("accounts/delete/", account.delete_account, name="account-delete"),
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "accounts/password/reset/",
        account.ThrottledPasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # The embed (issue 20): our page in a website's iframe, and the script that puts it there.
    path("embed/<str:public_key>/", embed_views.embed_page, name="embed-page"),
    path("embed.js", embed_views.embed_script, name="embed-script"),
]
