"""The reliability drills (docs/reliability.md). They are slow, need PostgreSQL and Redis,
kill workers and stop a database server, so they run only as ``make reliability``
(``pytest -m reliability tests/reliability``) with databases and a Redis db of their own;
a plain ``pytest`` (``make test``) deselects them."""

import os

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.reliability.support import (
    DrillError,
    ThrowawayCluster,
    manage,
    postgres_bin,
    server_of,
)

MARK = "reliability"
HERE = os.path.dirname(__file__)
_FACTS: list[str] = []


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        f"{MARK}: a reliability drill; runs only as `make reliability` (pytest -m {MARK})",
    )


def _requested(config) -> bool:
    return MARK in (config.getoption("markexpr") or "")


def pytest_collection_modifyitems(config, items):
    """Every test in this folder is a drill: marked, PostgreSQL-only, and deselected
    unless ``-m reliability`` asks for the drills."""
    mine = [item for item in items if str(item.path).startswith(HERE + os.sep)]
    for item in mine:
        item.add_marker(MARK)
        item.add_marker("postgres_only")
        # Drills work on databases of their own, but the session's test database must
        # exist all the same (pytest-django creates it only for django_db tests, and the
        # suite's teardown in tests/conftest.py connects to it).
        if not item.get_closest_marker("django_db"):
            item.add_marker("django_db")
    if not _requested(config):
        if mine:
            config.hook.pytest_deselected(items=mine)
            drop = set(mine)
            items[:] = [item for item in items if item not in drop]
        return
    if mine and connection.vendor != "postgresql":
        raise pytest.UsageError(
            "the reliability drills need PostgreSQL and Redis: run `make reliability` "
            "(RELIABILITY_DATABASE_URL=postgres://…, RELIABILITY_BROKER_URL=redis://…)"
        )
    if mine and not settings.CELERY_BROKER_URL.startswith("redis://"):
        raise pytest.UsageError(
            f"the reliability drills need a Redis broker, not {settings.CELERY_BROKER_URL}"
        )


@pytest.fixture(scope="session")
def pg(django_db_setup):
    """The main PostgreSQL server (the test database's): drills create their own
    databases on it, named after the test database, and never stop it."""
    return server_of(connection.settings_dict)


@pytest.fixture(scope="session")
def db_prefix(django_db_setup) -> str:
    """The configured database's name (``rel`` for ``make reliability``): the drills'
    databases are ``<prefix>_template``, ``<prefix>_population``…"""
    return connection.settings_dict["NAME"].removeprefix("test_")


@pytest.fixture(scope="session")
def migrated_template(pg, db_prefix):
    """A freshly migrated database (data migrations included) the drills copy."""
    name = f"{db_prefix}_template"
    url = pg.create(name)
    manage(url, "migrate", "--noinput", "-v0")
    yield name
    pg.drop(name)


@pytest.fixture(scope="session")
def broker():
    """The drills' Redis db, empty before and after (no task left for another run); a
    drill empties it again after a kill (the killed task's unacknowledged message)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def throwaway_cluster(pg):
    """A PostgreSQL cluster of its own that the drill may stop; removed afterwards, also
    when the drill fails."""
    cluster = ThrowawayCluster(bin_dir=postgres_bin(pg.version_num()))
    try:
        cluster.init()
        cluster.start()
    except DrillError:
        cluster.remove()
        raise
    yield cluster
    cluster.remove()


@pytest.fixture
def facts(request):
    """Note what a drill did (how far the kill landed, how long the outage was…): shown
    in a section of its own at the end of the run, pass or fail."""

    def note(text: str) -> None:
        _FACTS.append(f"{request.node.name}: {text}")

    return note


def pytest_terminal_summary(terminalreporter):
    if _FACTS:
        terminalreporter.section("reliability drills: what happened")
        for line in _FACTS:
            terminalreporter.write_line(line)
