"""Login, role landing pages, navigation by role, logout and the lockout."""

import pytest
from django.urls import reverse

from tests.factories import TEST_PASSWORD, UserFactory

LANDING = {
    "ae": ("/queue/", "PQL queue"),
    "sdr": ("/queue/", "PQL queue"),
    "pm": ("/reports/", "Monthly PM report"),
    "admin": ("/rules/", "PQL rules"),
}


@pytest.mark.parametrize("role", LANDING)
def test_each_role_lands_on_its_own_page_after_login(client, users, role):
    response = client.post(
        reverse("login"),
        {"username": users[role].username, "password": TEST_PASSWORD},
        follow=True,
    )
    path, heading = LANDING[role]
    assert response.redirect_chain[-1][0] == path
    assert f"<h1>{heading}</h1>" in response.content.decode()


def test_login_honours_next_for_a_page_the_role_may_open(client, admin_user):
    response = client.post(
        reverse("login") + "?next=/jobs/",
        {"username": admin_user.username, "password": TEST_PASSWORD, "next": "/jobs/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/jobs/"


def test_anonymous_visitor_is_sent_to_login_with_next(client, db):
    response = client.get("/queue/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/queue/"


def test_htmx_request_of_a_logged_out_user_redirects_the_whole_page(client, db):
    response = client.get("/queue/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/login/?next=")


def test_wrong_password_shows_a_clear_error(client, ae):
    response = client.post(reverse("login"), {"username": ae.username, "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_five_wrong_passwords_lock_the_login_with_a_clear_message(client, ae):
    for _ in range(4):
        response = client.post(reverse("login"), {"username": ae.username, "password": "bad"})
        assert response.status_code == 200
    response = client.post(reverse("login"), {"username": ae.username, "password": "bad"})
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed login attempts." in body
    assert "After 5 wrong passwords" in body
    assert "locked" in body and "30 minutes" in body
    # Even the right password is refused while locked.
    response = client.post(reverse("login"), {"username": ae.username, "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_lockout_of_one_user_leaves_colleagues_alone(client, ae, sdr):
    for _ in range(5):
        client.post(reverse("login"), {"username": ae.username, "password": "bad"})
    response = client.post(
        reverse("login"), {"username": sdr.username, "password": TEST_PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/queue/"


def test_logout_is_a_post_and_shows_the_logged_out_page(login, ae):
    client = login(ae)
    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == "/logged-out/"
    assert "You are logged out" in response.content.decode()
    assert client.get("/queue/").status_code == 302


NAV = {
    "ae": ["PQL queue"],
    "sdr": ["PQL queue"],
    "pm": ["PQL queue", "Reports", "Metrics", "Rules", "Plays", "CRM & webhooks"],
    "admin": [
        "PQL queue",
        "Reports",
        "Metrics",
        "Rules",
        "Plays",
        "CRM & webhooks",
        "Tracking plan",
        "Ingestion",
        "Jobs",
    ],
}


@pytest.mark.parametrize("role", NAV)
def test_navigation_shows_only_what_the_role_may_use(login, users, role):
    response = login(users[role]).get(reverse("home"), follow=True)
    assert [item["label"] for item in response.context["nav_items"]] == NAV[role]
    body = response.content.decode()
    assert ("Users &amp; data" in body) == (role == "admin")


def test_page_header_shows_the_user_and_role(login, db):
    user = UserFactory(first_name="Sam", last_name="Seller", sdr=True)
    body = login(user).get("/queue/").content.decode()
    assert "Sam Seller" in body
    assert 'data-testid="role">SDR<' in body


def test_rep_queue_shows_an_empty_state_not_fake_data(login, ae):
    body = login(ae).get("/queue/").content.decode()
    assert "No accounts to work on yet" in body
    assert "Your AE pool" in body


def test_inactive_user_cannot_log_in(client, db):
    user = UserFactory(is_active=False)
    response = client.post(reverse("login"), {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_csrf_token_travels_in_hx_headers_on_body(login, ae):
    body = login(ae).get("/queue/").content.decode()
    assert '<body hx-headers=\'{"X-CSRFToken": "' in body
    assert "vendor/htmx-2.0.11.min.js" in body
