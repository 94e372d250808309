"""Celery shells around accounts' services."""

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.db import DatabaseError

from accounts.services.incoming import incoming_drain, incoming_pending
from accounts.services.reclassify import events_reclassify_job
from accounts.services.rollups import ROLLUP_LOCK, ROLLUP_LOCK_TTL, rollup_pending, usage_refresh
from pls_portal.celery import TASK_RETRY_OPTIONS
from pls_portal.models import Job
from pls_portal.services import job_fail, task_lock

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def rollup_touched() -> None:
    """Every few seconds: roll up the (account, day) pairs touched since the last run."""
    # One read when idle: no lock row written, no Job, every five seconds.
    if not rollup_pending():
        return
    with task_lock(name=ROLLUP_LOCK, ttl=ROLLUP_LOCK_TTL) as acquired:
        if not acquired:
            logger.info("rollup already running; skipping")
            return
        started = time.monotonic()
        result, arr_changed = usage_refresh()
    logger.info(
        "rollup done pairs=%s accounts=%s account_days=%s user_days=%s feature_days=%s "
        "arr_potential_changed=%s seconds=%.2f",
        result.pairs,
        result.accounts,
        result.account_days,
        result.user_days,
        result.feature_days,
        arr_changed,
        time.monotonic() - started,
    )


DRAIN_LOCK = "accounts-drain"


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def incoming_drain_run() -> None:
    """Every two seconds: turn accepted ingestion requests into events. One drainer at
    a time, so identity resolution never races itself."""
    if not incoming_pending():
        return
    with task_lock(name=DRAIN_LOCK, ttl=timedelta(minutes=10)) as acquired:
        if not acquired:
            logger.info("drain already running; skipping")
            return
        started = time.monotonic()
        result = incoming_drain()
    logger.info(
        "drain done received=%s stored=%s duplicates=%s rejected=%s seconds=%.2f",
        result.received,
        result.stored,
        result.duplicates,
        result.rejected,
        time.monotonic() - started,
    )


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def events_reclassify_run(job_id: int) -> None:
    """After a tracking-plan change: apply the plan to stored events (a Job)."""
    if not Job.objects.filter(pk=job_id, state=Job.State.QUEUED).exists():
        logger.info("reclassify job gone or already run job_id=%s", job_id)
        return
    with task_lock(name="accounts-reclassify", ttl=timedelta(hours=2)) as acquired:
        if not acquired:
            job_fail(job_id=job_id, message="Skipped: another re-read was in progress.")
            return
        events_reclassify_job(job_id=job_id)
