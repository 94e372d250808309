"""Import reverse-IP ranges (``cidr,domain,company``) from CSV files."""

from pathlib import Path

from django.core.management.base import BaseCommand

from accounts.management.commands._file_import import describe_import, import_files
from accounts.services.enrichment import ImportFileError, ip_ranges_import_file


class Command(BaseCommand):
    help = (
        "Import reverse-IP CSV files with columns cidr, domain, company (IPv4 and IPv6). "
        "Upserts by network; unreadable rows are kept for review with their line number."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args, paths: list[Path], **options) -> None:
        import_files(
            self,
            kind="import_ip_ranges",
            paths=paths,
            importer=ip_ranges_import_file,
            describe=describe_import,
            kept_where="Users & data → Import rows",
            unit="rows",
            errors=(ImportFileError,),
        )
