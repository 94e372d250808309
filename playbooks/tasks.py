"""Celery shell around play matching (schedule in pls_portal/celery.py)."""

import logging

from celery import shared_task
from django.db import DatabaseError

from playbooks.services import play_matches_refresh
from pls_portal.celery import TASK_RETRY_OPTIONS

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def play_matches_run(full: bool = False) -> None:
    """Store the best play of the accounts rescored since the last run (all of them
    when ``full``, after a play edit and nightly). One run at a time: a run that finds
    the lock taken skips, and a full re-match it owed is made up by the next run."""
    result = play_matches_refresh(full=full)
    if result.skipped or result.accounts:
        logger.info("play matching (%s): %s", "full" if full else "changed", result.summary)
