"""Sending to a real local receiver: signatures it verifies, retries with backoff on
500, bounded attempts, a crash between send and record, resend, Slack format."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from feedback.outbound.models import Delivery, Endpoint, EventType
from feedback.outbound.services import delivery as delivery_service
from feedback.outbound.services.delivery import (
    LEASE,
    MAX_ATTEMPTS,
    deliveries_dispatch,
    delivery_attempt,
    delivery_resend,
)
from feedback.outbound.services.handoff import outbound_handoff
from tests.factories import AccountFactory, UserFactory
from tests.feedback.outbound.factories import RouteChangeFactory, endpoint

pytestmark = pytest.mark.django_db


def _hooked(receiver, event_types=None, fmt=Endpoint.Format.JSON, **receiver_kwargs):
    server = receiver(**receiver_kwargs)
    hook = endpoint(url=server.url, event_types=event_types, format=fmt)
    server.secret = hook.secret
    return server, hook


def _send_due(now) -> list[Delivery | None]:
    """What the beat tick and the delivery tasks do, in-process."""
    return [
        delivery_attempt(delivery_id=pk, token=token, now=now)
        for pk, token in deliveries_dispatch(now=now)
    ]


def _pql(name="Acme", domain="acme.com"):
    account = AccountFactory(name=name, domain=domain)
    return RouteChangeFactory(account=account)


def test_the_receiver_verifies_the_signature_and_gets_the_event(receiver):
    server, _hook = _hooked(receiver)
    change = _pql()
    outbound_handoff()

    [delivery] = _send_due(timezone.now())

    [got] = server.requests
    assert got.verified is True
    assert got.signature.startswith("t=") and ",v1=" in got.signature
    assert (got.event_id, got.event_type, got.attempt) == (
        f"evt_rc_{change.pk}",
        "pql_created",
        "1",
    )
    assert got.json["id"] == f"evt_rc_{change.pk}"
    assert got.json["data"]["account"] == {
        "id": change.account_id,
        "name": "Acme",
        "domain": "acme.com",
        "owner": None,
    }
    assert delivery.state == Delivery.State.DELIVERED
    assert (delivery.attempts, delivery.last_status_code) == (1, 200)
    assert delivery.response_snippet == '{"ok": true}'


def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(receiver):
    server, _hook = _hooked(receiver)
    server.secret = "whsec_not-the-one"
    _pql()
    outbound_handoff()

    [delivery] = _send_due(timezone.now())

    assert server.requests[0].verified is False
    assert delivery.state == Delivery.State.PENDING
    assert delivery.last_status_code == 401
    assert server.processed == {}


def test_500_then_200_retries_after_the_backoff_then_succeeds(receiver):
    server, _hook = _hooked(receiver, statuses=[500, 200])
    _pql()
    t0 = timezone.now()
    outbound_handoff(now=t0)

    [first] = _send_due(t0)
    assert first.state == Delivery.State.PENDING
    assert (first.attempts, first.last_status_code) == (1, 500)
    assert first.last_error == "HTTP 500 Internal Server Error"
    assert first.response_snippet == "receiver says no"
    assert first.next_attempt_at == t0 + timedelta(seconds=30)

    assert _send_due(t0 + timedelta(seconds=29)) == []  # not due yet
    [second] = _send_due(t0 + timedelta(seconds=30))

    assert second.state == Delivery.State.DELIVERED
    assert (second.attempts, second.last_status_code, second.last_error) == (2, 200, "")
    assert [(r.status, r.attempt) for r in server.requests] == [(500, "1"), (200, "2")]
    assert len({r.event_id for r in server.requests}) == 1
    assert len(server.processed) == 1


def test_attempts_are_bounded_and_back_off_exponentially(receiver):
    server, _hook = _hooked(receiver, statuses=[503])
    _pql()
    now = timezone.now()
    outbound_handoff(now=now)
    waits = []
    delivery = None
    for _ in range(MAX_ATTEMPTS):
        [delivery] = _send_due(now)
        if delivery.next_attempt_at:
            waits.append((delivery.next_attempt_at - now).total_seconds())
            now = delivery.next_attempt_at

    assert waits == [30, 60, 120, 240, 480, 960, 1920]
    assert delivery.state == Delivery.State.FAILED
    assert delivery.attempts == MAX_ATTEMPTS == len(server.requests)
    assert _send_due(now + timedelta(days=1)) == []
    assert len(server.requests) == MAX_ATTEMPTS


def test_retry_after_is_honoured(receiver):
    server, _hook = _hooked(receiver, statuses=[429, 200], headers={"Retry-After": "120"})
    _pql()
    now = timezone.now()
    outbound_handoff(now=now)

    [delivery] = _send_due(now)

    assert server.requests[0].status == delivery.last_status_code == 429
    assert delivery.next_attempt_at == now + timedelta(seconds=120)


def test_a_crash_between_send_and_record_resends_and_the_receiver_dedupes(receiver, monkeypatch):
    server, _hook = _hooked(receiver)
    _pql()
    now = timezone.now()
    outbound_handoff(now=now)

    def killed(**kwargs):
        raise SystemExit("worker killed after the POST")

    with monkeypatch.context() as patch:
        patch.setattr(delivery_service, "_record", killed)
        with pytest.raises(SystemExit):
            _send_due(now)

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (Delivery.State.PENDING, 0)
    assert len(server.requests) == 1 and len(server.processed) == 1
    # The lost attempt's lease still holds it; once the lease lapses it goes out again.
    assert _send_due(now + LEASE - timedelta(seconds=1)) == []
    [again] = _send_due(now + LEASE + timedelta(seconds=1))

    assert again.state == Delivery.State.DELIVERED
    assert [r.event_id for r in server.requests] == [delivery.event_id] * 2
    assert [r.duplicate for r in server.requests] == [False, True]
    assert list(server.processed) == [delivery.event_id]


def test_a_duplicate_task_for_the_same_lease_sends_nothing(receiver):
    server, _hook = _hooked(receiver)
    _pql()
    now = timezone.now()
    outbound_handoff(now=now)
    [(delivery_id, token)] = deliveries_dispatch(now=now)

    first = delivery_attempt(delivery_id=delivery_id, token=token, now=now)
    duplicate = delivery_attempt(delivery_id=delivery_id, token=token, now=now)

    assert first.state == Delivery.State.DELIVERED
    assert duplicate is None
    assert len(server.requests) == 1


def test_resend_sends_the_same_event_again_from_the_first_attempt(receiver):
    server, _hook = _hooked(receiver)
    _pql()
    now = timezone.now()
    outbound_handoff(now=now)
    _send_due(now)
    admin = UserFactory(admin=True)

    delivery_resend(delivery_id=Delivery.objects.get().pk, user=admin, now=now)
    [resent] = _send_due(now)

    assert resent.state == Delivery.State.DELIVERED
    assert (resent.attempts, resent.resent_by) == (1, admin)
    assert [r.duplicate for r in server.requests] == [False, True]
    assert len({r.event_id for r in server.requests}) == 1


def test_slack_endpoints_get_a_text_payload_still_signed(receiver):
    server, _hook = _hooked(
        receiver, event_types=[EventType.PQL_CREATED], fmt=Endpoint.Format.SLACK
    )
    _pql(name="Acme <Labs> & Co")
    outbound_handoff()

    [delivery] = _send_due(timezone.now())

    [got] = server.requests
    assert got.verified and delivery.state == Delivery.State.DELIVERED
    text = ":dart: New PQL: Acme &lt;Labs&gt; &amp; Co → AE queue — queue item opened: score 82"
    assert got.json == {"text": text}


def test_an_unreachable_endpoint_is_recorded_and_retried():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    endpoint(url=f"http://127.0.0.1:{port}/hooks")
    _pql()
    now = timezone.now()
    outbound_handoff(now=now)

    [delivery] = _send_due(now)

    assert delivery.state == Delivery.State.PENDING
    assert delivery.last_status_code is None
    assert "Connection refused" in delivery.last_error
    assert delivery.next_attempt_at == now + timedelta(seconds=30)


def test_a_redirect_is_a_failure_not_followed(receiver):
    server, _hook = _hooked(
        receiver, statuses=[302], headers={"Location": "http://127.0.0.1:9/elsewhere"}
    )
    _pql()
    outbound_handoff()

    [delivery] = _send_due(timezone.now())

    assert (delivery.state, delivery.last_status_code) == (Delivery.State.PENDING, 302)
    assert len(server.requests) == 1


def test_an_inactive_endpoint_keeps_its_pending_deliveries_until_reactivated(receiver):
    server, hook = _hooked(receiver)
    _pql()
    outbound_handoff()
    Endpoint.objects.filter(pk=hook.pk).update(is_active=False)

    assert _send_due(timezone.now()) == []

    Endpoint.objects.filter(pk=hook.pk).update(is_active=True)
    [delivery] = _send_due(timezone.now())
    assert delivery.state == Delivery.State.DELIVERED
    assert len(server.requests) == 1
