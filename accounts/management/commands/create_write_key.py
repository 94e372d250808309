"""Create a write key for the ingestion API; the key itself is the last line printed."""

from django.core.management.base import BaseCommand

from accounts.services.keys import ingestion_key_create


class Command(BaseCommand):
    help = "Create a write key for the Segment-compatible ingestion API (shown once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="What the key is for, e.g. 'web app production'.")

    def handle(self, *args, name: str, **options) -> None:
        new = ingestion_key_create(name=name)
        self.stdout.write(
            f"Created write key #{new.key.pk} '{new.key.name}'. It is shown only once; "
            "configure your Segment or RudderStack SDK with it and host http://<server>/ingest"
        )
        self.stdout.write(new.plaintext)
