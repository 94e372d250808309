"""Celery shells around scoring's services (schedules in pls_portal/celery.py)."""

import logging
from datetime import timedelta

from celery import shared_task
from django.db import DatabaseError

from pls_portal.celery import TASK_RETRY_OPTIONS
from pls_portal.models import Job
from pls_portal.services import task_lock
from scoring.services.queue import queue_sweep
from scoring.services.run import NoActiveRuleSet, rescore_job, scoring_run

logger = logging.getLogger(__name__)

SWEEP_LOCK = "scoring-sweep"


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def score_changed() -> None:
    """Every few seconds: score the accounts whose usage changed since the last run."""
    try:
        result = scoring_run()
    except NoActiveRuleSet as exc:
        logger.warning("scoring skipped: %s", exc)
        return
    if result.skipped or result.accounts:
        logger.info("scoring (changed accounts): %s", result.summary)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def score_all() -> None:
    """Nightly: score every account, because the windows slide."""
    try:
        result = scoring_run(full=True)
    except NoActiveRuleSet as exc:
        logger.warning("nightly scoring skipped: %s", exc)
        return
    logger.info("scoring (nightly, all accounts): %s", result.summary)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def queue_sweep_run() -> None:
    """Every minute: back-off, overdue and expiry sweeps of the queue."""
    with task_lock(name=SWEEP_LOCK, ttl=timedelta(minutes=5)) as acquired:
        if not acquired:
            logger.info("queue sweep already running; skipping")
            return
        result = queue_sweep()
    if result.backed_off or result.overdue or result.expired:
        logger.info("queue sweep: %s", result.summary)


def _queued(job_id: int) -> bool:
    if Job.objects.filter(pk=job_id, state=Job.State.QUEUED).exists():
        return True
    logger.info("job gone or already run job_id=%s", job_id)
    return False


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def rescore_job_run(job_id: int) -> None:
    """A rescore Job (after a rule set is activated, or started by an admin)."""
    if not _queued(job_id):
        return
    full = Job.objects.get(pk=job_id).params.get("full", True)
    rescore_job(job_id=job_id, full=full)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def backtest_job_run(job_id: int) -> None:
    """A backtest Job of a draft rule set against the active one."""
    from scoring.services.backtest import backtest_run

    if not _queued(job_id):
        return
    backtest_run(job_id=job_id)
