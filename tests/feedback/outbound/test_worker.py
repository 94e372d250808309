"""Webhooks through a real Celery worker: the beat's tick task hands a route change off
and the delivery task sends it to a local receiver, which verifies the signature."""

import time

import pytest

from feedback.outbound.models import Delivery
from feedback.outbound.tasks import outbound_run
from tests.feedback.outbound.factories import RouteChangeFactory, endpoint
from tests.pls_portal.test_celery_worker import celery_worker_process  # noqa: F401

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _until(check, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.25)
    return None


def test_the_worker_delivers_a_route_change_after_a_500(celery_worker_process, receiver):  # noqa: F811
    proc, log = celery_worker_process
    server = receiver(statuses=[500, 200])
    hook = endpoint(url=server.url)
    server.secret = hook.secret
    change = RouteChangeFactory()

    outbound_run.delay()
    failed_once = _until(lambda: Delivery.objects.filter(attempts=1, last_status_code=500).first())
    assert failed_once is not None, log.read_text()[-3000:]
    # The retry is due 30 s later; bring it forward rather than wait.
    Delivery.objects.filter(pk=failed_once.pk).update(next_attempt_at=failed_once.created_at)
    outbound_run.delay()
    delivered = _until(lambda: Delivery.objects.filter(state="delivered").first())

    assert proc.poll() is None, log.read_text()[-3000:]
    assert delivered is not None, log.read_text()[-3000:]
    assert delivered.attempts == 2
    assert [(r.status, r.verified) for r in server.requests] == [(500, True), (200, True)]
    assert list(server.processed) == [f"evt_rc_{change.pk}"]
    assert "feedback.outbound.tasks.delivery_send" in log.read_text()
