"""Celery shells around the outbound services (schedules in pls_portal/celery.py)."""

import logging

from celery import shared_task
from django.db import DatabaseError

from feedback.outbound.services.crm_sync import CrmSyncBusy, crm_sync_job, crm_sync_run
from feedback.outbound.services.delivery import delivery_attempt
from feedback.outbound.services.tick import outbound_prune, outbound_tick
from pls_portal.celery import TASK_RETRY_OPTIONS
from pls_portal.models import Job

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def outbound_run() -> None:
    """Every few seconds: hand off new route changes, then send what is due."""
    result = outbound_tick()
    if result.skipped:
        logger.info("outbound tick already running; skipping")
        return
    for delivery_id, token in result.dispatched:
        delivery_send.delay(delivery_id, token)
    if result.handoff.events or result.dispatched:
        logger.info(
            "outbound: %s; %s deliveries dispatched", result.handoff.summary, len(result.dispatched)
        )


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def delivery_send(delivery_id: int, token: str) -> None:
    """One attempt of one delivery; a failure is recorded and rescheduled in its row."""
    delivery_attempt(delivery_id=delivery_id, token=token)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def crm_sync_daily() -> None:
    """Daily: the snapshot of the accounts changed since the last sync."""
    sync = crm_sync_run(full=False)
    if sync is None:
        logger.info("CRM sync already running; skipping")


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def crm_sync_job_run(job_id: int, full: bool = False) -> None:
    """A CRM sync started from the page (a Job with progress)."""
    if not Job.objects.filter(pk=job_id, state=Job.State.QUEUED).exists():
        logger.info("job gone or already run job_id=%s", job_id)
        return
    try:
        crm_sync_job(job_id=job_id, full=full)
    except CrmSyncBusy as exc:  # the Job says so; nothing to retry
        logger.warning("CRM sync job %s: %s", job_id, exc)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def outbound_prune_run() -> None:
    """Nightly: events, deliveries and CRM sync snapshots past their retention."""
    outbound_prune()
