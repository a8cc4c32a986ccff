"""One webhook pass outside the served processes (cron): send every due delivery.

Safe beside the served processes' own passes: each delivery is claimed by one sender.
"""

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand

from sessions.services import webhooks

# Rounds of webhooks.BATCH deliveries: a pass empties a long queue, yet ends.
ROUNDS = 50


class Command(BaseCommand):
    help = "Send the webhook deliveries that are due (one pass, for cron)."

    def handle(self, *args, **options) -> None:
        counts = async_to_sync(webhooks.send_due)(rounds=ROUNDS)
        self.stdout.write(
            f"delivered {counts['delivered']}, to retry {counts['retry']}, "
            f"failed {counts['failed']}"
        )
