"""The Segment HTTP Tracking API: auth, limits, validation, dedupe, durability."""

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from accounts.models import (
    Account,
    AnonymousId,
    Event,
    IncomingRequest,
    ProductUser,
    RejectedEvent,
    RejectedRequest,
    TouchedDay,
)
from accounts.services.incoming import incoming_drain
from accounts.services.keys import ingestion_key_create, ingestion_key_revoke
from tests.ingest_auth import basic

pytestmark = pytest.mark.django_db


def post(client, path, body, *, key=None, gzip_body=False, raw=None, drain=True):
    """POST like an SDK, then let the drain task turn accepted requests into events
    (in production the worker does it within seconds)."""
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {}
    if key is not None:
        headers["Authorization"] = basic(key)
    if gzip_body:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    response = client.post(
        f"/ingest/v1/{path}", data=data, content_type="application/json", headers=headers
    )
    if drain:
        incoming_drain()
    return response


def track(n=0, **extra):
    return {
        "type": "track",
        "event": "Report Exported",
        "userId": f"u{n}",
        "messageId": f"m-{n}",
        "timestamp": "2026-11-20T10:00:00Z",
        **extra,
    }


def test_batch_with_basic_auth_stores_events_and_answers_success(client, write_key):
    response = post(client, "batch", {"batch": [track(1), track(2)]}, key=write_key)
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["m-1", "m-2"]


def test_an_accepted_request_is_committed_before_200_and_drained_into_events(client, write_key):
    response = post(client, "batch", {"batch": [track(1), track(2)]}, key=write_key, drain=False)
    assert response.status_code == 200
    assert IncomingRequest.objects.count() == 1
    assert not Event.objects.exists()
    result = incoming_drain()
    assert (result.received, result.stored) == (2, 2)
    assert not IncomingRequest.objects.exists()
    assert Event.objects.count() == 2


def test_a_refused_request_is_not_kept(client, write_key):
    post(client, "batch", None, key=write_key, raw=b"[1, 2", drain=False)
    assert not IncomingRequest.objects.exists()


def test_write_key_in_the_body_is_accepted(client, write_key):
    response = post(client, "batch", {"batch": [track(1)], "writeKey": write_key})
    assert response.status_code == 200
    assert Event.objects.count() == 1


@pytest.mark.parametrize(
    ("call", "body", "stored_type", "stored_name"),
    [
        ("track", {"event": "Project Created", "userId": "u1"}, "track", "Project Created"),
        ("page", {"userId": "u1", "properties": {"path": "/pricing"}}, "page", "/pricing"),
        ("screen", {"userId": "u1", "name": "Settings"}, "screen", "Settings"),
        ("identify", {"userId": "u1", "traits": {"email": "a@acme.com"}}, "identify", ""),
        ("group", {"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}}, "group", ""),
        ("alias", {"userId": "u1", "previousId": "anon-1"}, "alias", ""),
    ],
)
def test_each_single_event_call_stores_its_type(
    client, write_key, call, body, stored_type, stored_name
):
    response = post(client, call, body, key=write_key)
    assert response.status_code == 200, response.content
    event = Event.objects.get()
    assert (event.type, event.name) == (stored_type, stored_name)


def test_missing_write_key_is_401_with_a_json_error(client, db):
    response = post(client, "batch", {"batch": [track(1)]})
    assert response.status_code == 401
    assert response.json()["field"] == "writeKey"
    assert "write key is required" in response.json()["error"]
    assert not Event.objects.exists()
    assert RejectedRequest.objects.get().status == 401


def test_unknown_write_key_is_401(client, db):
    response = post(client, "batch", {"batch": [track(1)]}, key="pls_nope")
    assert response.status_code == 401
    assert response.json()["error"] == "the write key is unknown or revoked"


def test_revoked_write_key_is_401(client, db):
    new = ingestion_key_create(name="old")
    ingestion_key_revoke(key_id=new.key.pk)
    response = post(client, "batch", {"batch": [track(1)]}, key=new.plaintext)
    assert response.status_code == 401
    assert not Event.objects.exists()


def test_keys_are_stored_hashed(db):
    new = ingestion_key_create(name="hashed")
    assert new.plaintext not in new.key.key_hash
    assert new.key.prefix == new.plaintext[:12]


def test_invalid_json_is_400_naming_the_body(client, write_key):
    response = post(client, "batch", None, key=write_key, raw=b"{not json")
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert response.json()["error"].startswith("body is not valid JSON")
    assert RejectedRequest.objects.get().status == 400


def test_request_over_500_kb_is_400_and_nothing_is_stored(client, write_key):
    batch = [track(i, properties={"pad": "x" * 20_000}) for i in range(30)]
    response = post(client, "batch", {"batch": batch}, key=write_key)
    assert response.status_code == 400
    message = "request body is over 500 KB (512000 bytes, decompressed)"
    assert response.json() == {
        "success": False,
        "code": "invalid_request",
        "message": message,
        "error": message,
        "field": "body",
    }
    assert not Event.objects.exists()


def test_gzip_over_500_kb_decompressed_is_400(client, write_key):
    batch = [track(i, properties={"pad": "x" * 20_000}) for i in range(30)]
    response = post(client, "batch", {"batch": batch}, key=write_key, gzip_body=True)
    assert response.status_code == 400
    assert "over 500 KB" in response.json()["error"]
    assert not Event.objects.exists()


def test_more_than_2500_events_is_400(client, write_key):
    batch = [{"type": "track", "event": "E", "userId": "u"}] * 2501
    response = post(client, "batch", {"batch": batch}, key=write_key)
    assert response.status_code == 400
    assert response.json()["field"] == "batch"
    assert response.json()["error"] == "batch has 2501 events; the limit is 2500"
    assert not Event.objects.exists()


def test_single_event_call_over_32_kb_is_400(client, write_key):
    body = {"event": "Big", "userId": "u1", "properties": {"pad": "x" * 33_000}}
    response = post(client, "track", body, key=write_key)
    assert response.status_code == 400
    assert response.json()["field"] == "event"
    assert response.json()["error"].startswith("event is over 32 KB (32768 bytes): ")
    assert not Event.objects.exists()


def test_gzip_body_is_accepted(client, write_key):
    response = post(client, "batch", {"batch": [track(1)]}, key=write_key, gzip_body=True)
    assert response.status_code == 200
    assert Event.objects.count() == 1


def test_broken_gzip_is_400(client, write_key):
    response = client.post(
        "/ingest/v1/batch",
        data=b"not gzip at all",
        content_type="application/json",
        headers={"Authorization": basic(write_key), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "body is not valid gzip"


def test_bad_events_in_a_valid_batch_are_kept_for_review_and_the_rest_stored(client, write_key):
    batch = [
        track(1),
        {"type": "track", "event": "No one", "messageId": "m-x"},
        {"type": "explode", "userId": "u3", "messageId": "m-y"},
        track(4, timestamp="yesterday-ish"),
        track(5, properties={"pad": "x" * 33_000}),
        {"type": "track", "userId": "u6", "messageId": "m-z"},
    ]
    response = post(client, "batch", {"batch": batch}, key=write_key)
    assert response.status_code == 200
    assert list(Event.objects.values_list("message_id", flat=True)) == ["m-1"]
    reasons = sorted(RejectedEvent.objects.values_list("field", "reason"))
    assert reasons == [
        ("event", "event (the event name) is required for track"),
        ("event", "event is over 32 KB (32768 bytes)"),
        ("timestamp", "timestamp is not an ISO 8601 date-time"),
        ("type", "type must be one of track, page, screen, identify, group, alias"),
        ("userId", "userId or anonymousId is required"),
    ]
    kept = RejectedEvent.objects.get(field="type")
    assert json.loads(kept.payload)["type"] == "explode"


def test_replaying_a_batch_stores_nothing_new(client, write_key):
    body = {"batch": [track(i) for i in range(20)]}
    post(client, "batch", body, key=write_key)

    def counts():
        return (
            Event.objects.count(),
            ProductUser.objects.count(),
            RejectedEvent.objects.count(),
            Account.objects.count(),
        )

    before = counts()
    response = post(client, "batch", body, key=write_key)
    assert response.status_code == 200
    assert before == counts() == (20, 20, 0, 0)


def test_duplicate_message_ids_inside_one_batch_store_once(client, write_key):
    post(client, "batch", {"batch": [track(1), track(1)]}, key=write_key)
    assert Event.objects.count() == 1


def test_a_retry_without_message_id_dedupes_on_its_content(client, write_key):
    event = {"type": "track", "event": "E", "userId": "u1", "timestamp": "2026-11-20T10:00:00Z"}
    post(client, "batch", {"batch": [event]}, key=write_key)
    post(client, "batch", {"batch": [event]}, key=write_key)
    assert Event.objects.count() == 1


def test_clock_skew_is_corrected_with_batch_level_sent_at(client, write_key):
    now = datetime.now(UTC)
    device_now = now - timedelta(hours=3)  # the device clock is three hours late
    happened = device_now - timedelta(minutes=10)
    body = {
        "batch": [track(1, timestamp=happened.isoformat())],
        "sentAt": device_now.isoformat(),
    }
    post(client, "batch", body, key=write_key)
    stored = Event.objects.get().timestamp
    assert abs((now - timedelta(minutes=10)) - stored) < timedelta(seconds=5)


def test_event_level_sent_at_wins_over_the_batch_level(client, write_key):
    now = datetime.now(UTC)
    event = track(1, timestamp=(now - timedelta(days=1)).isoformat())
    event["sentAt"] = (now - timedelta(days=1)).isoformat()
    post(client, "batch", {"batch": [event], "sentAt": now.isoformat()}, key=write_key)
    assert abs(Event.objects.get().timestamp - now) < timedelta(seconds=5)


def test_user_is_resolved_to_a_company_account_by_email_domain(client, write_key):
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"email": "Jane@EU.Acme.co.uk"}},
        track(1),
    ]
    post(client, "batch", {"batch": batch}, key=write_key)
    account = Account.objects.get()
    assert (account.name, account.domain) == ("Acme", "acme.co.uk")
    assert set(Event.objects.values_list("account", flat=True)) == {account.pk}
    assert TouchedDay.objects.filter(account=account).exists()


def test_free_mail_users_stay_without_an_account(client, write_key):
    batch = [{"type": "identify", "userId": "u1", "traits": {"email": "jane@gmail.com"}}, track(1)]
    post(client, "batch", {"batch": batch}, key=write_key)
    assert not Account.objects.exists()
    assert ProductUser.objects.get().account is None


def test_anonymous_events_join_the_user_after_identify(client, write_key):
    anon = {"type": "page", "anonymousId": "a-1", "properties": {"path": "/pricing"}}
    post(client, "batch", {"batch": [anon]}, key=write_key)
    assert Event.objects.get().user is None
    identify = {
        "type": "identify",
        "userId": "u1",
        "anonymousId": "a-1",
        "traits": {"email": "jane@acme.com"},
    }
    post(client, "batch", {"batch": [identify]}, key=write_key)
    user = ProductUser.objects.get()
    page = Event.objects.get(type="page")
    assert (page.user, page.account) == (user, user.account)
    assert AnonymousId.objects.get().user == user


def test_checkout_and_sales_request_move_the_account_guards(client, write_key):
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"email": "a@acme.com"}},
        {
            "type": "track",
            "userId": "u1",
            "event": "Checkout Started",
            "timestamp": "2026-11-20T10:00:00Z",
        },
        {"type": "page", "userId": "u1", "properties": {"path": "/contact-sales"}},
    ]
    post(client, "batch", {"batch": batch}, key=write_key)
    account = Account.objects.get()
    assert account.checkout_started_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert account.sales_request_at is not None


def test_get_is_405(client, db):
    response = client.get("/ingest/v1/batch")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_ingestion_is_csrf_exempt(write_key):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    assert post(client, "batch", {"batch": [track(1)]}, key=write_key).status_code == 200


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_database_unavailable_answers_503_never_200(client, write_key):
    """A real outage: the test database refuses connections while the request runs."""
    from django.db import connections

    name = connection.settings_dict["NAME"]
    outside = connections.create_connection("default")
    outside.settings_dict = {**outside.settings_dict, "NAME": "postgres"}
    connection.close()
    try:
        with outside.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [name],
            )
        response = post(client, "batch", {"batch": [track(1)]}, key=write_key, drain=False)
        assert response.status_code == 503
        assert response.json()["error"] == "the database is unavailable; retry later"
        assert response["Retry-After"] == "5"
    finally:
        with outside.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        outside.close()
    connection.close()
    assert Event.objects.count() == 0
    # The SDK's retry after the outage is stored.
    assert post(client, "batch", {"batch": [track(1)]}, key=write_key).status_code == 200
    assert Event.objects.count() == 1


def test_the_drain_task_drains_and_skips_while_another_drain_runs(client, write_key):
    from datetime import timedelta

    from accounts.tasks import DRAIN_LOCK, incoming_drain_run
    from pls_portal.services import task_lock

    post(client, "batch", {"batch": [track(1)]}, key=write_key, drain=False)
    with task_lock(name=DRAIN_LOCK, ttl=timedelta(minutes=1)):
        incoming_drain_run.run()
    assert not Event.objects.exists()
    incoming_drain_run.run()
    assert Event.objects.count() == 1
    assert not IncomingRequest.objects.exists()


def test_an_accepted_request_that_no_longer_reads_is_kept_for_review(db):
    from django.utils import timezone

    IncomingRequest.objects.create(call="batch", body="{oops", received_at=timezone.now())
    result = incoming_drain()
    assert result.rejected == 1
    kept = RejectedEvent.objects.get()
    assert (kept.field, kept.payload) == ("body", "{oops")
    assert kept.reason.startswith("accepted request could not be read")
    assert not IncomingRequest.objects.exists()


def test_a_request_the_code_cannot_handle_is_kept_and_the_queue_moves_on(client, write_key):
    # The API only accepts a JSON object; a stored body that is a list breaks the parser.
    post(client, "batch", {"batch": [track(1)]}, key=write_key, drain=False)
    IncomingRequest.objects.create(
        call="batch", body="[1, 2]", received_at=IncomingRequest.objects.get().received_at
    )
    post(client, "batch", {"batch": [track(2)]}, key=write_key, drain=False)
    result = incoming_drain()
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["m-1", "m-2"]
    assert not IncomingRequest.objects.exists()
    assert result.rejected == 1
    kept = RejectedEvent.objects.get()
    assert (kept.payload, kept.field) == ("[1, 2]", "body")
    assert kept.reason.startswith("could not be processed: AttributeError")


def test_a_value_postgresql_would_refuse_is_rejected_by_field_and_the_queue_moves_on(
    client, write_key
):
    # JSON may carry a NUL character (\u0000), which PostgreSQL text cannot hold: the
    # event is rejected by name before the database sees it, on every database.
    post(client, "batch", {"batch": [track(1)]}, key=write_key, drain=False)
    bad = {"batch": [{**track(3), "userId": "u\u0000x"}, track(4)]}
    post(client, "batch", bad, key=write_key, drain=False)
    post(client, "batch", {"batch": [track(2)]}, key=write_key, drain=False)
    result = incoming_drain()
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["m-1", "m-2", "m-4"]
    assert not IncomingRequest.objects.exists()
    assert result.rejected == 1
    kept = RejectedEvent.objects.get()
    assert (kept.field, kept.reason) == (
        "userId",
        "userId contains a NUL character (\\u0000): not storable text",
    )
    assert "\\u0000" in kept.payload
