from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import path

from sessions import views
from sessions.api import api
from sessions.signin import AdminSignInForm

# The admin's sign-in is throttled like the site's (sessions/signin.py).
admin.site.login_form = AdminSignInForm

urlpatterns = [
    path("", views.avatar_page, name="avatar"),
    path("history/", views.history, name="history"),
    path("history/<uuid:session_id>/", views.history_detail, name="history-detail"),
    path("accounts/login/", views.SiteLoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
