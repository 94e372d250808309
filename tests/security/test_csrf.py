"""CSRF: a POST from a logged-in session without the token is refused (403, Django's
CSRF page) and changes nothing, on every URL of the URLconf (Django admin's login,
actions and forms included). Only the Segment-compatible ``/ingest/`` API is exempt: it
is guarded by the write key, not by the session, and works without a token."""

import re

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from accounts.ingest import EVENT_TYPES
from accounts.models import Event, IncomingRequest
from pls_portal.models import Job
from tests.accounts.test_ingestion_api import post, track
from tests.factories import TEST_PASSWORD, JobFactory
from tests.pls_portal.test_permissions import objects  # noqa: F401 (fixture)
from tests.security.support import changed_tables, db_state, id_args, url_patterns

EXEMPT = {f"ingest:{call}" for call in ("batch", *EVENT_TYPES)}
REFUSED = "CSRF verification failed. Request aborted."


def _enforcing(user=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def test_only_the_ingestion_api_is_csrf_exempt():
    exempt = {
        name for name, pattern, _ in url_patterns() if getattr(pattern.callback, "csrf_exempt", 0)
    }
    assert exempt == EXEMPT


def _admin_models() -> dict[str, type]:
    """Admin URL name → the model it works on, for every registered model."""
    names = {}
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        for view in ("changelist", "add", "change", "delete", "history"):
            names["admin:{}_{}_{}".format(*info, view)] = model
    return names


def _admin_target(name: str, pattern, models: dict, admin_user) -> tuple[str, dict]:
    """A URL of the admin with real ids where it takes some, and what its form posts:
    the destructive version (delete confirmed, delete action on a row)."""
    model = models.get(name)
    row = model._default_manager.order_by("pk").first() if model else None
    pk = str(row.pk) if row is not None else "1"
    values = {
        "object_id": pk,
        "id": str(admin_user.pk),
        "app_label": "scoring",
        "content_type_id": str(ContentType.objects.get_for_model(admin_user).pk),
    }
    if name == "admin:view_on_site":
        values["object_id"] = str(admin_user.pk)
    url = reverse(name, kwargs={arg: values[arg] for arg in id_args(pattern)})
    if name.endswith("_changelist"):
        return url, {"action": "delete_selected", "_selected_action": [pk], "post": "yes"}
    if name.endswith("_delete"):
        return url, {"post": "yes"}
    if name == "admin:login":
        return url, {"username": admin_user.username, "password": TEST_PASSWORD}
    return url, {}


def _project_url(name: str, pattern, objects: dict) -> str:  # noqa: F811
    return reverse(name, kwargs={arg: objects[arg] for arg in id_args(pattern)})


def test_every_post_without_a_token_is_refused_and_changes_nothing(users, objects):  # noqa: F811
    JobFactory(created_by=users["admin"])  # a row for the admin's delete action to aim at
    models = _admin_models()
    client = _enforcing(users["admin"])
    state = db_state()
    tried = []
    for name, pattern, _ in url_patterns():
        if name in EXEMPT:
            continue
        if name.startswith("admin:"):
            url, data = _admin_target(name, pattern, models, users["admin"])
        else:
            url, data = _project_url(name, pattern, objects), {}

        response = client.post(url, data)

        assert response.status_code == 403, name
        assert REFUSED in response.content.decode(), name
        assert changed_tables(state, db_state()) == [], name
        tried.append(name)
    # Django admin's models and the project's own URLs were all reached.
    assert {"admin:login", "admin:logout", "admin:pls_portal_job_changelist"} <= set(tried)
    assert {"logout", "maintenance_start", "dossiers:item_claim"} <= set(tried)
    # The session was never ended by the refused logouts.
    assert client.get(reverse("jobs")).status_code == 200


def test_a_token_from_the_page_lets_the_same_posts_through(users):
    job = JobFactory(created_by=users["admin"])
    client = _enforcing(users["admin"])
    page = client.get(reverse("jobs")).content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)

    # htmx sends the token from <body hx-headers>; plain forms send csrfmiddlewaretoken.
    response = client.post(reverse("maintenance_start"), headers={"X-CSRFToken": token})
    assert response.status_code == 302
    assert Job.objects.filter(kind="maintenance").exclude(pk=job.pk).exists()

    response = client.post(
        reverse("admin:pls_portal_job_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [job.pk],
            "post": "yes",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()


@pytest.mark.parametrize("login_url", ["login", "admin:login"])
def test_a_login_form_posted_without_its_token_logs_nobody_in(users, login_url):
    client = _enforcing()
    response = client.post(
        reverse(login_url), {"username": users["admin"].username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 403
    assert REFUSED in response.content.decode()
    assert "_auth_user_id" not in client.session


_SENT = {"messageId": "m-1", "timestamp": "2026-11-20T10:00:00Z"}
MESSAGES = {
    "track": track(1),
    "page": {"type": "page", "userId": "u1", "name": "Pricing", **_SENT},
    "screen": {"type": "screen", "userId": "u1", "name": "Dashboard", **_SENT},
    "identify": {
        "type": "identify",
        "userId": "u1",
        "traits": {"email": "a@acme.example"},
        **_SENT,
    },
    "group": {
        "type": "group",
        "userId": "u1",
        "groupId": "acme",
        "traits": {"name": "Acme"},
        **_SENT,
    },
    "alias": {"type": "alias", "userId": "u1", "previousId": "anon-1", **_SENT},
}


@pytest.mark.parametrize("call", ["batch", *EVENT_TYPES])
def test_the_ingestion_api_works_without_a_token_from_a_logged_in_session(
    users,
    write_key,
    call,
):
    client = _enforcing(users["admin"])
    body = {"batch": [track(1)]} if call == "batch" else MESSAGES[call]

    response = post(client, call, body, key=write_key)

    assert response.status_code == 200, response.content
    assert list(Event.objects.values_list("type", flat=True)) == [
        "track" if call == "batch" else call
    ]


def test_the_session_alone_does_not_open_the_ingestion_api(users):
    client = _enforcing(users["admin"])
    response = post(client, "batch", {"batch": [track(1)]})
    assert response.status_code == 401
    assert not IncomingRequest.objects.exists() and not Event.objects.exists()
