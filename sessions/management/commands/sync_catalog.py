from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError

from sessions.providers import ProviderError
from sessions.services.catalog_sync import sync_catalog


class Command(BaseCommand):
    help = "Import avatars and voices from the provider's catalog into presets (keeps edits)."

    def handle(self, *args, **options) -> None:
        try:
            result = async_to_sync(sync_catalog)()
        except ProviderError as exc:
            raise CommandError(f"The catalog could not be fetched: {exc.message}") from exc
        self.stdout.write(str(result))
