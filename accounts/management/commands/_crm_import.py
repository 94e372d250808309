"""The shared shell of ``import_deals`` and ``import_contacts``: a Job, a progress bar
and a summary. (A leading underscore keeps Django from listing it as a command.)"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.services.crm_imports import CrmImportError, CrmImportResult
from pls_portal.services import job_create, job_running

SHOW_LINES = 20


def summary(path: Path, result: CrmImportResult) -> str:
    """ "deals.csv: 12 rows, 8 created, 2 updated, 2 unmatched (lines 5, 9: kept for
    review), 1 in another currency"."""
    text = (
        f"{path.name}: {result.rows} rows, {result.created} created, "
        f"{result.updated} updated, {result.unmatched} unmatched"
    )
    if result.unmatched_lines:
        lines = ", ".join(str(n) for n in result.unmatched_lines[:SHOW_LINES])
        more = len(result.unmatched_lines) - SHOW_LINES
        lines += f" and {more} more" if more > 0 else ""
        word = "line" if len(result.unmatched_lines) == 1 else "lines"
        text += f" ({word} {lines}: kept for review)"
    return text + f", {result.other_currency} in another currency"


def run_import(command: BaseCommand, *, kind: str, path: Path, importer) -> None:
    """The shared shell of import_deals and import_contacts: a Job, a bar, a summary."""
    if not path.is_file():
        raise CommandError(f"No such file: {path}")
    job = job_create(kind=kind, params={"path": str(path)})
    try:
        with (
            tqdm(unit="B", unit_scale=True, desc=path.name, file=command.stderr._out) as bar,
            job_running(job_id=job.pk, bar=bar) as progress,
        ):
            result = importer(path=path, progress=progress)
            progress.message = summary(path, result)
            progress.result = {
                "rows": result.rows,
                "created": result.created,
                "updated": result.updated,
                "unmatched": result.unmatched,
                "unmatched_lines": result.unmatched_lines[:1000],
                "other_currency": result.other_currency,
            }
    except CrmImportError as exc:
        raise CommandError(str(exc)) from exc
    command.stdout.write(progress.message)
