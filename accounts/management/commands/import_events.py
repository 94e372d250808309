"""Import product events from Segment-format JSONL (.gz too) or CSV files."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.services.imports import events_import_file
from accounts.services.rollups import rollup_run_now
from pls_portal.services import job_create, job_running

SHOW_LINES = 20


class Command(BaseCommand):
    help = (
        "Import Segment-format JSONL (one message per line, .gz accepted) or CSV files "
        "(layout in docs/ingestion.md) through the same validation, dedupe and identity "
        "path as the HTTP API. Rerunning a file stores nothing new."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args, paths: list[Path], **options) -> None:
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise CommandError(f"No such file: {', '.join(missing)}")
        for path in paths:
            job = job_create(kind="import_events", params={"path": str(path)})
            with (
                tqdm(unit="B", unit_scale=True, desc=path.name, file=self.stderr._out) as bar,
                job_running(job_id=job.pk, bar=bar) as progress,
            ):
                result = events_import_file(path=path, progress=progress)
                progress.message = (
                    f"{result.received} read, {result.stored} stored, "
                    f"{result.duplicates} duplicates, {result.rejected} rejected"
                )
                progress.result = {
                    "read": result.received,
                    "stored": result.stored,
                    "duplicates": result.duplicates,
                    "rejected": result.rejected,
                    "rejected_lines": result.rejected_lines[:1000],
                }
            self.stdout.write(f"{path}: {progress.message}")
            if result.rejected_lines:
                lines = ", ".join(str(n) for n in result.rejected_lines[:SHOW_LINES])
                more = len(result.rejected_lines) - SHOW_LINES
                suffix = f" and {more} more" if more > 0 else ""
                self.stdout.write(
                    f"  rejected lines: {lines}{suffix} (kept for review: Data → Ingestion)"
                )
        # The same incremental rollup the worker runs, so import then rescore works with
        # no worker running.
        rolled = rollup_run_now()
        self.stdout.write(
            f"Usage rolled up: {rolled.pairs} account-days of {rolled.accounts} accounts."
        )
