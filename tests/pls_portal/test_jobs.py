"""The Job service API, its progress partial, and the maintenance job built on it."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from pls_portal.models import Job, TaskLock
from pls_portal.services import (
    JobNotRunnable,
    job_advance,
    job_create,
    job_fail,
    job_finish,
    job_running,
    job_start,
    jobs_reap_stale,
    maintenance_run,
    task_lock,
    task_lock_held,
)
from pls_portal.tasks import jobs_reap_run, maintenance_job_run
from tests.factories import JobFactory


def _expired_sessions(n):
    past = timezone.now() - timedelta(days=1)
    Session.objects.bulk_create(
        Session(session_key=f"expired{i:030d}", session_data="x", expire_date=past)
        for i in range(n)
    )


def test_job_life_cycle_records_progress_and_times(admin_user):
    job = job_create(kind="import", created_by=admin_user, params={"file": "events.jsonl"})
    assert (job.state, job.message) == ("queued", "Waiting for a worker…")
    job_start(job_id=job.pk, total=200, message="Reading events.jsonl")
    job_advance(job_id=job.pk, done=50, message="50 rows read")
    job.refresh_from_db()
    assert (job.state, job.done, job.total, job.percent) == ("running", 50, 200, 25)
    assert job.started_at is not None and job.finished_at is None
    job_finish(job_id=job.pk, message="200 rows imported", result={"rows": 200})
    job.refresh_from_db()
    assert (job.state, job.message, job.result) == ("done", "200 rows imported", {"rows": 200})
    assert job.finished_at >= job.started_at


def test_a_duplicate_delivery_cannot_start_a_job_twice(db):
    job = JobFactory()
    job_start(job_id=job.pk)
    with pytest.raises(JobNotRunnable):
        job_start(job_id=job.pk)


def test_a_finished_job_is_not_changed_by_late_progress(db):
    job = JobFactory()
    job_start(job_id=job.pk, total=10)
    job_fail(job_id=job.pk, message="Failed: broken file")
    job_advance(job_id=job.pk, done=5)
    job_finish(job_id=job.pk)
    job.refresh_from_db()
    assert (job.state, job.done, job.message) == ("failed", 0, "Failed: broken file")


def test_job_running_marks_failure_with_the_error_and_reraises(db):
    job = JobFactory()
    with pytest.raises(ValueError, match="line 7"), job_running(job_id=job.pk) as progress:
        progress.set_total(10)
        progress.advance(3)
        raise ValueError("bad value on line 7")
    job.refresh_from_db()
    assert job.state == "failed"
    assert job.message == "Failed: ValueError: bad value on line 7"


def test_job_without_a_known_size_ends_at_100_percent(db):
    job = JobFactory()
    with job_running(job_id=job.pk, interval=0) as progress:
        progress.advance(7)
    job.refresh_from_db()
    assert (job.state, job.done, job.total, job.percent) == ("done", 7, 7, 100)


def test_progress_partial_polls_while_running_and_stops_when_done(login, admin_user):
    job = JobFactory(created_by=admin_user)
    client = login(admin_user)
    url = reverse("job_detail", kwargs={"job_id": job.pk})
    job_start(job_id=job.pk, total=40)
    job_advance(job_id=job.pk, done=10, message="Scoring accounts")

    partial = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial
    assert 'hx-trigger="every 1s"' in partial
    assert 'value="25"' in partial
    assert "10 of 40 (25 %)" in partial and "Scoring accounts" in partial

    job_finish(job_id=job.pk, message="40 accounts scored")
    partial = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in partial
    assert "40 accounts scored" in partial and 'value="100"' in partial


def test_job_page_is_scoped_to_its_creator_and_admins(login, ae, sdr, admin_user):
    job = JobFactory(created_by=ae)
    url = reverse("job_detail", kwargs={"job_id": job.pk})
    assert login(ae).get(url).status_code == 200
    assert login(sdr).get(url).status_code == 404
    assert login(admin_user).get(url).status_code == 200


def test_jobs_page_lists_jobs_with_pagination(login, admin_user):
    JobFactory.create_batch(30, created_by=admin_user)
    client = login(admin_user)
    page1 = client.get(reverse("jobs"))
    assert len(page1.context["page"].object_list) == 25
    assert "Page 1 of 2" in page1.content.decode()
    page2 = client.get(reverse("jobs") + "?page=2")
    assert len(page2.context["page"].object_list) == 5


def test_jobs_page_empty_state(login, admin_user):
    body = login(admin_user).get(reverse("jobs")).content.decode()
    assert "No jobs yet" in body


def test_run_maintenance_button_queues_a_job_after_commit(
    login, admin_user, django_capture_on_commit_callbacks
):
    client = login(admin_user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("maintenance_start"))
    job = Job.objects.get()
    assert response["Location"] == reverse("job_detail", kwargs={"job_id": job.pk})
    assert (job.kind, job.state, job.created_by) == ("maintenance", "queued", admin_user)
    assert len(callbacks) == 1  # the task is sent only once the job row is committed


def test_maintenance_deletes_only_what_outlived_its_use(db, settings):
    _expired_sessions(3)
    Session.objects.create(
        session_key="live" + "0" * 28, session_data="x", expire_date=timezone.now() + timedelta(1)
    )
    old = JobFactory(state="done", finished_at=timezone.now() - timedelta(days=100))
    recent = JobFactory(state="done", finished_at=timezone.now() - timedelta(days=2))
    job = JobFactory(created_by=None)

    result = maintenance_run(job_id=job.pk)

    assert (result.sessions, result.jobs, result.total) == (3, 1, 4)
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live" + "0" * 28]
    assert not Job.objects.filter(pk=old.pk).exists()
    assert Job.objects.filter(pk=recent.pk).exists()
    job.refresh_from_db()
    assert (job.state, job.done, job.total) == ("done", 4, 4)
    assert job.message.startswith("Removed 3 expired sessions")
    assert job.result == {"sessions": 3, "login_attempts": 0, "login_logs": 0, "jobs": 1}


def test_maintenance_command_shows_a_progress_bar_and_a_summary(db, capsys):
    _expired_sessions(2)
    call_command("maintenance")
    out, err = capsys.readouterr()
    assert "removed 2 rows: 2 sessions" in out
    assert "Maintenance" in err and "2/2" in err
    assert Job.objects.get().state == "done"


def test_task_lock_lets_one_run_in_and_others_skip(db):
    ttl = timedelta(minutes=5)
    with task_lock(name="rollup", ttl=ttl) as first, task_lock(name="rollup", ttl=ttl) as second:
        assert (first, second) == (True, False)
    with task_lock(name="rollup", ttl=timedelta(minutes=5)) as again:
        assert again is True


def test_task_lock_of_a_killed_run_expires(db):
    TaskLock.objects.create(
        name="rollup", owner="dead", expires_at=timezone.now() - timedelta(seconds=1)
    )
    with task_lock(name="rollup", ttl=timedelta(minutes=5)) as acquired:
        assert acquired


@pytest.mark.sqlite_only
def test_task_lock_of_a_killed_run_blocks_until_its_ttl_on_sqlite(db):
    TaskLock.objects.create(
        name="rollup", owner="dead", expires_at=timezone.now() + timedelta(minutes=1)
    )
    with task_lock(name="rollup", ttl=timedelta(minutes=5)) as acquired:
        assert acquired is False


@pytest.mark.postgres_only
def test_task_lock_of_a_killed_holder_is_free_at_once_on_postgresql(db):
    """The row still names a holder for two more hours, but no live session holds the
    advisory lock (the holder's connection ended with its process): the next run goes."""
    TaskLock.objects.create(
        name="scoring-run", owner="dead", expires_at=timezone.now() + timedelta(hours=2)
    )
    with task_lock(name="scoring-run", ttl=timedelta(minutes=5)) as acquired:
        assert acquired is True
        assert TaskLock.objects.get(name="scoring-run").owner not in ("", "dead")
    assert TaskLock.objects.get(name="scoring-run").owner == ""


@pytest.mark.postgres_only
def test_task_lock_held_by_another_session_is_refused_until_that_session_ends(db):
    from pls_portal.services import _advisory_key

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_advisory_key("rollup")])
        with task_lock(name="rollup", ttl=timedelta(minutes=5)) as acquired:
            assert acquired is False
    finally:
        other.close()  # what a killed worker's connection does
    with task_lock(name="rollup", ttl=timedelta(minutes=5)) as acquired:
        assert acquired is True


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lock_whose_body_broke_its_transaction_is_still_let_go():
    """A database error inside a transaction leaves nothing runnable on the connection
    until the rollback, not even the unlock: the session is closed instead, which lets
    go of the lock, and the body's own error is what the caller sees."""
    from django.db import DataError, connection, transaction

    from pls_portal.services import _advisory_key

    with (
        pytest.raises(DataError),
        transaction.atomic(),
        task_lock(name="rollup", ttl=timedelta(minutes=5)) as acquired,
    ):
        assert acquired
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_advisory_key("rollup")])
            assert cursor.fetchone()[0] is True
    finally:
        other.close()
    with task_lock(name="rollup", ttl=timedelta(minutes=5)) as acquired:
        assert acquired


def test_a_held_lock_is_seen_as_held_and_a_released_one_is_not(db):
    assert not task_lock_held("scoring-run")
    with task_lock(name="scoring-run", ttl=timedelta(minutes=5)):
        assert task_lock_held("scoring-run")
    assert not task_lock_held("scoring-run")


@pytest.mark.postgres_only
def test_a_killed_holders_stale_row_does_not_count_as_held_but_a_live_session_does(db):
    from pls_portal.services import _advisory_key

    TaskLock.objects.create(
        name="scoring-run", owner="dead", expires_at=timezone.now() + timedelta(hours=2)
    )
    assert not task_lock_held("scoring-run")
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_advisory_key("scoring-run")])
        assert task_lock_held("scoring-run")
    finally:
        other.close()
    assert not task_lock_held("scoring-run")


def test_stalled_running_jobs_are_failed_with_a_clear_message(db, settings):
    settings.PLS_JOB_STALE_MINUTES = 30
    now = timezone.now()
    stalled = JobFactory(created_by=None, state="running", kind="rescore")
    busy = JobFactory(created_by=None, state="running", kind="rescore")
    queued = JobFactory(created_by=None, state="queued", kind="rescore")
    Job.objects.filter(pk__in=[stalled.pk, queued.pk]).update(
        updated_at=now - timedelta(minutes=31)
    )
    Job.objects.filter(pk=busy.pk).update(updated_at=now - timedelta(minutes=29))

    jobs_reap_run.run()

    stalled.refresh_from_db()
    assert stalled.state == "failed" and stalled.finished_at is not None
    assert "no progress for 30 minutes" in stalled.message
    assert "start it again" in stalled.message
    assert Job.objects.get(pk=busy.pk).state == "running"
    assert Job.objects.get(pk=queued.pk).state == "queued"
    assert jobs_reap_stale() == 0


def test_beat_reaps_stalled_jobs_every_five_minutes():
    from pls_portal.celery import app

    entry = app.conf.beat_schedule["jobs-reap"]
    assert (entry["task"], entry["schedule"]) == ("pls_portal.tasks.jobs_reap_run", 300.0)


def test_maintenance_task_skips_when_another_run_holds_the_lock(db):
    job = JobFactory(created_by=None)
    with task_lock(name="maintenance", ttl=timedelta(minutes=5)):
        maintenance_job_run.run(job.pk)
    job.refresh_from_db()
    assert job.state == "failed"
    assert "another maintenance run was in progress" in job.message


def test_maintenance_task_for_a_vanished_job_ends_quietly(db):
    maintenance_job_run.run(123456)
    assert not Job.objects.exists()
