"""Import contacts from a CRM export (documented layout, Salesforce or HubSpot CSV)."""

from pathlib import Path

from django.core.management.base import BaseCommand

from accounts.management.commands._file_import import describe_crm_import, import_files
from accounts.services.crm_imports import CrmImportError, contacts_import_file


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV (layouts in docs/crm_imports.md). Rows are matched to "
        "accounts by email domain, then website, then exact name; unmatched rows are kept "
        "for review. Rerunning a file updates its contacts instead of duplicating them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        import_files(
            self,
            kind="import_contacts",
            paths=[path],
            importer=contacts_import_file,
            describe=describe_crm_import,
            kept_where="Users & data → Import rows",
            errors=(CrmImportError,),
        )
