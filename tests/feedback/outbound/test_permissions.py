"""The outbound URLs by role (the rows reported for tests/pls_portal/test_permissions.py):
admins manage endpoints and the delivery log; PMs and admins see the CRM sync page and
download; only admins start a sync."""

import pytest
from django.urls import reverse

from tests.feedback.outbound.factories import outbound_objects

COLUMNS = ("anonymous", "ae", "sdr", "pm", "admin")
POST_ONLY = (405, 405, 405, 405, 405)

GET = {
    "feedback:outbound_endpoints": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_new": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_edit": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_delete": (302, 403, 403, 403, 200),  # the confirm page
    "feedback:outbound_endpoint_secret": POST_ONLY,
    "feedback:outbound_endpoint_rotate": POST_ONLY,
    "feedback:outbound_endpoint_ping": POST_ONLY,
    "feedback:outbound_deliveries": (302, 403, 403, 403, 200),
    "feedback:outbound_delivery": (302, 403, 403, 403, 200),
    "feedback:outbound_delivery_resend": POST_ONLY,
    "feedback:outbound_crm_sync": (302, 403, 403, 200, 200),
    "feedback:outbound_crm_sync_start": POST_ONLY,
    "feedback:outbound_crm_sync_csv": (302, 403, 403, 200, 200),
    "feedback:outbound_scores_csv": (302, 403, 403, 200, 200),
}

POST = {
    "feedback:outbound_endpoint_new": (302, 403, 403, 403, 400),  # empty form: 400
    "feedback:outbound_endpoint_edit": (302, 403, 403, 403, 400),
    "feedback:outbound_endpoint_delete": (302, 403, 403, 403, 302),
    "feedback:outbound_endpoint_secret": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_rotate": (302, 403, 403, 403, 200),
    "feedback:outbound_endpoint_ping": (302, 403, 403, 403, 302),
    "feedback:outbound_delivery_resend": (302, 403, 403, 403, 302),
    "feedback:outbound_crm_sync_start": (302, 403, 403, 403, 302),
}

ARGS = {
    "feedback:outbound_endpoint_edit": "endpoint_id",
    "feedback:outbound_endpoint_delete": "endpoint_id",
    "feedback:outbound_endpoint_secret": "endpoint_id",
    "feedback:outbound_endpoint_rotate": "endpoint_id",
    "feedback:outbound_endpoint_ping": "endpoint_id",
    "feedback:outbound_delivery": "delivery_id",
    "feedback:outbound_delivery_resend": "delivery_id",
    "feedback:outbound_crm_sync_csv": "crm_sync_id",
}


@pytest.fixture
def objects(db):
    return outbound_objects()


def _url(name, objects):
    arg = ARGS.get(name)
    return reverse(name, kwargs={arg: objects[arg]} if arg else {})


def test_every_outbound_url_has_a_row():
    from feedback.outbound.urls import urlpatterns

    assert {f"feedback:{p.name}" for p in urlpatterns} == set(GET)


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("name", sorted(GET))
def test_get_status_by_role(client, users, objects, name, column):
    if column != "anonymous":
        client.force_login(users[column])
    response = client.get(_url(name, objects))
    assert response.status_code == GET[name][COLUMNS.index(column)]
    if response.status_code == 302:
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("name", sorted(POST))
def test_post_status_by_role(client, users, objects, name, column):
    if column != "anonymous":
        client.force_login(users[column])
    response = client.post(_url(name, objects))
    assert response.status_code == POST[name][COLUMNS.index(column)]
