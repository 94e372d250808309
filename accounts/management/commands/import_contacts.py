"""Import contacts from a CRM export (documented layout, Salesforce or HubSpot CSV)."""

from pathlib import Path

from django.core.management.base import BaseCommand

from accounts.management.commands._crm_import import run_import
from accounts.services.crm_imports import contacts_import_file


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV (layouts in docs/crm_imports.md). Rows are matched to "
        "accounts by email domain, then website, then exact name; unmatched rows are kept "
        "for review. Rerunning a file updates its contacts instead of duplicating them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        run_import(self, kind="import_contacts", path=path, importer=contacts_import_file)
