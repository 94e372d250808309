"""Deployment hardening: ``check --deploy`` and the headers and cookies of a page under
production settings (built in a subprocess from the environment, as in production),
the security headers on every kind of page here, and django-axes' login lockout: after
the configured number of wrong passwords the login is refused (the right password too)
with a clear page, until the cool-off ends or an admin removes the attempts."""

import json
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import TEST_PASSWORD
from tests.pls_portal.test_settings import PRODUCTION_ENV, _manage
from tests.scoring.factories import QueueItemFactory

# The portal behind a TLS-terminating reverse proxy, as docs/deploy.md sets it up.
PRODUCTION = PRODUCTION_ENV | {"BEHIND_TLS_PROXY": "1"}

# Run in the production process: check --deploy, then the login page over plain HTTP,
# over HTTPS and through the proxy. Nothing here reaches the (absent) database. Static
# files are served unhashed: the hashed manifest exists only after collectstatic.
PROBE = """
import json
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings

out = StringIO()
call_command("check", deploy=True, fail_level="WARNING", stdout=out)
unhashed = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
with override_settings(STORAGES={**settings.STORAGES, "staticfiles": unhashed}):
    client = Client(HTTP_HOST="pls.example.com")
    plain = client.get("/login/")
    page = client.get("/login/", secure=True)
    proxied = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
cookie = page.cookies["csrftoken"]
print(json.dumps({
    "check": out.getvalue(),
    "plain": [plain.status_code, plain.get("Location")],
    "page": page.status_code,
    "proxied": proxied.status_code,
    "headers": dict(page.headers),
    "csrf_cookie": {"secure": cookie["secure"], "httponly": cookie["httponly"]},
    "session_cookie": {
        "secure": settings.SESSION_COOKIE_SECURE,
        "httponly": settings.SESSION_COOKIE_HTTPONLY,
        "samesite": settings.SESSION_COOKIE_SAMESITE,
    },
}))
"""

HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.fixture(scope="module")
def production():
    result = _manage("shell", "--no-imports", "-c", PROBE, env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_production_settings(production):
    assert production["check"] == "System check identified no issues (0 silenced).\n"


def test_production_sends_plain_http_to_https(production):
    assert production["plain"] == [301, "https://pls.example.com/login/"]
    assert production["page"] == 200
    assert production["proxied"] == 200  # X-Forwarded-Proto from the proxy is trusted


def test_production_pages_carry_the_security_headers_and_hsts(production):
    headers = production["headers"]
    for name, value in HEADERS.items():
        assert headers[name] == value, name
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_production_cookies_are_secure(production):
    assert production["csrf_cookie"] == {"secure": True, "httponly": ""}
    assert production["session_cookie"] == {"secure": True, "httponly": True, "samesite": "Lax"}


def test_without_the_proxy_setting_a_forwarded_header_is_not_trusted():
    code = (
        "from django.test import Client; "
        "print(Client(HTTP_HOST='pls.example.com')"
        ".get('/login/', HTTP_X_FORWARDED_PROTO='https').status_code)"
    )
    result = _manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "301"


@pytest.fixture
def pages(db, users):
    item = QueueItemFactory()
    return {
        "login page": (None, "get", reverse("login"), {}),
        "queue": ("ae", "get", reverse("dossiers:queue"), {}),
        "queue rows (htmx)": ("ae", "get", reverse("dossiers:queue"), {"HX-Request": "true"}),
        "dossier": ("ae", "get", reverse("dossiers:dossier", args=[item.account_id]), {}),
        "403 page": ("ae", "get", reverse("scoring:rules"), {}),
        "404 page": ("ae", "get", "/no/such/page/", {}),
        "admin": ("admin", "get", reverse("admin:index"), {}),
        "report CSV": ("pm", "get", reverse("feedback:report_export"), {}),
        "ingestion API": (None, "post", reverse("ingest:batch"), {}),
        "health check": (None, "get", reverse("healthz"), {}),
    }


def test_every_kind_of_answer_carries_the_security_headers(pages, users):
    for label, (who, method, url, headers) in pages.items():
        client = Client()
        if who:
            client.force_login(users[who])
        response = getattr(client, method)(url, headers=headers)
        for name, value in HEADERS.items():
            assert response.get(name) == value, f"{label}: {name}"


def test_the_session_cookie_is_http_only_and_same_site(client, users):
    response = client.post(
        reverse("login"), {"username": users["ae"].username, "password": TEST_PASSWORD}
    )
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


# --- django-axes ------------------------------------------------------------------------


@pytest.fixture
def users(users, settings):
    """The role fixtures with passwords checked at test speed: the lockout is under test
    here, not the hashing (a PBKDF2 check per wrong password would dominate the run)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for user in users.values():
        user.set_password(TEST_PASSWORD)
        user.save(update_fields=["password"])
    return users


def _lock_out(client, username: str):
    """Wrong passwords up to the limit: the ones before it are told so, the last locks."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(reverse("login"), {"username": username, "password": "wrong"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    return client.post(reverse("login"), {"username": username, "password": "wrong"})


def _log_in(client, username: str, url: str = "login"):
    return client.post(reverse(url), {"username": username, "password": TEST_PASSWORD})


def test_the_configured_number_of_wrong_passwords_locks_the_login(client, users):
    limit = settings.AXES_FAILURE_LIMIT
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)

    response = _lock_out(client, users["ae"].username)

    assert response.status_code == 429
    body = " ".join(response.content.decode().split())
    assert "<h1>Login locked</h1>" in body
    assert f"After {limit} wrong passwords the login for <strong>alex</strong> is locked" in body
    assert f"for {minutes} minutes" in body
    assert "ask an admin to unlock it now (Users &amp; data → Access attempts)" in body


def test_while_locked_the_right_password_is_refused_on_both_login_pages(client, users):
    assert _lock_out(client, users["ae"].username).status_code == 429

    for url in ("login", "admin:login"):
        response = _log_in(client, users["ae"].username, url)
        assert response.status_code == 429, url
        assert "Too many failed login attempts." in response.content.decode()
        assert "_auth_user_id" not in client.session


def test_an_admin_unlocks_a_locked_login_from_the_admin_site(client, users):
    assert _lock_out(client, users["ae"].username).status_code == 429
    attempt = AccessAttempt.objects.get(username=users["ae"].username)
    admin_client = Client()
    admin_client.force_login(users["admin"])

    listing = admin_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200 and "alex" in listing.content.decode()
    response = admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    response = _log_in(client, users["ae"].username)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(users["ae"].pk)


def test_the_lock_ends_by_itself_after_the_cool_off(client, users):
    assert _lock_out(client, users["ae"].username).status_code == 429
    assert _log_in(client, users["ae"].username).status_code == 429
    attempt = AccessAttempt.objects.get(username=users["ae"].username)
    attempt.attempt_time -= settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    attempt.save(update_fields=["attempt_time"])

    assert _log_in(client, users["ae"].username).status_code == 302
