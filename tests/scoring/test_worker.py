"""The freshness path through a real Celery worker: events in → the rollup task → the
scoring task → a queue item; and a rescore Job run by the worker."""

import time

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.services.rollups import rollup_pending
from accounts.tasks import rollup_touched
from pls_portal.models import Job
from scoring.models import QueueItem, Route
from scoring.services.run import rescore_start
from scoring.tasks import score_changed
from tests.pls_portal.test_celery_worker import _wait_for, celery_worker_process  # noqa: F401
from tests.scoring.factories import identify, rule_set_activate_now, segment_ingest, track

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

RULES = [
    {"signal": "active_users_30", "threshold": 1, "points": 40, "dimension": "value"},
    {"signal": "active_users_30", "threshold": 1, "points": 60, "dimension": "engagement"},
]


def _until(check, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.25)
    return None


def test_an_event_reaches_the_queue_through_the_worker(celery_worker_process):  # noqa: F811
    proc, log = celery_worker_process
    rule_set_activate_now(RULES, arr_floor=0)
    now = timezone.now()
    segment_ingest(
        identify("u1", "ada@fresh-co.com", now, name="Ada"),
        track("u1", "Project Created", now),
    )
    rollup_touched.delay()
    assert _until(lambda: not rollup_pending()), log.read_text()[-3000:]
    score_changed.delay()

    item = _until(lambda: QueueItem.objects.filter(account__domain="fresh-co.com").first())

    assert proc.poll() is None, log.read_text()[-3000:]
    assert item is not None, log.read_text()[-3000:]
    assert (item.route, item.state, item.score) == (Route.AE, "open", 100)
    assert "scoring.tasks.score_changed" in log.read_text()


def test_the_worker_runs_a_rescore_job_with_progress(celery_worker_process, admin_user):  # noqa: F811
    _proc, log = celery_worker_process
    rule_set_activate_now(RULES, arr_floor=0)
    now = timezone.now()
    segment_ingest(
        identify("u2", "bo@job-co.com", now, name="Bo"),
        track("u2", "Project Created", now),
    )
    with transaction.atomic():
        job = rescore_start(user=admin_user, reason="test")

    job = _wait_for(job.pk)

    assert job.state == Job.State.DONE, (job.message, log.read_text()[-3000:])
    assert job.result["accounts"] == job.total >= 1
    assert job.message.startswith(f"{job.total} accounts scored")
    assert QueueItem.objects.filter(account__domain="job-co.com", route=Route.AE).exists()
