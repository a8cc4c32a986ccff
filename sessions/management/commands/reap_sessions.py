from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand

from sessions.services.reaper import reap


class Command(BaseCommand):
    help = (
        "One reaper pass: close expired, abandoned and stuck sessions, retry failed "
        "closes, and close upstream sessions we do not hold as live. For cron."
    )

    def handle(self, *args, **options) -> None:
        result = async_to_sync(reap)()
        self.stdout.write(str(result))
