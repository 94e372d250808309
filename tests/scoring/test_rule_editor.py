"""The rule editor: clone, edit inline, propose, activate (admins only) with a full
rescore Job, and the audit log of who did what."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from pls_portal.models import Job
from scoring.forms import RuleSetSettingsForm
from scoring.models import Rule, RuleSet, RuleSetAudit
from scoring.services.rulesets import (
    RuleSetError,
    rule_save,
    rule_set_activate,
    rule_set_clone,
    rule_set_propose,
)

pytestmark = pytest.mark.django_db


def active():
    return RuleSet.objects.get(state=RuleSet.State.ACTIVE)


def test_the_default_rule_set_holds_the_seeds_thresholds():
    rule_set = active()
    assert (rule_set.version, rule_set.ae_threshold, rule_set.sdr_threshold) == (1, 70, 40)
    assert (rule_set.backoff_days, rule_set.ae_sla_hours, rule_set.sdr_sla_hours) == (7, 24, 48)
    assert rule_set.arr_floor == 10_000
    # Value and engagement cut-offs at half of each dimension's points.
    assert rule_set.value_cutoff * 2 == rule_set.value_points
    assert rule_set.engagement_cutoff * 2 == rule_set.engagement_points
    thresholds = {(r.signal, r.threshold) for r in rule_set.rules.all()}
    for seed in [
        ("active_users_30", 5),
        ("active_users_30", 7),
        ("core_features_30", 4),
        ("integrations", 3),
        ("usage_pct", 80),
        ("active_days_14", 10),
        ("invites_30", 3),
        ("active_days_30", 5),
        ("arr_potential", 25_000),
        ("employees", 500),
        ("icp_domain", 1),
    ]:
        assert seed in thresholds


def test_rules_page_lists_versions_and_the_active_one(client, pm):
    client.force_login(pm)
    page = client.get(reverse("scoring:rules")).content.decode()
    assert "Active: " in page and "v1 Seed defaults" in page
    assert "Rescore all accounts" not in page  # admins only


def test_clone_makes_a_draft_with_the_same_rules_and_an_audit_row(client, pm):
    client.force_login(pm)
    response = client.post(reverse("scoring:rule_set_clone", args=[active().pk]))
    draft = RuleSet.objects.get(state=RuleSet.State.DRAFT)
    assert response["Location"] == reverse("scoring:rule_set", args=[draft.pk])
    assert draft.rules.count() == active().rules.count()
    assert draft.based_on == active()
    audit = RuleSetAudit.objects.get(rule_set=draft)
    assert (audit.user, audit.action, audit.detail) == (pm, "created", "cloned from v1")


def test_inline_edit_saves_a_rule_and_returns_its_row(client, pm):
    draft = rule_set_clone(rule_set_id=active().pk, user=pm)
    rule = draft.rules.get(signal="core_features_30")
    client.force_login(pm)
    url = reverse("scoring:rule_edit", args=[draft.pk, rule.pk])
    form = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="rule-form-row"' in form
    prefix = f"rule-{rule.pk}"
    data = {
        f"{prefix}-signal": "core_features_30",
        f"{prefix}-operator": "gte",
        f"{prefix}-threshold": "3",
        f"{prefix}-points": "14",
        f"{prefix}-dimension": "engagement",
        f"{prefix}-label": "Core features used",
    }
    row = client.post(url, data, headers={"HX-Request": "true"})
    assert row.status_code == 200
    assert 'data-testid="rule-row"' in row.content.decode()
    assert ">+14<" in row.content.decode()
    rule.refresh_from_db()
    assert (rule.threshold, rule.points) == (3, 14)
    entry = RuleSetAudit.objects.filter(rule_set=draft, action="rule changed").get()
    assert "threshold → 3" in entry.detail and "points → 14" in entry.detail


def test_inline_edit_names_the_bad_field(client, pm):
    draft = rule_set_clone(rule_set_id=active().pk, user=pm)
    rule = draft.rules.first()
    client.force_login(pm)
    prefix = f"rule-{rule.pk}"
    response = client.post(
        reverse("scoring:rule_edit", args=[draft.pk, rule.pk]),
        {
            f"{prefix}-signal": rule.signal,
            f"{prefix}-operator": "between",
            f"{prefix}-threshold": "5",
            f"{prefix}-points": "250",
            f"{prefix}-dimension": "value",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Ensure this value is less than or equal to 100." in page
    assert "“between” needs an upper bound" in page
    rule.refresh_from_db()
    assert rule.points != 250


def test_settings_refuse_an_sdr_threshold_above_the_ae_one(client, pm):
    draft = rule_set_clone(rule_set_id=active().pk, user=pm)
    client.force_login(pm)
    data = {f"settings-{name}": getattr(draft, name) for name in RuleSetSettingsForm.Meta.fields}
    data["settings-sdr_threshold"] = 80
    response = client.post(reverse("scoring:rule_set_settings", args=[draft.pk]), data)
    assert response.status_code == 400
    assert "Must be at most the AE threshold (70)." in response.content.decode()
    data["settings-sdr_threshold"] = 45
    response = client.post(reverse("scoring:rule_set_settings", args=[draft.pk]), data)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.sdr_threshold == 45
    assert RuleSetAudit.objects.filter(rule_set=draft, detail="sdr_threshold → 45").exists()


def test_active_and_archived_sets_cannot_change():
    with pytest.raises(RuleSetError, match="clone it into a draft"):
        rule_save(rule_set_id=active().pk, user=None, rule_id=active().rules.first().pk, points=1)


def test_pm_proposes_but_only_an_admin_activates(client, pm, admin_user):
    draft = rule_set_clone(rule_set_id=active().pk, user=pm)
    client.force_login(pm)
    client.post(reverse("scoring:rule_set_propose", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.state == RuleSet.State.PROPOSED
    assert client.post(reverse("scoring:rule_set_activate", args=[draft.pk])).status_code == 403
    with pytest.raises(RuleSetError, match="only admins"):
        rule_set_activate(rule_set_id=draft.pk, user=pm)

    client.force_login(admin_user)
    confirm = client.get(reverse("scoring:rule_set_activate", args=[draft.pk])).content.decode()
    assert "v1 “Seed defaults” will be archived" in confirm
    response = client.post(reverse("scoring:rule_set_activate", args=[draft.pk]))
    job = Job.objects.get(kind="rescore")
    assert response["Location"] == reverse("job_detail", args=[job.pk])
    states = dict(RuleSet.objects.values_list("version", "state"))
    assert states == {1: "archived", draft.version: "active"}
    assert RuleSetAudit.objects.filter(rule_set=draft, action="activated", user=admin_user)


def test_exactly_one_active_rule_set():
    draft = rule_set_clone(rule_set_id=active().pk, user=None)
    rule_set_propose(rule_set_id=draft.pk, user=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        RuleSet.objects.filter(pk=draft.pk).update(state=RuleSet.State.ACTIVE)


def test_a_rule_set_needs_a_rule_to_be_proposed(pm):
    draft = rule_set_clone(rule_set_id=active().pk, user=pm)
    Rule.objects.filter(rule_set=draft).delete()
    with pytest.raises(RuleSetError, match="at least one rule"):
        rule_set_propose(rule_set_id=draft.pk, user=pm)
