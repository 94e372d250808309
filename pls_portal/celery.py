"""The Celery app: queue names, routing and the beat schedule, declared in one place.

Tasks follow STYLE.md: ids as arguments, idempotent, ``acks_late`` (set globally in
settings) and bounded retries. There is no result backend; work reports through
``pls_portal.Job`` rows.
"""

import os

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pls_portal.settings")

app = Celery("pls_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Queue names. A worker started without -Q consumes all of them (the demo does);
# production can give ingestion and scoring their own workers.
QUEUE_DEFAULT = "default"
QUEUE_INGEST = "ingest"
QUEUE_SCORING = "scoring"
QUEUE_MAINTENANCE = "maintenance"
QUEUES = (QUEUE_DEFAULT, QUEUE_INGEST, QUEUE_SCORING, QUEUE_MAINTENANCE)

app.conf.task_queues = tuple(Queue(name) for name in QUEUES)
app.conf.task_default_queue = QUEUE_DEFAULT
app.conf.task_routes = {
    "accounts.tasks.*": {"queue": QUEUE_INGEST},
    "scoring.tasks.*": {"queue": QUEUE_SCORING},
    "playbooks.tasks.*": {"queue": QUEUE_SCORING},
    "pls_portal.tasks.*": {"queue": QUEUE_MAINTENANCE},
    # Background cache work: never ahead of ingestion or scoring.
    "dossiers.tasks.*": {"queue": QUEUE_MAINTENANCE},
}

# Retry policy shared by every task: a lost database or broker connection is worth a
# few tries with backoff; anything else is a bug and fails the job.
TASK_RETRY_OPTIONS = {
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}

app.conf.beat_schedule = {
    "accounts-drain": {"task": "accounts.tasks.incoming_drain_run", "schedule": 2.0},
    "maintenance-nightly": {
        "task": "pls_portal.tasks.maintenance_run_scheduled",
        "schedule": crontab(hour=3, minute=17),
    },
    "jobs-reap": {"task": "pls_portal.tasks.jobs_reap_run", "schedule": 300.0},
    "accounts-rollup": {"task": "accounts.tasks.rollup_touched", "schedule": 5.0},
    # Scores accounts whose usage the rollup marked changed (DESIGN.md "Decisions").
    "scoring-changed": {"task": "scoring.tasks.score_changed", "schedule": 5.0},
    # Windows slide: every account once a night.
    "scoring-nightly": {"task": "scoring.tasks.score_all", "schedule": crontab(hour=2, minute=7)},
    "scoring-queue-sweep": {"task": "scoring.tasks.queue_sweep_run", "schedule": 60.0},
    # The queue's dossiers built ahead, so a rep never waits for a cold one.
    "dossiers-warm": {"task": "dossiers.tasks.dossiers_warm_run", "schedule": 120.0},
    # Plays re-match accounts whose score row changed; nightly all (account age, windows).
    "play-matches": {"task": "playbooks.tasks.play_matches_run", "schedule": 10.0},
    # Webhooks from the RouteChange log, the daily CRM sync and the delivery log's pruning.
    "outbound": {"task": "feedback.outbound.tasks.outbound_run", "schedule": 5.0},
    "crm-sync-daily": {
        "task": "feedback.outbound.tasks.crm_sync_daily",
        "schedule": crontab(hour=4, minute=13),
    },
    "outbound-prune": {
        "task": "feedback.outbound.tasks.outbound_prune_run",
        "schedule": crontab(hour=3, minute=47),
    },
    # The 1st of each month: freeze last month's PM report and email PMs a link.
    "feedback-report-freeze": {
        "task": "feedback.tasks.report_freeze_run",
        "schedule": crontab(day_of_month=1, hour=6, minute=5),
    },
    "play-matches-nightly": {
        "task": "playbooks.tasks.play_matches_run",
        "schedule": crontab(hour=2, minute=37),
        "kwargs": {"full": True},
    },
}

app.autodiscover_tasks()
