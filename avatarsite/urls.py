from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import path
from django.views.decorators.cache import cache_control

from sessions import views
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


urlpatterns = [
    path("", views.avatar_page, name="avatar"),
    path("favicon.ico", favicon, name="favicon"),
    path("history/", views.history, name="history"),
    path("history/<uuid:session_id>/", views.history_detail, name="history-detail"),
    path("accounts/login/", views.SiteLoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
