"""The shell every file-import command shares: check the files, run each as a Job with
a terminal progress bar, print its summary and the line numbers kept for review.
(A leading underscore keeps Django from listing this module as a command.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pls_portal.services import job_create, job_running

SHOW_LINES = 20


@dataclass(frozen=True)
class Outcome:
    """What a command reports of one file: the summary (also the Job's message), the
    Job's result, and the line numbers of the rows kept for review."""

    summary: str
    result: dict
    kept_lines: list[int]


def lines_list(lines: list[int]) -> str:
    """``2, 4, 7`` or ``2, 4, … and 13 more``."""
    shown = ", ".join(str(n) for n in lines[:SHOW_LINES])
    more = len(lines) - SHOW_LINES
    return shown + (f" and {more} more" if more > 0 else "")


def import_files(
    command: BaseCommand,
    *,
    kind: str,
    paths: list[Path],
    importer: Callable[..., Any],
    describe: Callable[[Path, Any], Outcome],
    kept_where: str,
    unit: str = "B",
    errors: tuple[type[Exception], ...] = (),
) -> list[Any]:
    """Import each file as a Job of ``kind``; ``errors`` (a file that cannot be read at
    all) become a CommandError naming it. Returns the importer's results."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CommandError(f"No such file: {', '.join(missing)}")
    results = []
    for path in paths:
        job = job_create(kind=kind, params={"path": str(path)})
        try:
            with (
                tqdm(
                    unit=unit, unit_scale=unit == "B", desc=path.name, file=command.stderr._out
                ) as bar,
                job_running(job_id=job.pk, bar=bar) as progress,
            ):
                result = importer(path=path, progress=progress)
                outcome = describe(path, result)
                progress.message = outcome.summary
                progress.result = outcome.result
        except errors as exc:
            raise CommandError(str(exc)) from exc
        command.stdout.write(outcome.summary)
        if outcome.kept_lines:
            command.stdout.write(
                f"  rejected lines: {lines_list(outcome.kept_lines)} (kept for review: "
                f"{kept_where})"
            )
        results.append(result)
    return results


def describe_import(path: Path, result: Any) -> Outcome:
    """For the enrichment imports (firmographics, IP ranges): their result's summary."""
    return Outcome(
        summary=f"{path}: {result.summary}",
        result={
            "read": result.read,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "rejected": result.rejected,
            "rejected_lines": result.rejected_lines[:1000],
        },
        kept_lines=result.rejected_lines,
    )


def describe_crm_import(path: Path, result: Any) -> Outcome:
    """ "deals.csv: 12 rows, 8 created, 2 updated, 2 unmatched (lines 5, 9: kept for
    review), 1 in another currency"."""
    text = (
        f"{path.name}: {result.rows} rows, {result.created} created, "
        f"{result.updated} updated, {result.unmatched} unmatched"
    )
    if result.unmatched_lines:
        word = "line" if len(result.unmatched_lines) == 1 else "lines"
        text += f" ({word} {lines_list(result.unmatched_lines)}: kept for review)"
    return Outcome(
        summary=text + f", {result.other_currency} in another currency",
        result={
            "rows": result.rows,
            "created": result.created,
            "updated": result.updated,
            "unmatched": result.unmatched,
            "unmatched_lines": result.unmatched_lines[:1000],
            "other_currency": result.other_currency,
        },
        kept_lines=[],  # the summary names them already
    )
