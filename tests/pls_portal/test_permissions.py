"""The role × URL matrix, generated from the URLconf.

Every URL pattern must have a row here; a new URL without one fails
``test_every_url_pattern_has_a_row_in_the_matrix``. Statuses are for GET: 200 the page,
302 a redirect (anonymous → login), 403 wrong role, 404 not yours, 405 POST-only.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.ingest import EVENT_TYPES
from accounts.services.keys import ingestion_key_create
from feedback.models import Feedback
from playbooks.models import Play
from pls_portal.models import Job
from pls_portal.permissions import allowed_roles
from scoring.models import RuleSet, Touch
from scoring.services.rulesets import rule_set_clone
from tests.factories import JobFactory, UserFactory
from tests.feedback.outbound.factories import outbound_objects
from tests.scoring.factories import QueueItemFactory

ANON = "anonymous"
COLUMNS = (ANON, "ae", "sdr", "pm", "admin")

# url name: expected status per column (anonymous, ae, sdr, pm, admin)
MATRIX = {
    "home": (302, 302, 302, 302, 302),
    "login": (200, 302, 302, 302, 302),
    "logout": (405, 405, 405, 405, 405),
    "logged_out": (200, 200, 200, 200, 200),
    "healthz": (200, 200, 200, 200, 200),
    "jobs": (302, 403, 403, 403, 200),
    "maintenance_start": (405, 405, 405, 405, 405),
    "job_detail": (302, 404, 404, 404, 200),
    "dossiers:queue": (302, 200, 200, 200, 200),  # PMs read-only
    # The account of another AE's expansion item: outside both rep pools.
    "dossiers:dossier": (302, 404, 404, 200, 200),
    "scoring:rules": (302, 403, 403, 200, 200),
    "scoring:rule_set": (302, 403, 403, 200, 200),
    "scoring:rule_edit": (302, 403, 403, 200, 200),
    "scoring:rule_set_activate": (302, 403, 403, 403, 200),
    "scoring:discovery": (302, 403, 403, 200, 200),
    "scoring:suggestions": (302, 403, 403, 200, 200),
    "scoring:backtest": (302, 403, 403, 404, 404),  # the job is not a backtest
    **dict.fromkeys(
        [
            "scoring:rescore_all",
            "scoring:rule_set_clone",
            "scoring:rule_set_settings",
            "scoring:rule_add",
            "scoring:rule_delete",
            "scoring:rule_set_propose",
            "scoring:rule_set_withdraw",
            "scoring:rule_set_delete",
            "scoring:suggestions_apply",
            "dossiers:item_claim",
            "dossiers:item_release",
            "dossiers:item_won",
            "dossiers:item_lost",
            "dossiers:item_disqualify",
            "dossiers:item_hand_to_marketing",
            "dossiers:item_hand_to_ae",
            "dossiers:dossier_touch_add",
            "dossiers:dossier_touch_response",
            "dossiers:dossier_contact_add",
            "dossiers:dossier_hand_to_marketing",
            "playbooks:play_active",
            "playbooks:preview",
            "feedback:outbound_endpoint_secret",
            "feedback:outbound_endpoint_rotate",
            "feedback:outbound_endpoint_ping",
            "feedback:outbound_delivery_resend",
            "feedback:outbound_crm_sync_start",
            "feedback:feedback_tags",
            "feedback:feedback_comment",
            "scoring:backtest_start",
        ],
        (405, 405, 405, 405, 405),
    ),
    "feedback:report": (302, 403, 403, 200, 200),
    "feedback:metrics": (302, 403, 403, 200, 200),
    "feedback:report_entries": (302, 403, 403, 200, 200),
    "feedback:report_export": (302, 403, 403, 200, 200),
    "feedback:feedback_mine": (302, 200, 200, 403, 200),
    "feedback:feedback_give": (302, 404, 404, 403, 404),  # the fixture's item is open
    "feedback:feedback_detail": (302, 404, 404, 200, 200),  # another AE's feedback
    "feedback:outbound_endpoints": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_new": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_edit": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_delete": (302, 403, 403, 403, 200),  # the confirmation page
    "feedback:outbound_deliveries": (302, 403, 403, 403, 200),
    "feedback:outbound_delivery": (302, 403, 403, 403, 200),
    "feedback:outbound_crm_sync": (302, 403, 403, 200, 200),
    "feedback:outbound_crm_sync_csv": (302, 403, 403, 200, 200),
    "feedback:outbound_scores_csv": (302, 403, 403, 200, 200),
    "playbooks:plays": (302, 403, 403, 200, 200),
    "playbooks:play": (302, 403, 403, 200, 200),
    "playbooks:account_search": (302, 403, 403, 200, 200),
    "playbooks:play_new": (302, 403, 403, 403, 200),  # admins edit plays, PMs read them
    "playbooks:play_edit": (302, 403, 403, 403, 200),
    "accounts:tracking_plan": (302, 403, 403, 403, 200),
    "accounts:ingestion": (302, 403, 403, 403, 200),
    "accounts:ingestion_key_new": (405, 405, 405, 405, 405),
    "accounts:ingestion_key_revoke": (405, 405, 405, 405, 405),
    "accounts:rejected_delete": (405, 405, 405, 405, 405),
    # The Segment-compatible API is POST-only and guarded by the write key, not a role.
    **dict.fromkeys(
        [f"ingest:{call}" for call in ("batch", *EVENT_TYPES)], (405, 405, 405, 405, 405)
    ),
}

# POST-only actions: expected status of a POST per column.
POST_MATRIX = {
    "maintenance_start": (302, 403, 403, 403, 302),
    "accounts:rejected_delete": (302, 403, 403, 403, 302),
    "accounts:ingestion_key_revoke": (302, 403, 403, 403, 302),
    "accounts:ingestion_key_new": (302, 403, 403, 403, 400),  # empty form: 400, names the field
    "scoring:rescore_all": (302, 403, 403, 403, 302),
    "scoring:rule_set_clone": (302, 403, 403, 302, 302),
    "scoring:rule_set_settings": (302, 403, 403, 400, 400),  # empty form: 400
    "scoring:rule_add": (302, 403, 403, 400, 400),
    "scoring:rule_edit": (302, 403, 403, 302, 302),  # not htmx: back to the page with the error
    "scoring:rule_delete": (302, 403, 403, 302, 302),
    "scoring:rule_set_propose": (302, 403, 403, 302, 302),
    "scoring:rule_set_withdraw": (302, 403, 403, 302, 302),
    "scoring:rule_set_delete": (302, 403, 403, 302, 302),
    "scoring:rule_set_activate": (302, 403, 403, 403, 302),
    "scoring:suggestions_apply": (302, 403, 403, 302, 302),  # too few outcomes: back, told why
    "scoring:backtest_start": (302, 403, 403, 302, 302),
    # Another AE's expansion item: outside both pools (404), PMs never act (403).
    **dict.fromkeys(
        [
            "dossiers:item_claim",
            "dossiers:item_release",
            "dossiers:item_won",
            "dossiers:item_lost",
            "dossiers:item_disqualify",
            "dossiers:item_hand_to_marketing",
            "dossiers:item_hand_to_ae",
        ],
        (302, 404, 404, 403, 302),
    ),
    # Empty forms: admins are told which field is missing (400).
    **dict.fromkeys(
        [
            "dossiers:dossier_touch_add",
            "dossiers:dossier_contact_add",
        ],
        (302, 404, 404, 403, 400),
    ),
    # A response needs no field: the admin's empty form records it.
    "dossiers:dossier_touch_response": (302, 404, 404, 403, 302),
    "dossiers:dossier_hand_to_marketing": (302, 404, 404, 403, 302),
    "playbooks:play_new": (302, 403, 403, 403, 400),
    "playbooks:play_edit": (302, 403, 403, 403, 400),
    "playbooks:play_active": (302, 403, 403, 403, 302),
    "playbooks:preview": (302, 403, 403, 403, 200),  # the preview shows what is missing
    "feedback:outbound_endpoint_new": (302, 403, 403, 403, 400),  # empty form
    "feedback:outbound_endpoint_edit": (302, 403, 403, 403, 400),
    "feedback:outbound_endpoint_delete": (302, 403, 403, 403, 302),
    "feedback:outbound_endpoint_secret": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_rotate": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_ping": (302, 403, 403, 403, 302),
    "feedback:outbound_delivery_resend": (302, 403, 403, 403, 302),
    "feedback:outbound_crm_sync_start": (302, 403, 403, 403, 302),
    "feedback:feedback_give": (302, 404, 404, 403, 404),
    "feedback:feedback_tags": (302, 403, 403, 302, 302),
    "feedback:feedback_comment": (302, 403, 403, 302, 302),
}

# Public by design: everything else must declare its roles with a permissions decorator.
PUBLIC = {"home", "login", "logout", "logged_out", "healthz"} | {
    f"ingest:{call}" for call in ("batch", *EVENT_TYPES)
}


def _project_patterns(resolver=None, namespace=""):
    """(url name, pattern) of every named project URL; Django admin has its own checks."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _project_patterns(entry, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry


def test_every_url_pattern_has_a_row_in_the_matrix():
    names = {name for name, _ in _project_patterns()}
    assert names == set(MATRIX), "add the new URL to MATRIX with its expected statuses"


def test_every_non_public_view_declares_its_roles():
    for name, pattern in _project_patterns():
        roles = allowed_roles(pattern.callback)
        if name in PUBLIC:
            assert roles is None, name
        else:
            assert roles, f"{name} has no role decorator"


def _feedback_of(author) -> int:
    now = timezone.now()
    item = QueueItemFactory(state="won", claimed_by=author, closed_by=author, closed_at=now)
    return Feedback.objects.create(
        item=item, author=author, outcome="won", created_at=now, updated_at=now
    ).pk


@pytest.fixture
def objects(db):
    """One object per URL argument, none of them belonging to the users under test."""
    draft = rule_set_clone(rule_set_id=RuleSet.objects.get(state="active").pk, user=None)
    other_ae = UserFactory(username="other-ae", ae=True)
    item = QueueItemFactory(route="expansion", owner=other_ae)
    return {
        "job_id": JobFactory(created_by=None).pk,
        "key_id": ingestion_key_create(name="someone's key").key.pk,
        "rule_set_id": draft.pk,
        "rule_id": draft.rules.first().pk,
        "play_id": Play.objects.order_by("pk").first().pk,
        **outbound_objects(),
        "feedback_id": _feedback_of(other_ae),
        "item_id": item.pk,
        "account_id": item.account_id,
        "touch_id": Touch.objects.create(
            item=item, by=other_ae, channel="email", person="Ada", at=timezone.now()
        ).pk,
    }


def _url(name, objects):
    pattern = dict(_project_patterns())[name]
    kwargs = {arg: objects[arg] for arg in pattern.pattern.regex.groupindex}
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_get_status_by_role(client, users, objects, name, column):
    if column != ANON:
        client.force_login(users[column])
    response = client.get(_url(name, objects))
    assert response.status_code == MATRIX[name][COLUMNS.index(column)]
    if response.status_code == 302 and column == ANON and name not in PUBLIC:
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("name", sorted(POST_MATRIX))
def test_post_status_by_role(client, users, objects, name, column):
    if column != ANON:
        client.force_login(users[column])
    response = client.post(_url(name, objects))
    assert response.status_code == POST_MATRIX[name][COLUMNS.index(column)]


def test_only_an_admin_post_starts_maintenance(client, users):
    for role in ("ae", "sdr", "pm"):
        client.force_login(users[role])
        client.post(reverse("maintenance_start"))
    assert not Job.objects.exists()
    client.force_login(users["admin"])
    client.post(reverse("maintenance_start"))
    assert Job.objects.count() == 1


def test_wrong_role_sees_a_styled_403_page(client, ae):
    client.force_login(ae)
    response = client.get(reverse("scoring:rules"))
    assert response.status_code == 403
    assert "Your role (AE) cannot open this page." in response.content.decode()


def test_csrf_is_enforced_on_posts_from_a_logged_in_session(admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("maintenance_start"))
    assert response.status_code == 403
    assert not Job.objects.exists()
