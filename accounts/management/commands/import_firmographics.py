"""Import company facts by domain from CSV files (read by the bundled enrichment
provider)."""

from pathlib import Path

from django.core.management.base import BaseCommand

from accounts.management.commands._file_import import describe_import, import_files
from accounts.services.enrichment import ImportFileError, firmographics_import_file


class Command(BaseCommand):
    help = (
        "Import firmographics CSV files: domain, company name (or company, company_name, "
        "name), employees, industry, country, annual revenue (or annual_revenue, revenue). "
        "Upserts by registrable domain; unreadable rows are kept for review with their "
        "line number. Run enrich_accounts afterwards to fill accounts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args, paths: list[Path], **options) -> None:
        import_files(
            self,
            kind="import_firmographics",
            paths=paths,
            importer=firmographics_import_file,
            describe=describe_import,
            kept_where="Users & data → Import rows",
            unit="rows",
            errors=(ImportFileError,),
        )
