"""The CRM sync: the usage snapshot of the accounts changed since the last finished sync
(or of every account), as signed webhook batches to the endpoints subscribed to
``crm_sync`` and as a CSV download (the batches are kept as events).

"Changed" reads ``Account.usage_changed_at`` (the rollup), ``AccountScore.changed_at``
(scoring) and ``Account.updated_at`` (name, plan, owner…), from ``CHANGE_OVERLAP``
before the last finished sync's cutoff: a change committed while that sync read is sent
by the next one, and a CRM upserts on ``PLS_Account_Id__c``, so an account sent twice
is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from feedback.outbound.models import (
    CRM_SYNC_KIND,
    CrmSync,
    Delivery,
    Endpoint,
    EventType,
    OutboundEvent,
)
from feedback.outbound.payloads import crm_batch_event
from feedback.outbound.selectors_crm import crm_changed_account_ids, crm_snapshot
from pls_portal.models import Job, User
from pls_portal.services import JobProgress, ProgressBar, job_create, job_running, task_lock

logger = logging.getLogger(__name__)

CRM_SYNC_LOCK = "crm-sync"
CRM_SYNC_LOCK_TTL = timedelta(hours=2)
CRM_SYNC_BATCH = 500
CHANGE_OVERLAP = timedelta(minutes=10)


class CrmSyncBusy(Exception):
    """Another CRM sync holds the lock."""


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _close_interrupted(now: datetime) -> None:
    """A sync left running by a killed worker (we hold the lock, so none is running)."""
    CrmSync.objects.filter(state=CrmSync.State.RUNNING).update(
        state=CrmSync.State.FAILED,
        finished_at=now,
        message="interrupted: the worker stopped before it finished; the next sync resends",
    )


def crm_sync_run(
    *,
    full: bool = False,
    user: User | None = None,
    job_id: int | None = None,
    progress: JobProgress | None = None,
    now: datetime | None = None,
    batch_size: int = CRM_SYNC_BATCH,
) -> CrmSync | None:
    """Take the snapshot and write its batches (events, and deliveries to the active
    endpoints subscribed to ``crm_sync``). None when another sync holds the lock."""
    with task_lock(name=CRM_SYNC_LOCK, ttl=CRM_SYNC_LOCK_TTL) as acquired:
        if not acquired:
            return None
        now = now or timezone.now()
        _close_interrupted(now)
        last = CrmSync.objects.filter(state=CrmSync.State.DONE).order_by("-cutoff", "-id").first()
        since = None if full or last is None else last.cutoff - CHANGE_OVERLAP
        sync = CrmSync.objects.create(
            mode=CrmSync.Mode.FULL if full else CrmSync.Mode.CHANGED,
            since=since,
            cutoff=now,
            started_at=now,
            created_by=user,
            job_id=job_id,
        )
        try:
            _write_batches(sync, progress=progress, size=batch_size)
        except Exception as exc:
            CrmSync.objects.filter(pk=sync.pk).update(
                state=CrmSync.State.FAILED,
                finished_at=timezone.now(),
                message=f"failed: {exc.__class__.__name__}: {exc}"[:300],
            )
            raise
        sync.refresh_from_db()
    logger.info("CRM sync #%s: %s", sync.pk, sync.message)
    return sync


def _write_batches(sync: CrmSync, *, progress: JobProgress | None, size: int) -> None:
    ids = crm_changed_account_ids(since=sync.since)
    batches = (len(ids) + size - 1) // size
    if progress is not None:
        progress.set_total(len(ids))
    endpoint_ids = [
        pk
        for pk, types in Endpoint.objects.filter(is_active=True).values_list("pk", "event_types")
        if EventType.CRM_SYNC in types
    ]
    deliveries = 0
    for number, chunk in enumerate(_chunks(ids, size), start=1):
        records = crm_snapshot(account_ids=chunk, today=sync.cutoff.date(), synced_at=sync.cutoff)
        now = timezone.now()
        event_id, summary, payload = crm_batch_event(
            sync_id=sync.pk,
            mode=sync.mode,
            batch=number,
            batches=batches,
            since=sync.since,
            cutoff=sync.cutoff,
            records=records,
            created_at=now,
        )
        with transaction.atomic():
            OutboundEvent.objects.create(
                id=event_id,
                type=EventType.CRM_SYNC,
                crm_sync=sync,
                batch=number,
                summary=summary,
                payload=payload,
                occurred_at=sync.cutoff,
                created_at=now,
            )
            Delivery.objects.bulk_create(
                Delivery(endpoint_id=pk, event_id=event_id, created_at=now, next_attempt_at=now)
                for pk in endpoint_ids
            )
        deliveries += len(endpoint_ids)
        if progress is not None:
            progress.advance(len(chunk), message=f"Batch {number} of {batches}")
    kind = "accounts" if sync.mode == CrmSync.Mode.FULL else "changed accounts"
    message = (
        f"{len(ids)} {kind} in {batches} batch{'es' if batches != 1 else ''}, "
        f"{deliveries} deliver{'ies' if deliveries != 1 else 'y'} queued"
    )
    CrmSync.objects.filter(pk=sync.pk).update(
        state=CrmSync.State.DONE,
        finished_at=timezone.now(),
        accounts=len(ids),
        batches=batches,
        message=message,
    )
    if progress is not None:
        progress.message = message
        progress.result = {"crm_sync_id": sync.pk, "accounts": len(ids), "batches": batches}


def crm_sync_start(*, user: User | None, full: bool) -> Job:
    """Queue a CRM sync as a Job; the worker runs it after the commit."""
    from feedback.outbound.tasks import crm_sync_job_run

    job = job_create(
        kind=CRM_SYNC_KIND,
        created_by=user,
        params={"full": full},
        message="Waiting for a worker…",
    )
    transaction.on_commit(lambda: crm_sync_job_run.delay(job.pk, full))
    return job


def crm_sync_job(*, job_id: int, full: bool, bar: ProgressBar | None = None) -> CrmSync:
    """Run a CRM sync as the given Job (the command and the page's button)."""
    created_by = Job.objects.filter(pk=job_id).values_list("created_by", flat=True).first()
    user = User.objects.filter(pk=created_by).first() if created_by else None
    with job_running(job_id=job_id, bar=bar) as progress:
        sync = crm_sync_run(full=full, user=user, job_id=job_id, progress=progress)
        if sync is None:
            raise CrmSyncBusy("another CRM sync is running; try again when it has finished")
    return sync
