"""Re-read stored events after the tracking plan changed.

Ingestion stores each event's meaning (category, key, value) so rollups are plain SQL;
when an admin edits the tracking plan, this job applies the new plan to past events,
writes only the rows whose meaning changed, and touches their (account, day) pairs so
the rollup rebuilds those days.
"""

from __future__ import annotations

from types import SimpleNamespace

from django.db import transaction

from accounts.models import Event, TouchedDay
from accounts.services.ingestion import event_classify
from accounts.tracking_plan import meaning_for, tracking_plan_map
from pls_portal.models import Job
from pls_portal.services import JobProgress, ProgressBar, job_create, job_running

RECLASSIFY_KIND = "reclassify_events"
CHUNK = 5000


def events_reclassify(*, progress: JobProgress | None = None, chunk: int = CHUNK) -> int:
    """Apply the current tracking plan to every stored event; returns how many changed.
    Walks the table by id in chunks (bounded memory, short transactions)."""
    plan = tracking_plan_map()
    if progress is not None:
        progress.set_total(Event.objects.count())
    changed_total, last_id = 0, 0
    while True:
        rows = list(
            Event.objects.filter(id__gt=last_id)
            .order_by("id")
            .values_list(
                "id", "type", "name", "properties", "category", "key", "value", "account_id",
                "timestamp",
            )[:chunk]
        )  # fmt: skip
        if not rows:
            return changed_total
        last_id = rows[-1][0]
        changed, touched = [], set()
        for pk, kind, name, properties, category, key, value, account_id, when in rows:
            meaning = meaning_for(plan, event_type=kind, name=name)
            fresh = event_classify(meaning, SimpleNamespace(properties=properties or {}))
            if fresh != (category, key, value):
                changed.append(Event(pk=pk, category=fresh[0], key=fresh[1], value=fresh[2]))
                if account_id is not None:
                    touched.add((account_id, when.date()))
        if changed:
            with transaction.atomic():
                Event.objects.bulk_update(changed, ["category", "key", "value"], batch_size=500)
                TouchedDay.objects.bulk_create(
                    [TouchedDay(account_id=a, day=d) for a, d in touched]
                )
        changed_total += len(changed)
        if progress is not None:
            progress.advance(len(rows), message=f"{changed_total} events re-read differently")


def events_reclassify_job(*, job_id: int, bar: ProgressBar | None = None) -> int:
    with job_running(job_id=job_id, bar=bar) as progress:
        changed = events_reclassify(progress=progress)
        progress.message = (
            f"{changed} events now read differently; their days are being rolled up again"
        )
        progress.result = {"changed": changed}
    return changed


def reclassify_start(*, created_by=None) -> Job:
    """Queue a re-read of past events (after the tracking plan changed)."""
    from accounts.tasks import events_reclassify_run

    job = job_create(
        kind=RECLASSIFY_KIND,
        created_by=created_by,
        message="Waiting for a worker to re-read past events with the new tracking plan…",
    )
    transaction.on_commit(lambda: events_reclassify_run.delay(job.pk))
    return job
