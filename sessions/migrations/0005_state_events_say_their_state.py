"""State events carry the state they record in their data (`{"state": "closing"}`), so the
audit reads timings from data rather than from the event's words."""

from django.db import migrations

STATES = ("starting", "active", "closing", "closed", "failed")


def add_state(apps, schema_editor):
    events = apps.get_model("avatar_sessions", "SessionEvent")
    rows = events.objects.filter(kind="state", message__in=STATES).only("id", "message", "data")
    for event in rows.iterator():
        data = event.data if isinstance(event.data, dict) else {}
        if data.get("state") != event.message:
            events.objects.filter(pk=event.pk).update(data={**data, "state": event.message})


class Migration(migrations.Migration):
    dependencies = [("avatar_sessions", "0004_close_reasons_and_presence")]

    operations = [migrations.RunPython(add_state, migrations.RunPython.noop)]
