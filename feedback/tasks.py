"""Celery shell around the monthly report freeze (beat: the 1st of each month, see
pls_portal/celery.py)."""

import logging
from smtplib import SMTPException

from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone

from pls_portal.celery import TASK_RETRY_OPTIONS

from .selectors_report import MonthError, month_parse
from .services import FeedbackError, report_freeze, report_freeze_previous_month

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(DatabaseError, SMTPException, OSError), **TASK_RETRY_OPTIONS)
def report_freeze_run(month: str = "") -> None:
    """Freeze the month that just ended (or ``month``, YYYY-MM) and email the PMs its
    link. Idempotent: a second run stores nothing new and sends nothing; a run whose
    email failed sends it on retry."""
    now = timezone.now()
    if month:
        try:
            result = report_freeze(month=month_parse(month, today=now.date()), now=now)
        except (MonthError, FeedbackError) as exc:
            logger.warning("report freeze refused: %s", exc)
            return
    else:
        result = report_freeze_previous_month(now=now)
    logger.info("report freeze: %s", result.summary)
