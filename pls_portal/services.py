"""Writes owned by pls_portal: jobs (progress of long work), task locks, maintenance."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from .models import Job, TaskLock, User

logger = logging.getLogger(__name__)

MESSAGE_MAX = Job._meta.get_field("message").max_length


class JobNotRunnable(Exception):
    """The job is already running or finished; a duplicate delivery must not rerun it."""


class ProgressBar(Protocol):
    """What a terminal progress bar (tqdm) offers; commands pass one in."""

    total: float | None

    def update(self, n: float = 1) -> object: ...
    def set_description(self, desc: str | None = None, refresh: bool = True) -> None: ...
    def refresh(self) -> None: ...


def _clip(message: str) -> str:
    return message if len(message) <= MESSAGE_MAX else message[: MESSAGE_MAX - 1] + "…"


def job_create(
    *,
    kind: str,
    created_by: User | None = None,
    params: dict | None = None,
    total: int | None = None,
    message: str = "",
) -> Job:
    """Record a queued job; the caller enqueues the work with ``transaction.on_commit``."""
    return Job.objects.create(
        kind=kind,
        created_by=created_by,
        params=params or {},
        total=total,
        message=_clip(message or "Waiting for a worker…"),
    )


def job_start(*, job_id: int, total: int | None = None, message: str = "") -> Job:
    """Move a queued job to running. A second delivery of the same task is refused."""
    now = timezone.now()
    updated = Job.objects.filter(pk=job_id, state=Job.State.QUEUED).update(
        state=Job.State.RUNNING,
        started_at=now,
        total=total,
        done=0,
        message=_clip(message or "Started"),
        updated_at=now,
    )
    if not updated:
        raise JobNotRunnable(job_id)
    return Job.objects.get(pk=job_id)


def job_advance(
    *, job_id: int, done: int, total: int | None = None, message: str | None = None
) -> None:
    """Record progress of a running job (one UPDATE, no read)."""
    changes: dict = {"done": done, "updated_at": timezone.now()}
    if total is not None:
        changes["total"] = total
    if message is not None:
        changes["message"] = _clip(message)
    Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(**changes)


def job_finish(*, job_id: int, message: str = "Done", result: dict | None = None) -> None:
    now = timezone.now()
    Job.objects.filter(pk=job_id).exclude(state__in=Job.FINISHED_STATES).update(
        state=Job.State.DONE,
        # A finished job shows a full bar; what it did in detail is in message and result.
        total=models.functions.Coalesce("total", "done"),
        done=models.functions.Coalesce("total", "done"),
        message=_clip(message),
        result=result or {},
        finished_at=now,
        updated_at=now,
    )


def job_fail(*, job_id: int, message: str) -> None:
    now = timezone.now()
    Job.objects.filter(pk=job_id).exclude(state__in=Job.FINISHED_STATES).update(
        state=Job.State.FAILED, message=_clip(message), finished_at=now, updated_at=now
    )


@dataclass
class JobProgress:
    """Progress of one running job, written to its row at most every ``interval`` seconds
    and mirrored to a terminal bar when a command passes one."""

    job_id: int
    bar: ProgressBar | None = None
    interval: float = 0.5
    done: int = 0
    total: int | None = None
    message: str = ""
    result: dict = field(default_factory=dict)
    _last_write: float = field(default=0.0, repr=False)

    def set_total(self, total: int) -> None:
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()
        self._write(force=True)

    def advance(self, n: int = 1, message: str | None = None) -> None:
        self.done += n
        if message is not None:
            self.message = message
            if self.bar is not None:
                self.bar.set_description(message, refresh=False)
        if self.bar is not None:
            self.bar.update(n)
        self._write()

    def _write(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < self.interval:
            return
        self._last_write = now
        done = min(self.done, self.total) if self.total is not None else self.done
        job_advance(job_id=self.job_id, done=done, total=self.total, message=self.message)


@contextmanager
def job_running(
    *, job_id: int, bar: ProgressBar | None = None, interval: float = 0.5
) -> Iterator[JobProgress]:
    """Run the body as the job: running on entry, done on a clean exit, failed (with the
    error) on an exception, which is re-raised for the caller's retry policy."""
    job_start(job_id=job_id)
    progress = JobProgress(job_id=job_id, bar=bar, interval=interval)
    try:
        yield progress
    except Exception as exc:
        logger.exception("job failed job_id=%s", job_id)
        job_fail(job_id=job_id, message=f"Failed: {exc.__class__.__name__}: {exc}")
        raise
    progress._write(force=True)
    job_finish(job_id=job_id, message=progress.message or "Done", result=progress.result)


# --- Task locks -------------------------------------------------------------------------


# Names held by this process: a lock is never granted twice, even to the same connection
# (PostgreSQL grants a session's advisory lock to that session again).
_HELD: set[str] = set()


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for the name (PostgreSQL advisory locks take bigint)."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


def _advisory(function: str, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [_advisory_key(name)])
        return bool(cursor.fetchone()[0])


@contextmanager
def task_lock(*, name: str, ttl: timedelta) -> Iterator[bool]:
    """Hold the named lock for the body; yields False (and holds nothing) when another
    run has it. Periodic tasks skip instead of piling up.

    On PostgreSQL the lock is a session advisory lock: the server lets go of it the moment
    the holder's connection ends, so a worker killed mid-run (``kill -9``, a lost machine)
    never blocks the next run; the ``TaskLock`` row only records who holds it. On SQLite
    (the embedded demo) the row is the lock and a killed holder's lock expires after
    ``ttl``."""
    now = timezone.now()
    if name in _HELD:
        yield False
        return
    TaskLock.objects.get_or_create(name=name, defaults={"expires_at": now})
    token = uuid.uuid4().hex
    if connection.vendor == "postgresql":
        acquired = _advisory("pg_try_advisory_lock", name)
        if acquired:
            TaskLock.objects.filter(name=name).update(owner=token, expires_at=now + ttl)
    else:
        acquired = (
            TaskLock.objects.filter(name=name, expires_at__lte=now).update(
                owner=token, expires_at=now + ttl
            )
            == 1
        )
    if acquired:
        _HELD.add(name)
    try:
        yield acquired
    finally:
        if acquired:
            _HELD.discard(name)
            _release(name, token)


def task_lock_held(name: str) -> bool:
    """Whether some run holds the named lock now. On PostgreSQL the server's own lock
    table answers (a killed holder's stale ``TaskLock`` row does not count); on SQLite
    the row does, until its TTL."""
    if connection.vendor == "postgresql":
        # A bigint advisory key is kept as its high and low 32 bits (objsubid 1).
        key = _advisory_key(name)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND objsubid = 1 AND granted AND classid = %s AND objid = %s)",
                [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
            )
            return bool(cursor.fetchone()[0])
    return (
        TaskLock.objects.filter(name=name, expires_at__gt=timezone.now()).exclude(owner="").exists()
    )


def _release(name: str, token: str) -> None:
    try:
        TaskLock.objects.filter(name=name, owner=token).update(owner="", expires_at=timezone.now())
        if connection.vendor == "postgresql" and connection.connection is not None:
            _advisory("pg_advisory_unlock", name)
    except DatabaseError:
        # The body left the connection unusable (a failed transaction still open): ending
        # the session is the one way to let go of its lock. The body's own error, if any,
        # is what propagates.
        logger.warning("task lock %s: connection unusable, closed to release it", name)
        connection.close()


def jobs_reap_stale(*, now=None) -> int:
    """Fail running jobs that made no progress for ``PLS_JOB_STALE_MINUTES``: their worker
    was killed or lost (a redelivered task never reruns a job that started). Every long
    job reports progress at least once per chunk, far more often than that."""
    now = now or timezone.now()
    minutes = settings.PLS_JOB_STALE_MINUTES
    return Job.objects.filter(
        state=Job.State.RUNNING, updated_at__lt=now - timedelta(minutes=minutes)
    ).update(
        state=Job.State.FAILED,
        finished_at=now,
        updated_at=now,
        message=_clip(
            f"Stopped: no progress for {minutes} minutes, so its worker was stopped or lost. "
            "What it finished is kept; start it again to do the rest."
        ),
    )


# --- Maintenance --------------------------------------------------------------------------

MAINTENANCE_KIND = "maintenance"
MAINTENANCE_BATCH = 1000


@dataclass(frozen=True)
class MaintenanceResult:
    sessions: int
    login_attempts: int
    login_logs: int
    jobs: int

    @property
    def total(self) -> int:
        return self.sessions + self.login_attempts + self.login_logs + self.jobs


def _maintenance_targets(now) -> list[tuple[str, models.QuerySet]]:
    from axes.models import AccessAttempt, AccessLog
    from django.contrib.sessions.models import Session

    retention = now - timedelta(days=settings.PLS_JOB_RETENTION_DAYS)
    return [
        ("sessions", Session.objects.filter(expire_date__lt=now)),
        (
            "login_attempts",
            AccessAttempt.objects.filter(attempt_time__lt=now - settings.AXES_COOLOFF_TIME),
        ),
        ("login_logs", AccessLog.objects.filter(attempt_time__lt=retention)),
        (
            "jobs",
            Job.objects.filter(state__in=Job.FINISHED_STATES, finished_at__lt=retention),
        ),
    ]


def maintenance_run(*, job_id: int, bar: ProgressBar | None = None) -> MaintenanceResult:
    """Delete what has outlived its use: expired sessions, login attempts past their
    cool-off, login logs and finished jobs past the retention. Deletes in batches so a
    large backlog never holds one long write lock (SQLite) or a huge transaction."""
    now = timezone.now()
    targets = _maintenance_targets(now)
    counts = dict.fromkeys((name for name, _ in targets), 0)
    with job_running(job_id=job_id, bar=bar) as progress:
        progress.set_total(sum(qs.count() for _, qs in targets))
        for name, qs in targets:
            while ids := list(qs.values_list("pk", flat=True)[:MAINTENANCE_BATCH]):
                with transaction.atomic():
                    deleted = (
                        qs.model.objects.filter(pk__in=ids).delete()[1].get(qs.model._meta.label, 0)
                    )
                counts[name] += deleted
                progress.advance(deleted, message=f"Removing {name.replace('_', ' ')}")
        result = MaintenanceResult(**counts)
        progress.result = counts
        progress.message = (
            f"Removed {result.sessions} expired sessions, {result.login_attempts} old login "
            f"attempts, {result.login_logs} login log entries and {result.jobs} old jobs"
        )
    logger.info("maintenance done job_id=%s %s", job_id, counts)
    return result
