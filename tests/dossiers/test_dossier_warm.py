"""The queue's dossiers built ahead (dossiers/dossier/warm.py): a rep opening a warmed
dossier finds every cached part, sees the same page, and a warm-up rebuilds only what
changed or has aged."""

from datetime import timedelta

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.services.accounts import account_edit
from dossiers.dossier.cache import REFRESH
from dossiers.dossier.parts import page_keys
from dossiers.dossier.scope import dossier_scope
from dossiers.dossier.warm import dossiers_warm
from dossiers.tasks import dossiers_warm_run
from pls_portal.celery import app
from scoring.models import QueueItem
from tests.dossiers.test_dossier import build_account, missing_buyer_item, section
from tests.dossiers.test_dossier_cache import view

SECTIONS = ("overview", "usage", "onboarding", "score", "people", "play")


def test_a_warmed_dossier_opens_with_every_part_cached_and_shows_the_same(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    built_by_the_page, cold = view(client, account)
    _, warm = view(client, account)
    # The dossier's parts gone (as after a change of the account), the rest kept.
    scope = dossier_scope(user=ae, account_id=account.pk)
    cache.delete_many(page_keys(scope, timezone.now().date(), with_play=True))

    result = dossiers_warm()

    assert (result.accounts, result.built, result.fresh) == (1, 1, 0)
    warmed, queries = view(client, account)
    # The page reads no part again: as many queries as a second view, not a first.
    assert queries == warm < cold
    for testid in SECTIONS:
        assert section(warmed, testid) == section(built_by_the_page, testid)


def test_a_second_warm_up_builds_nothing_until_the_parts_age(ae):
    build_account()
    dossiers_warm()

    again = dossiers_warm()
    assert (again.built, again.fresh) == (0, 1)
    with CaptureQueriesContext(connection) as queries:
        dossiers_warm()
    # Nothing built: the items, one chunk of accounts, stamps and matches only.
    assert len(queries) <= 6, [q["sql"][:80] for q in queries]

    later = dossiers_warm(now=timezone.now() + timedelta(seconds=REFRESH + 1))
    assert (later.built, later.fresh) == (1, 0)


def test_a_warm_up_rebuilds_the_changed_account_only(client, ae):
    changed, *_ = build_account()
    missing_buyer_item(ae)
    assert dossiers_warm().built == 2

    account_edit(account_id=changed.pk, values={"industry": "Banking"})
    result = dossiers_warm()

    assert (result.built, result.fresh) == (1, 1)
    client.force_login(ae)
    client.get(reverse("dossiers:queue"))  # the rep comes from the queue
    response, queries = view(client, changed)
    assert "Banking" in section(response, "overview")
    assert queries == view(client, changed)[1]  # the warm-up had built the new parts


def test_closed_items_are_not_warmed(ae):
    account, *_ = build_account()
    QueueItem.objects.filter(account=account).update(state=QueueItem.State.LOST)
    assert dossiers_warm().accounts == 0


def test_the_task_warms_the_shared_cache_and_runs_every_two_minutes(ae, settings, tmp_path):
    build_account()
    dossiers_warm_run()  # the tests' cache is in this process's memory: nothing to share
    assert dossiers_warm().built == 1
    # A cache other processes read (files here; Redis in production).
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                    "LOCATION": str(tmp_path)}
    }  # fmt: skip
    dossiers_warm_run()
    assert (dossiers_warm().built, dossiers_warm().fresh) == (0, 1)
    entry = app.conf.beat_schedule["dossiers-warm"]
    assert entry["task"] == "dossiers.tasks.dossiers_warm_run"
    assert entry["schedule"] == 120.0
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "maintenance"
