"""Import product events from Segment-format JSONL (.gz too) or CSV files."""

from pathlib import Path

from django.core.management.base import BaseCommand

from accounts.management.commands._file_import import Outcome, import_files
from accounts.services.imports import EventImportError, events_import_file
from accounts.services.ingestion import IngestResult
from accounts.services.rollups import rollup_run_now


def _describe(path: Path, result: IngestResult) -> Outcome:
    return Outcome(
        summary=(
            f"{path}: {result.received} read, {result.stored} stored, "
            f"{result.duplicates} duplicates, {result.rejected} rejected"
        ),
        result={
            "read": result.received,
            "stored": result.stored,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "rejected_lines": result.rejected_lines[:1000],
        },
        kept_lines=result.rejected_lines,
    )


class Command(BaseCommand):
    help = (
        "Import Segment-format JSONL (one message per line, .gz accepted) or CSV files "
        "(layout in docs/ingestion.md) through the same validation, dedupe and identity "
        "path as the HTTP API. Rerunning a file stores nothing new."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args, paths: list[Path], **options) -> None:
        import_files(
            self,
            kind="import_events",
            paths=paths,
            importer=events_import_file,
            describe=_describe,
            kept_where="Data → Ingestion",
            errors=(EventImportError,),
        )
        # The same incremental rollup the worker runs, so import then rescore works with
        # no worker running.
        rolled = rollup_run_now()
        self.stdout.write(
            f"Usage rolled up: {rolled.pairs} account-days of {rolled.accounts} accounts."
        )
