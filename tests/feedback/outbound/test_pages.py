"""The outbound pages as admins and PMs see them: endpoints (secret shown once, reveal,
rotate, delete with confirm, test event), the delivery log (filters, pagination,
resend), the CRM sync page and the two CSV downloads."""

import csv
import io

import pytest
from django.urls import reverse

from feedback.outbound.models import CrmSync, Delivery, Endpoint, EventType
from feedback.outbound.services.crm_sync import crm_sync_run
from feedback.outbound.services.handoff import outbound_handoff
from pls_portal.models import Job
from scoring.selectors import SCORE_EXPORT_COLUMNS
from tests.factories import AccountFactory
from tests.feedback.outbound.factories import RouteChangeFactory, endpoint
from tests.scoring.factories import AccountScoreFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_creating_an_endpoint_shows_its_secret_once(login, admin_user):
    client = login(admin_user)

    response = client.post(
        reverse("feedback:outbound_endpoint_new"),
        {
            "name": "Salesforce",
            "url": "https://hooks.example.com/pls",
            "event_types": ["pql_created", "closed"],
            "format": "json",
            "is_active": "on",
        },
    )

    hook = Endpoint.objects.get()
    assert response.status_code == 201
    assert hook.secret.startswith("whsec_")
    assert hook.secret in response.content.decode()
    assert (hook.event_types, hook.created_by) == (["pql_created", "closed"], admin_user)
    page = client.get(reverse("feedback:outbound_endpoint_edit", args=[hook.pk])).content.decode()
    assert hook.secret not in page
    assert hook.secret[:10] + "…" in page


def test_an_invalid_endpoint_form_names_the_fields(login, admin_user):
    response = login(admin_user).post(
        reverse("feedback:outbound_endpoint_new"),
        {"name": "", "url": "ftp://files.example.com", "format": "json"},
    )

    body = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-name"' in body
    assert "Enter an http:// or https:// URL." in body
    assert "Choose at least one event type." in body
    assert not Endpoint.objects.exists()


def test_a_duplicate_name_is_refused(login, admin_user):
    endpoint(name="CRM")
    response = login(admin_user).post(
        reverse("feedback:outbound_endpoint_new"),
        {
            "name": "CRM",
            "url": "https://x.example.com",
            "event_types": ["closed"],
            "format": "json",
        },
    )
    assert response.status_code == 400
    assert "An endpoint with this name exists." in response.content.decode()


def test_editing_changes_subscriptions_and_state(login, admin_user):
    hook = endpoint(name="CRM")
    response = login(admin_user).post(
        reverse("feedback:outbound_endpoint_edit", args=[hook.pk]),
        {
            "name": "CRM",
            "url": "https://crm.example.com/h",
            "event_types": ["closed"],
            "format": "slack",
        },
    )

    hook.refresh_from_db()
    assert response.status_code == 302
    assert (hook.url, hook.event_types, hook.format, hook.is_active) == (
        "https://crm.example.com/h",
        ["closed"],
        "slack",
        False,
    )


def test_admins_reveal_and_rotate_the_secret(login, admin_user):
    hook = endpoint()
    old = hook.secret
    client = login(admin_user)

    revealed = client.post(reverse("feedback:outbound_endpoint_secret", args=[hook.pk]), **HTMX)
    rotated = client.post(reverse("feedback:outbound_endpoint_rotate", args=[hook.pk]))

    hook.refresh_from_db()
    assert revealed.status_code == 200 and old in revealed.content.decode()
    assert "<html" not in revealed.content.decode()  # the fragment only
    assert hook.secret != old and hook.secret_rotated_at is not None
    assert hook.secret in rotated.content.decode()


def test_deleting_asks_first_then_removes_the_endpoint_and_its_log(login, admin_user):
    hook = endpoint(name="Old CRM")
    RouteChangeFactory()
    outbound_handoff()
    client = login(admin_user)

    confirm = client.get(reverse("feedback:outbound_endpoint_delete", args=[hook.pk]))
    assert "1 pending (never sent)" in confirm.content.decode()
    assert Endpoint.objects.exists()

    response = client.post(reverse("feedback:outbound_endpoint_delete", args=[hook.pk]))
    assert response.status_code == 302
    assert not Endpoint.objects.exists() and not Delivery.objects.exists()
    page = client.get(response["Location"]).content.decode()
    assert "Endpoint “Old CRM” deleted with 1 delivery from the log." in page


def test_send_a_test_event_queues_a_ping_even_when_inactive(login, admin_user):
    hook = endpoint(is_active=False)
    response = login(admin_user).post(reverse("feedback:outbound_endpoint_ping", args=[hook.pk]))

    delivery = Delivery.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('feedback:outbound_deliveries')}?endpoint={hook.pk}"
    assert (delivery.endpoint, delivery.event.type) == (hook, EventType.PING)


def test_the_endpoints_page_counts_deliveries_in_constant_queries(
    login, admin_user, django_assert_max_num_queries
):
    for n in range(3):
        endpoint(name=f"hook {n}")
    RouteChangeFactory.create_batch(4)
    outbound_handoff()
    Delivery.objects.filter(endpoint__name="hook 0").update(state="failed")
    client = login(admin_user)

    with django_assert_max_num_queries(6):
        response = client.get(reverse("feedback:outbound_endpoints"))

    body = response.content.decode()
    assert body.count('data-testid="endpoint-row"') == 3
    assert body.count('data-testid="endpoint-failed"><a') == 3
    assert "Route changes are read up to #" in body


def _log(n: int) -> Endpoint:
    hook = endpoint(name="CRM")
    other = endpoint(name="Slack", event_types=[EventType.CLOSED])
    RouteChangeFactory.create_batch(n)
    RouteChangeFactory(from_state="touched", to_state="won")
    outbound_handoff()
    assert Delivery.objects.filter(endpoint=other).count() == 1
    return hook


def test_the_delivery_log_filters_and_pages_in_constant_queries(
    login, admin_user, django_assert_max_num_queries
):
    hook = _log(60)
    client = login(admin_user)
    url = reverse("feedback:outbound_deliveries")

    with django_assert_max_num_queries(7):
        first = client.get(url)
    with django_assert_max_num_queries(7):
        closed = client.get(url, {"type": "closed", "endpoint": hook.pk})
    page2 = client.get(url, {"page": 2})

    assert first.content.decode().count('data-testid="delivery-row"') == 50
    assert "Page 1 of 2" in first.content.decode()
    assert page2.content.decode().count('data-testid="delivery-row"') == 12
    assert closed.content.decode().count('data-testid="delivery-row"') == 1
    bad = client.get(url, {"state": "nonsense", "endpoint": "x"})
    assert bad.status_code == 200  # bad filters are ignored, not errors
    assert bad.content.decode().count('data-testid="delivery-row"') == 50


def test_resend_from_the_log_swaps_the_row_in_place(login, admin_user):
    _log(1)
    delivery = Delivery.objects.filter(event__type="pql_created").get()
    Delivery.objects.filter(pk=delivery.pk).update(state="failed", attempts=8)
    client = login(admin_user)

    response = client.post(
        reverse("feedback:outbound_delivery_resend", args=[delivery.pk]),
        {"next": "/reports/outbound/deliveries/?state=failed"},
        **HTMX,
    )

    body = response.content.decode()
    delivery.refresh_from_db()
    assert body.lstrip().startswith('<tr data-testid="delivery-row"')
    assert 'data-testid="delivery-state">Pending<' in body
    assert (delivery.state, delivery.attempts, delivery.resent_by) == ("pending", 0, admin_user)


def test_resend_without_htmx_goes_back_to_the_log_it_came_from(login, admin_user):
    _log(1)
    delivery = Delivery.objects.first()
    client = login(admin_user)

    back = client.post(
        reverse("feedback:outbound_delivery_resend", args=[delivery.pk]),
        {"next": "/reports/outbound/deliveries/?state=failed"},
    )
    elsewhere = client.post(
        reverse("feedback:outbound_delivery_resend", args=[delivery.pk]),
        {"next": "https://evil.example.com/"},
    )

    assert back["Location"] == "/reports/outbound/deliveries/?state=failed"
    assert elsewhere["Location"] == reverse("feedback:outbound_delivery", args=[delivery.pk])


def test_a_delivery_shows_what_was_sent(login, admin_user):
    _log(1)
    delivery = Delivery.objects.filter(event__type="closed", endpoint__name="CRM").get()

    body = login(admin_user).get(reverse("feedback:outbound_delivery", args=[delivery.pk]))

    text = body.content.decode()
    assert delivery.event_id in text
    assert "&quot;outcome&quot;: &quot;won&quot;" in text
    assert "30 s, 60 s, 120 s, 240 s, 480 s, 960 s, 1920 s" in text


def test_pms_see_crm_syncs_and_downloads_but_cannot_run_them(login, pm):
    AccountFactory.create_batch(2)
    sync = crm_sync_run(full=True)

    body = login(pm).get(reverse("feedback:outbound_crm_sync")).content.decode()

    assert reverse("feedback:outbound_crm_sync_csv", args=[sync.pk]) in body
    assert 'data-testid="sync-full"' not in body
    assert "No active endpoint takes the CRM sync" in body
    assert "PLS_Active_Users_30d__c" in body
    assert "Webhook endpoints" not in body  # the admin's pages are not linked


def test_an_admin_starts_a_full_sync_as_a_job(
    login, admin_user, django_capture_on_commit_callbacks
):
    client = login(admin_user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("feedback:outbound_crm_sync_start"), {"full": "on"})

    job = Job.objects.get()
    assert response.status_code == 302
    assert (job.kind, job.params, job.created_by) == ("crm_sync", {"full": True}, admin_user)
    assert len(callbacks) == 1
    page = client.get(response["Location"]).content.decode()
    assert f"CRM sync of every account started (job #{job.pk})." in page


def test_a_second_sync_is_refused_while_one_runs(login, admin_user):
    CrmSync.objects.create(
        mode="changed", cutoff="2026-01-01T00:00Z", started_at="2026-01-01T00:00Z"
    )
    client = login(admin_user)

    response = client.post(reverse("feedback:outbound_crm_sync_start"), follow=True)

    assert not Job.objects.exists()
    assert "A CRM sync is running" in response.content.decode()
    polled = client.get(reverse("feedback:outbound_crm_sync"), **HTMX)
    assert 'hx-trigger="every 2s"' in polled.content.decode()


def test_the_crm_sync_csv_downloads_the_snapshot(login, pm):
    a = AccountFactory(name="Acme, Inc.", domain="acme.com")
    AccountScoreFactory(account=a, score=77, route="sdr")
    sync = crm_sync_run(full=True)

    response = login(pm).get(reverse("feedback:outbound_crm_sync_csv", args=[sync.pk]))

    rows = _csv(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="pls-crm-sync-{sync.pk}-'
    )
    assert rows[0][:3] == ["PLS_Account_Id__c", "Name", "Website"]
    record = dict(zip(rows[0], rows[1], strict=True))
    assert (record["Name"], record["PLS_Score__c"], record["PLS_Route__c"]) == (
        "Acme, Inc.",
        "77",
        "sdr",
    )
    assert record["PLS_Usage_Trend__c"] == "too_early"


def test_the_scores_csv_is_export_scores_as_a_download(login, pm):
    ae_account = AccountFactory(name="Big Co", domain="big.com")
    AccountScoreFactory(account=ae_account, score=88, route="ae")
    AccountScoreFactory(account=AccountFactory(name="Small Co"), score=12, route="self_serve")
    client = login(pm)

    everything = _csv(client.get(reverse("feedback:outbound_scores_csv")))
    only_ae = client.get(reverse("feedback:outbound_scores_csv"), {"route": ["ae", "bogus"]})

    assert everything[0] == list(SCORE_EXPORT_COLUMNS)
    assert [row[1] for row in everything[1:]] == ["Big Co", "Small Co"]
    assert "-ae-" in only_ae["Content-Disposition"]
    rows = _csv(only_ae)
    assert [row[:7] for row in rows[1:]] == [
        [str(ae_account.pk), "Big Co", "big.com", "88", "0", "0", "ae"]
    ]


def test_a_queued_sync_job_counts_as_running(login, admin_user):
    client = login(admin_user)
    client.post(reverse("feedback:outbound_crm_sync_start"))

    again = client.post(reverse("feedback:outbound_crm_sync_start"), follow=True)

    assert Job.objects.count() == 1
    assert "A CRM sync is running" in again.content.decode()


def test_the_crm_sync_page_reads_in_constant_queries(
    login, pm, admin_user, django_assert_max_num_queries
):
    AccountFactory.create_batch(3)
    endpoint(name="CRM", event_types=[EventType.CRM_SYNC])
    for _ in range(4):
        crm_sync_run(full=True, batch_size=2, user=admin_user)
    client = login(pm)

    with django_assert_max_num_queries(8):
        body = client.get(reverse("feedback:outbound_crm_sync")).content.decode()

    assert body.count('data-testid="crm-run"') == 4
    assert "2 pending" in body
    assert "Sent to <strong>CRM</strong>" in body


def test_a_delivery_page_reads_in_constant_queries(
    login, admin_user, django_assert_max_num_queries
):
    _log(1)
    delivery = Delivery.objects.first()
    client = login(admin_user)

    with django_assert_max_num_queries(4):
        response = client.get(reverse("feedback:outbound_delivery", args=[delivery.pk]))

    assert response.status_code == 200
