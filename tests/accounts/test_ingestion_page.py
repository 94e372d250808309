"""The admin's Ingestion page (write keys, refused requests, rejected events) and the
tracking plan page."""

import pytest
from django.urls import reverse

from accounts.models import IngestionKey, RejectedEvent, RejectedRequest
from accounts.services.keys import ingestion_key_check, ingestion_key_create

pytestmark = pytest.mark.django_db


def _reject(reason, n, field="userId"):
    from django.utils import timezone

    RejectedEvent.objects.bulk_create(
        RejectedEvent(
            source="http", reason=reason, field=field, payload="{}", received_at=timezone.now()
        )
        for _ in range(n)
    )


def test_admin_creates_a_write_key_and_sees_it_once(login, admin_user):
    client = login(admin_user)
    response = client.post(reverse("accounts:ingestion_key_new"), {"name": "web app"})
    assert response.status_code == 200
    plaintext = response.context["new_key"].plaintext
    assert plaintext in response.content.decode()
    assert ingestion_key_check(plaintext=plaintext).name == "web app"
    later = client.get(reverse("accounts:ingestion")).content.decode()
    assert plaintext not in later
    assert IngestionKey.objects.get().prefix in later


def test_a_key_without_a_name_is_refused_with_the_field_named(login, admin_user):
    response = login(admin_user).post(reverse("accounts:ingestion_key_new"), {"name": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not IngestionKey.objects.exists()


def test_revoking_a_key_makes_it_fail_auth(login, admin_user):
    new = ingestion_key_create(name="old sdk")
    response = login(admin_user).post(
        reverse("accounts:ingestion_key_revoke", kwargs={"key_id": new.key.pk}), follow=True
    )
    assert "Write key “old sdk” revoked" in response.content.decode()
    assert ingestion_key_check(plaintext=new.plaintext) is None


def test_rejected_events_are_counted_per_reason_newest_first(login, admin_user):
    _reject("userId or anonymousId is required", 3)
    _reject("timestamp is not an ISO 8601 date-time", 2, field="timestamp")
    response = login(admin_user).get(reverse("accounts:ingestion"))
    reasons = [
        (r["reason"], r["count"]) for r in response.context["overview"].rejected_event_reasons
    ]
    assert reasons == [
        ("timestamp is not an ISO 8601 date-time", 2),
        ("userId or anonymousId is required", 3),
    ]
    assert response.context["overview"].rejected_events_total == 5


def test_filtering_rejected_events_by_reason(login, admin_user):
    _reject("userId or anonymousId is required", 3)
    _reject("timestamp is not an ISO 8601 date-time", 2, field="timestamp")
    response = login(admin_user).get(
        reverse("accounts:ingestion"), {"reason": "userId or anonymousId is required"}
    )
    assert len(response.context["page"].object_list) == 3


def test_admin_deletes_rejected_events_of_one_reason(login, admin_user):
    _reject("userId or anonymousId is required", 3)
    _reject("timestamp is not an ISO 8601 date-time", 2, field="timestamp")
    response = login(admin_user).post(
        reverse("accounts:rejected_delete"),
        {"reason": "userId or anonymousId is required"},
        follow=True,
    )
    assert "Deleted 3 rejected events with reason" in response.content.decode()
    assert set(RejectedEvent.objects.values_list("reason", flat=True)) == {
        "timestamp is not an ISO 8601 date-time"
    }


def test_refused_requests_are_counted_for_admins(client, login, admin_user):
    client.post("/ingest/v1/batch", data=b"{}", content_type="application/json")
    assert RejectedRequest.objects.count() == 1
    body = login(admin_user).get(reverse("accounts:ingestion")).content.decode()
    assert 'data-testid="refused-day">1<' in body
    assert "a write key is required" in body


def test_empty_ingestion_page_explains_what_to_do(login, admin_user):
    body = login(admin_user).get(reverse("accounts:ingestion")).content.decode()
    assert "No write keys yet: create one to start sending events." in body
    assert "No rejected events" in body


def test_tracking_plan_page_lists_the_default_plan_and_plans(
    login, admin_user, django_assert_max_num_queries
):
    client = login(admin_user)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("accounts:tracking_plan"))
    body = response.content.decode()
    assert "Checkout Started" in body and "<code>/pricing</code>" in body
    assert "Seats: <strong>5</strong>" in body


def test_requests_waiting_for_the_worker_are_shown(client, login, admin_user):
    import base64
    import json

    key = ingestion_key_create(name="sdk").plaintext
    client.post(
        "/ingest/v1/track",
        data=json.dumps({"userId": "u1", "event": "Project Created"}),
        content_type="application/json",
        headers={"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()},
    )
    body = login(admin_user).get(reverse("accounts:ingestion")).content.decode()
    assert 'data-testid="waiting">1<' in body
