"""Settings come from the environment; production values pass check --deploy."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "n7$hq2v!kz0w3x@p9c-8m1r6t5y4u#e2a7s1d9f0g3h8j6k4l2",
    "ALLOWED_HOSTS": "pls.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://pls.example.com",
    "DATABASE_URL": "postgres://pls:secret@db.internal:5432/pls",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "EMAIL_HOST": "smtp.example.com",
    "EMAIL_PORT": "587",
    "EMAIL_USE_TLS": "1",
}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _print_setting(expr, env):
    code = f"from django.conf import settings as s; print({expr})"
    return _manage("shell", "--no-imports", "-c", code, env=env)


def test_check_deploy_is_clean_with_production_values():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_without_a_secret_key_refuses_to_start():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment when DEBUG is off." in result.stderr


def test_environment_switches_to_postgresql_and_redis_without_code_change():
    result = _print_setting(
        "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.CELERY_BROKER_URL",
        PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "pls",
        "redis://redis.internal:6379/0",
    ]


def test_embedded_default_is_sqlite_in_wal_mode_with_a_serverless_broker(tmp_path):
    env = {"PLS_VAR_DIR": str(tmp_path), "DATABASE_URL": "", "CELERY_BROKER_URL": ""}
    env = {k: v for k, v in env.items() if v}
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    code = (
        "from django.conf import settings as s; from django.db import connection as c; "
        "cur = c.cursor(); cur.execute('PRAGMA journal_mode'); "
        "print(s.DATABASES['default']['OPTIONS']['transaction_mode'], cur.fetchone()[0], "
        "s.CELERY_BROKER_URL)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=settings.BASE_DIR,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    mode, journal, broker = result.stdout.split()
    assert (mode, journal) == ("IMMEDIATE", "wal")
    assert broker == f"sqla+sqlite:///{tmp_path}/celery-broker.sqlite3"


def test_times_are_utc():
    assert settings.USE_TZ is True
    assert settings.TIME_ZONE == "UTC"


@pytest.mark.parametrize(
    "path", ["vendor/htmx-2.0.11.min.js", "vendor/plotly-4.1.1.min.js", "css/app.css"]
)
def test_javascript_and_css_are_served_from_static_not_a_cdn(client, path):
    from django.contrib.staticfiles import finders

    assert finders.find(path), path


def test_no_template_loads_anything_from_a_cdn():
    templates = list((settings.BASE_DIR / "templates").rglob("*.html"))
    assert templates
    for template in templates:
        text = template.read_text()
        assert "://" not in text.replace("http://www.w3.org", ""), template


@pytest.mark.parametrize(
    ("proxies", "forwarded", "remote", "expected"),
    [
        (0, "203.0.113.9", "198.51.100.7", "198.51.100.7"),  # no proxy: the header is forged
        (1, "203.0.113.9", "10.0.0.2", "203.0.113.9"),  # nginx appended the client
        (1, "6.6.6.6, 203.0.113.9", "10.0.0.2", "203.0.113.9"),  # a forged entry first
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.3", "10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.2", "10.0.0.2"),  # shorter than the proxies' part
    ],
)
def test_login_lockout_reads_the_client_address_the_proxies_saw(
    settings, rf, proxies, forwarded, remote, expected
):
    from axes.helpers import get_client_ip_address

    settings.PLS_PROXY_COUNT = proxies
    request = rf.post("/accounts/login/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert get_client_ip_address(request) == expected
