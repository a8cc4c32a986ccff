"""Demo presets and accounts for `make run`. Safe to run again: nothing is duplicated
and nothing staff changed is overwritten."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from sessions.models import AvatarPreset, VoicePreset

DEMO_USER = ("demo", "demo-password")
# So "Forgot your password?" works in `make run` (the mail goes to the console there).
DEMO_EMAIL = "demo@example.com"
DEMO_STAFF = ("admin", "admin-password")

VOICES = [
    ("warm", "Warm", "sandbox_voice_warm", "en", "female"),
    ("calm", "Calm", "sandbox_voice_calm", "en", "male"),
    ("bright", "Bright", "sandbox_voice_bright", "en", "female"),
    ("lyon", "Lyon", "sandbox_voice_lyon", "fr", "male"),
]
AVATARS = [
    ("ada", "Ada", "sandbox_ada", "warm", 2, "Friendly guide who answers questions."),
    ("ben", "Ben", "sandbox_ben", "calm", 2, "Calm presenter for product walkthroughs."),
    ("cleo", "Cleo", "sandbox_cleo", "bright", 1, "Reads out exactly what you type."),
]


class Command(BaseCommand):
    help = "Create demo voice and avatar presets and the demo accounts (idempotent)."

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        for (username, password), staff in ((DEMO_USER, False), (DEMO_STAFF, True)):
            if not users.objects.filter(username=username).exists():
                if staff:
                    users.objects.create_superuser(username, "", password)
                else:
                    users.objects.create_user(username, DEMO_EMAIL, password)
        # A demo account seeded before it had an email gets one; one a person set stays.
        users.objects.filter(username=DEMO_USER[0], email="").update(email=DEMO_EMAIL)
        voices = {}
        for order, (slug, name, voice_id, language, gender) in enumerate(VOICES):
            voices[slug], _ = VoicePreset.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "voice_id": voice_id,
                    "language": language,
                    "gender": gender,
                    "order": order,
                },
            )
        for order, (slug, name, avatar_id, voice, mode, prompt) in enumerate(AVATARS):
            AvatarPreset.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "avatar_id": avatar_id,
                    "thumbnail_url": f"/static/img/avatars/{slug}.svg",
                    "default_voice": voices[voice],
                    "language": "en",
                    "mode": mode,
                    "system_prompt": prompt,
                    "order": order,
                },
            )
        self.stdout.write(
            f"Demo ready: {AvatarPreset.objects.count()} avatar presets, "
            f"{VoicePreset.objects.count()} voices; accounts "
            f"{DEMO_USER[0]}/{DEMO_USER[1]} and {DEMO_STAFF[0]}/{DEMO_STAFF[1]} (staff)."
        )
