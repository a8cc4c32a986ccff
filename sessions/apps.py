from django.apps import AppConfig


class AvatarSessionsConfig(AppConfig):
    # The label must differ from django.contrib.sessions' "sessions".
    name = "sessions"
    label = "avatar_sessions"
    verbose_name = "Avatar sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sessions.services import revocation  # noqa: F401  (connects its signal receivers)
