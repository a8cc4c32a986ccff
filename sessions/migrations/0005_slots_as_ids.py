"""Sessions store the ids of their concurrency slots, not the slots' cache keys (built
in sessions/keys.py), so a change of key format cannot strand a live session's slots."""

from django.db import migrations

PREFIX = "slot:"


def keys_to_ids(apps, schema_editor):
    sessions = apps.get_model("avatar_sessions", "AvatarSession")
    for session in sessions.objects.exclude(slots=[]).only("id", "slots").iterator():
        ids = [s.removeprefix(PREFIX) for s in session.slots if isinstance(s, str)]
        if ids != session.slots:
            sessions.objects.filter(pk=session.pk).update(slots=ids)


def ids_to_keys(apps, schema_editor):
    sessions = apps.get_model("avatar_sessions", "AvatarSession")
    for session in sessions.objects.exclude(slots=[]).only("id", "slots").iterator():
        keys = [s if s.startswith(PREFIX) else PREFIX + s for s in session.slots]
        sessions.objects.filter(pk=session.pk).update(slots=keys)


class Migration(migrations.Migration):
    dependencies = [("avatar_sessions", "0004_close_reasons_and_presence")]

    operations = [migrations.RunPython(keys_to_ids, ids_to_keys)]
