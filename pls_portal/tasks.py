"""Celery shells around pls_portal's services."""

import logging
from datetime import timedelta

from celery import shared_task
from django.db import DatabaseError

from .celery import TASK_RETRY_OPTIONS
from .models import Job
from .services import (
    MAINTENANCE_KIND,
    JobNotRunnable,
    job_create,
    job_fail,
    jobs_reap_stale,
    maintenance_run,
    task_lock,
)

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def maintenance_job_run(job_id: int) -> None:
    """Run a maintenance job someone queued (the Jobs page, or the nightly schedule)."""
    if not Job.objects.filter(pk=job_id).exists():
        logger.warning("maintenance job vanished job_id=%s", job_id)
        return
    with task_lock(name=MAINTENANCE_KIND, ttl=timedelta(hours=1)) as acquired:
        if not acquired:
            logger.info("maintenance already running; skipping job_id=%s", job_id)
            job_fail(job_id=job_id, message="Skipped: another maintenance run was in progress.")
            return
        try:
            maintenance_run(job_id=job_id)
        except JobNotRunnable:
            logger.info("maintenance job already ran job_id=%s", job_id)


@shared_task
def maintenance_run_scheduled() -> None:
    """Nightly: record a maintenance job and run it."""
    job = job_create(kind=MAINTENANCE_KIND, message="Scheduled nightly run")
    maintenance_job_run.delay(job.pk)


@shared_task
def jobs_reap_run() -> None:
    """Every few minutes: mark running jobs whose worker was lost as failed."""
    reaped = jobs_reap_stale()
    if reaped:
        logger.warning("marked %s stalled job(s) failed", reaped)
