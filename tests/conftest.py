import os

import pytest
from django.core.cache import cache
from django.db import connection

from accounts.services.keys import ingestion_key_create
from tests.factories import UserFactory

ROLES = ("ae", "sdr", "pm", "admin")


def pytest_collection_modifyitems(config, items):
    """Tests that need one backend are deselected on the other."""
    # A transactional test flushes the database when it ends, which would also wipe the
    # rows data migrations put there (default tracking plan, plans) for every later test.
    careless = [
        item.nodeid
        for item in items
        if (mark := item.get_closest_marker("django_db"))
        and mark.kwargs.get("transaction")
        and not mark.kwargs.get("serialized_rollback")
    ]
    if careless:
        raise pytest.UsageError(
            "transactional tests must also set serialized_rollback=True: " + ", ".join(careless)
        )
    other = {"sqlite": "postgres_only", "postgresql": "sqlite_only"}[connection.vendor]
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker(other) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache: cached page fragments are keyed on row
    values, and a rolled-back test's ids come back in the next one."""
    cache.clear()


@pytest.fixture(scope="session", autouse=True)
def _no_stray_connections_at_teardown(django_db_setup, django_db_blocker):
    """Live-server request threads (SDK and browser tests) may still hold a connection
    when the session ends; PostgreSQL refuses to drop a database in use."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def write_key(db) -> str:
    """A live ingestion write key's plaintext (send it with tests.ingest_auth.basic)."""
    return ingestion_key_create(name="tests").plaintext


@pytest.fixture
def ae(db):
    return UserFactory(username="alex", ae=True)


@pytest.fixture
def sdr(db):
    return UserFactory(username="sam", sdr=True)


@pytest.fixture
def pm(db):
    return UserFactory(username="priya", pm=True)


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", admin=True)


@pytest.fixture
def users(ae, sdr, pm, admin_user):
    """One staff user per role and rep type, keyed like the role × URL matrix."""
    return {"ae": ae, "sdr": sdr, "pm": pm, "admin": admin_user}


@pytest.fixture
def login(client):
    """Log the test client in as a user (bypasses the login form and its lockout)."""

    def _login(user):
        client.force_login(user)
        return client

    return _login


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: nothing may pass by not running."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; failing the run.", red=True)
        session.exitstatus = 1
