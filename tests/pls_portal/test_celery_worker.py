"""A real Celery worker process, on the configured broker, runs a job end to end."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from pls_portal.celery import QUEUES
from pls_portal.celery import app as celery_app
from pls_portal.models import Job
from pls_portal.services import MAINTENANCE_KIND, job_create
from pls_portal.tasks import maintenance_job_run
from tests.processes import process_stop

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _test_database_url() -> str:
    """The URL of the database this test runs on (the test database, not the real one)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = f"{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"
    return f"postgres://{host}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(tmp_path):
    celery_app.control.purge()
    log = tmp_path / "worker.log"
    env = os.environ | {
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    cmd = [
        sys.executable, "-m", "celery", "-A", "pls_portal", "worker",
        "--pool=solo", "--loglevel=INFO", "-Q", ",".join(QUEUES),
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        f"--hostname=test-{os.getpid()}@%h",
    ]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=settings.BASE_DIR, env=env, stdout=out, stderr=out)
    yield proc, log
    process_stop(proc, timeout=20)


def _wait_for(job_id: int, timeout: float = 90) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.is_finished:
            return job
        time.sleep(0.25)
    return Job.objects.get(pk=job_id)


def test_real_worker_runs_a_queued_job_and_records_its_progress(celery_worker_process):
    proc, log = celery_worker_process
    past = timezone.now() - timedelta(hours=1)
    Session.objects.bulk_create(
        Session(session_key=f"gone{i:028d}", session_data="x", expire_date=past)
        for i in range(1200)
    )
    job = job_create(kind=MAINTENANCE_KIND)
    maintenance_job_run.delay(job.pk)

    job = _wait_for(job.pk)

    assert proc.poll() is None, log.read_text()[-3000:]
    assert job.state == "done", (job.message, log.read_text()[-3000:])
    assert (job.done, job.total, job.percent) == (1200, 1200, 100)
    assert job.started_at is not None and job.finished_at >= job.started_at
    assert job.message.startswith("Removed 1200 expired sessions")
    assert job.result["sessions"] == 1200
    assert not Session.objects.exists()
    worker_log = log.read_text()
    assert "pls_portal.tasks.maintenance_job_run" in worker_log
    assert "succeeded" in worker_log
