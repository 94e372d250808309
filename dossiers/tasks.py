"""Celery shells around the dossiers' services (schedules in pls_portal/celery.py)."""

import logging
from datetime import timedelta

from celery import shared_task
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import DatabaseError

from dossiers.dossier.warm import dossiers_warm
from pls_portal.celery import TASK_RETRY_OPTIONS
from pls_portal.services import task_lock

logger = logging.getLogger(__name__)

WARM_LOCK = "dossiers-warm"


def _cache_shared() -> bool:
    """Whether the web processes read what this worker writes: not a cache in this
    process's memory (the demo's default, no ``CACHE_URL``) or none at all."""
    return not isinstance(caches["default"], LocMemCache | DummyCache)


@shared_task(autoretry_for=(DatabaseError,), **TASK_RETRY_OPTIONS)
def dossiers_warm_run() -> None:
    """Every few minutes: build the queue's dossiers ahead (dossiers.dossier.warm), into
    the cache the web processes share; with none, there is nothing to do."""
    if not _cache_shared():
        logger.debug("dossier warm-up skipped: no shared cache (CACHE_URL)")
        return
    with task_lock(name=WARM_LOCK, ttl=timedelta(minutes=30)) as acquired:
        if not acquired:
            logger.info("dossier warm-up already running; skipping")
            return
        result = dossiers_warm()
    if result.built:
        logger.info("dossier warm-up: %s", result.summary)
