"""Rule-set versions: clone into a draft, edit, propose, activate, archive — each step
in the audit log. PMs and admins draft, edit and propose; only admins activate
(DESIGN.md "Decisions": PMs own the PQL definition, an admin activates it)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from pls_portal.models import Role, User
from scoring.models import Rule, RuleSet, RuleSetAudit
from scoring.signals import SIGNALS_BY_NAME

SETTING_FIELDS = (
    "ae_threshold", "sdr_threshold", "value_points", "value_cutoff", "engagement_cutoff",
    "arr_floor", "backoff_days", "cooldown_days", "ae_sla_hours", "sdr_sla_hours",
    "checkout_hold_hours", "sales_request_days", "expansion_user_growth_pct",
    "ae_weekly_capacity",
)  # fmt: skip
RULE_FIELDS = (
    "signal", "operator", "threshold", "threshold_high", "points", "dimension",
    "half_life_days", "label", "position",
)  # fmt: skip


class RuleSetError(Exception):
    """A rule-set change that is not allowed, in words for the page."""


def _audit(rule_set: RuleSet, user: User | None, action: str, detail: str = "") -> None:
    RuleSetAudit.objects.create(rule_set=rule_set, user=user, action=action, detail=detail[:2000])


def _editable(rule_set_id: int) -> RuleSet:
    rule_set = RuleSet.objects.select_for_update().get(pk=rule_set_id)
    if not rule_set.editable:
        raise RuleSetError(
            f"v{rule_set.version} is {rule_set.get_state_display().lower()}: clone it into a "
            "draft to change it"
        )
    return rule_set


def rule_set_clone(*, rule_set_id: int, user: User | None, name: str = "") -> RuleSet:
    """A new draft with the source's settings and rules."""
    with transaction.atomic():
        source = RuleSet.objects.get(pk=rule_set_id)
        version = (RuleSet.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        draft = RuleSet.objects.create(
            version=version,
            name=(name or f"Draft from v{source.version}")[:120],
            description=source.description,
            state=RuleSet.State.DRAFT,
            based_on=source,
            created_by=user,
            **{f: getattr(source, f) for f in SETTING_FIELDS},
        )
        Rule.objects.bulk_create(
            Rule(rule_set=draft, **{f: getattr(rule, f) for f in RULE_FIELDS})
            for rule in source.rules.all()
        )
        _audit(draft, user, "created", f"cloned from v{source.version}")
    return draft


def _describe(changes: dict) -> str:
    return ", ".join(f"{name} → {value}" for name, value in changes.items())


def rule_set_update(*, rule_set_id: int, user: User, **changes) -> RuleSet:
    """Change a draft's (or proposal's) name, description or settings."""
    allowed = {"name", "description", *SETTING_FIELDS}
    unknown = set(changes) - allowed
    if unknown:
        raise RuleSetError(f"cannot change {', '.join(sorted(unknown))}")
    with transaction.atomic():
        rule_set = _editable(rule_set_id)
        changed = {k: v for k, v in changes.items() if getattr(rule_set, k) != v}
        for name, value in changed.items():
            setattr(rule_set, name, value)
        rule_set.full_clean()
        if rule_set.sdr_threshold > rule_set.ae_threshold:
            raise ValidationError(
                {"sdr_threshold": "The SDR threshold must not exceed the AE one."}
            )
        if changed:
            rule_set.save()
            _audit(rule_set, user, "settings changed", _describe(changed))
    return rule_set


def _rule_check(rule: Rule) -> None:
    if rule.signal not in SIGNALS_BY_NAME:
        raise ValidationError({"signal": f"Unknown signal “{rule.signal}”."})
    if rule.operator == "between" and (
        rule.threshold_high is None or rule.threshold_high < rule.threshold
    ):
        raise ValidationError(
            {"threshold_high": "“between” needs an upper bound at least the threshold."}
        )
    if rule.points == 0:
        raise ValidationError({"points": "Points must not be 0 (−100 to +100)."})
    rule.full_clean(exclude=["rule_set"])


def rule_save(*, rule_set_id: int, user: User, rule_id: int | None = None, **fields) -> Rule:
    """Add a rule to a draft, or change one of its rules."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise RuleSetError(f"cannot set {', '.join(sorted(unknown))}")
    with transaction.atomic():
        rule_set = _editable(rule_set_id)
        if rule_id is None:
            rule = Rule(rule_set=rule_set, position=rule_set.rules.count())
            action = "rule added"
        else:
            rule = rule_set.rules.get(pk=rule_id)
            action = "rule changed"
        before = {f: getattr(rule, f) for f in RULE_FIELDS}
        for name, value in fields.items():
            setattr(rule, name, value)
        _rule_check(rule)
        changed = {f: getattr(rule, f) for f in RULE_FIELDS if getattr(rule, f) != before[f]}
        if rule_id is None or changed:
            rule.save()
            _audit(rule_set, user, action, f"{rule}: {_describe(changed)}")
    return rule


def rule_delete(*, rule_set_id: int, user: User, rule_id: int) -> None:
    with transaction.atomic():
        rule_set = _editable(rule_set_id)
        rule = rule_set.rules.get(pk=rule_id)
        _audit(rule_set, user, "rule removed", str(rule))
        rule.delete()


def rule_set_propose(*, rule_set_id: int, user: User) -> RuleSet:
    with transaction.atomic():
        rule_set = _editable(rule_set_id)
        if rule_set.state == RuleSet.State.PROPOSED:
            raise RuleSetError(f"v{rule_set.version} is already proposed")
        if not rule_set.rules.exists():
            raise RuleSetError("a rule set needs at least one rule")
        rule_set.state = RuleSet.State.PROPOSED
        rule_set.proposed_at = timezone.now()
        rule_set.save(update_fields=["state", "proposed_at", "updated_at"])
        _audit(rule_set, user, "proposed")
    return rule_set


def rule_set_withdraw(*, rule_set_id: int, user: User) -> RuleSet:
    """A proposal goes back to draft."""
    with transaction.atomic():
        rule_set = _editable(rule_set_id)
        if rule_set.state != RuleSet.State.PROPOSED:
            raise RuleSetError(f"v{rule_set.version} is not proposed")
        rule_set.state = RuleSet.State.DRAFT
        rule_set.save(update_fields=["state", "updated_at"])
        _audit(rule_set, user, "withdrawn")
    return rule_set


@dataclass(frozen=True)
class Activation:
    rule_set: RuleSet
    previous: RuleSet | None


def rule_set_activate(*, rule_set_id: int, user: User) -> Activation:
    """Make a draft or proposal the active set; the old one is archived. The caller
    starts the full rescore (``rescore_start``) after the commit."""
    if user.role != Role.ADMIN:
        raise RuleSetError("only admins activate a rule set")
    with transaction.atomic():
        rule_set = _editable(rule_set_id)
        if not rule_set.rules.exists():
            raise RuleSetError("a rule set needs at least one rule")
        previous = RuleSet.objects.select_for_update().filter(state=RuleSet.State.ACTIVE).first()
        if previous is not None:
            previous.state = RuleSet.State.ARCHIVED
            previous.save(update_fields=["state", "updated_at"])
            _audit(previous, user, "archived", f"replaced by v{rule_set.version}")
        rule_set.state = RuleSet.State.ACTIVE
        rule_set.activated_at = timezone.now()
        rule_set.save(update_fields=["state", "activated_at", "updated_at"])
        _audit(rule_set, user, "activated")
    return Activation(rule_set=rule_set, previous=previous)


def rule_set_delete(*, rule_set_id: int, user: User) -> None:
    """Drafts may be thrown away; anything that was proposed or active stays for the log."""
    with transaction.atomic():
        rule_set = RuleSet.objects.select_for_update().get(pk=rule_set_id)
        if rule_set.state != RuleSet.State.DRAFT:
            raise RuleSetError("only drafts can be deleted")
        rule_set.delete()
