"""Import company facts by domain from CSV files (read by the bundled enrichment
provider)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.services.enrichment import ImportFileError, firmographics_import_file
from pls_portal.services import job_create, job_running

SHOW_LINES = 20


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
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise CommandError(f"No such file: {', '.join(missing)}")
        for path in paths:
            job = job_create(kind="import_firmographics", params={"path": str(path)})
            try:
                with (
                    tqdm(unit="rows", desc=path.name, file=self.stderr._out) as bar,
                    job_running(job_id=job.pk, bar=bar) as progress,
                ):
                    result = firmographics_import_file(path=path, progress=progress)
                    progress.message = result.summary
                    progress.result = {
                        "read": result.read,
                        "created": result.created,
                        "updated": result.updated,
                        "unchanged": result.unchanged,
                        "rejected": result.rejected,
                        "rejected_lines": result.rejected_lines[:1000],
                    }
            except ImportFileError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{path}: {result.summary}")
            if result.rejected_lines:
                lines = ", ".join(str(n) for n in result.rejected_lines[:SHOW_LINES])
                more = len(result.rejected_lines) - SHOW_LINES
                suffix = f" and {more} more" if more > 0 else ""
                self.stdout.write(f"  rejected lines: {lines}{suffix} (kept as import rows)")
