from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from sessions.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user and print it (once: only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A name to recognise the token by.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user '{username}'.")
        _, raw = ApiToken.issue(user, name)
        self.stdout.write(raw)
