"""What pages share (pls_portal/cache.py): a value kept per data generation, read again
once an admin's edit bumps it, and never kept past ``SHARED_SECONDS``."""

import pytest

from playbooks.models import Play
from pls_portal import cache as shared_cache
from pls_portal.cache import shared
from scoring.models import RuleSet
from scoring.selectors import active_settings
from scoring.services.rulesets import rule_set_activate, rule_set_clone, rule_set_update


def plays_built() -> list:
    builds = []

    def build() -> list:
        builds.append(1)
        return sorted(Play.objects.filter(is_active=True).values_list("key", flat=True))

    return builds, build


@pytest.mark.django_db
def test_a_shared_value_is_read_once_per_generation(django_capture_on_commit_callbacks):
    builds, build = plays_built()
    first = shared("test:plays", build)
    assert shared("test:plays", build) == first and len(builds) == 1

    with django_capture_on_commit_callbacks(execute=True):  # an admin adds a play
        Play.objects.create(key="new-play", name="New", situation="s", approach="a")

    assert "new-play" in shared("test:plays", build)
    assert len(builds) == 2


@pytest.mark.django_db
def test_a_shared_value_is_read_again_after_a_minute(monkeypatch):
    builds, build = plays_built()
    shared("test:plays", build)
    now = shared_cache.time.monotonic()
    monkeypatch.setattr(
        shared_cache.time, "monotonic", lambda: now + shared_cache.SHARED_SECONDS + 1
    )
    shared("test:plays", build)
    assert len(builds) == 2


@pytest.mark.django_db
def test_the_active_settings_follow_an_activated_rule_set(
    admin_user, django_capture_on_commit_callbacks
):
    before = active_settings().cooldown_days
    active = RuleSet.objects.get(state=RuleSet.State.ACTIVE)
    draft = rule_set_clone(rule_set_id=active.pk, user=admin_user)
    rule_set_update(rule_set_id=draft.pk, user=admin_user, cooldown_days=before + 5)
    assert active_settings().cooldown_days == before  # a draft changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        rule_set_activate(rule_set_id=draft.pk, user=admin_user)

    assert active_settings().cooldown_days == before + 5
