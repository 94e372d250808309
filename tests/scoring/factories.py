"""factory-boy factories for the scoring tests: rollup rows, rule sets and rules, scores
and queue items. Accounts, product users and plans come from ``tests.factories``."""

import itertools
from datetime import datetime, timedelta

import factory
from django.utils import timezone

from accounts.ingest import Message, parse_event
from accounts.models import AccountDay, AccountFeatureDay, AccountUserDay
from accounts.services.ingestion import events_ingest
from scoring.models import (
    AccountScore,
    Dimension,
    IcpEntry,
    Operator,
    QueueItem,
    Route,
    Rule,
    RuleSet,
)
from tests.factories import AccountFactory, ProductUserFactory

# --- rollups ----------------------------------------------------------------------------


class AccountDayFactory(factory.django.DjangoModelFactory):
    """One account's usage on one UTC day (what the rollup writes)."""

    class Meta:
        model = AccountDay

    account = factory.SubFactory(AccountFactory)
    day = factory.LazyFunction(lambda: timezone.now().date())
    events = 1
    active_users = 1


class AccountUserDayFactory(factory.django.DjangoModelFactory):
    """One product user's events in their account on one UTC day."""

    class Meta:
        model = AccountUserDay

    account = factory.SubFactory(AccountFactory)
    user = factory.SubFactory(ProductUserFactory, account=factory.SelfAttribute("..account"))
    day = factory.LazyFunction(lambda: timezone.now().date())
    events = 1


class AccountFeatureDayFactory(factory.django.DjangoModelFactory):
    """One tracking-plan feature's events in one account on one UTC day."""

    class Meta:
        model = AccountFeatureDay

    account = factory.SubFactory(AccountFactory)
    feature_key = "projects"
    day = factory.LazyFunction(lambda: timezone.now().date())
    events = 1


# --- rule sets ----------------------------------------------------------------------------


class RuleSetFactory(factory.django.DjangoModelFactory):
    """A draft rule set with the model's default settings (the migration's v1 stays the
    active one); see ``rule_set_activate_now`` to make one active."""

    class Meta:
        model = RuleSet

    version = factory.Sequence(lambda n: 100 + n)
    name = factory.LazyAttribute(lambda r: f"Test rules v{r.version}")
    state = RuleSet.State.DRAFT


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    rule_set = factory.SubFactory(RuleSetFactory)
    signal = "active_users_30"
    operator = Operator.GTE
    threshold = 5
    points = 10
    dimension = Dimension.ENGAGEMENT
    position = factory.Sequence(lambda n: n)


def rule_set_activate_now(rules: list[dict], **settings) -> RuleSet:
    """Archive the active rule set and make a new one with ``rules`` (RuleFactory
    keyword arguments) and ``settings`` (RuleSet fields) the active one."""
    RuleSet.objects.filter(state=RuleSet.State.ACTIVE).update(state=RuleSet.State.ARCHIVED)
    rule_set = RuleSetFactory(state=RuleSet.State.ACTIVE, activated_at=timezone.now(), **settings)
    for rule in rules:
        RuleFactory(rule_set=rule_set, **rule)
    return rule_set


class IcpEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IcpEntry

    kind = IcpEntry.Kind.DOMAIN
    value = factory.Sequence(lambda n: f"icp{n}.com")


# --- scores and queue items ---------------------------------------------------------------


class AccountScoreFactory(factory.django.DjangoModelFactory):
    """An account's stored score, as a previous scoring run left it."""

    class Meta:
        model = AccountScore

    account = factory.SubFactory(AccountFactory)
    rule_set = factory.LazyFunction(
        lambda: RuleSet.objects.filter(state=RuleSet.State.ACTIVE).first()
    )
    score = 0
    value = 0
    engagement = 0
    route = Route.SELF_SERVE
    route_reason = "set up by the test"
    scored_at = factory.LazyFunction(timezone.now)


class QueueItemFactory(factory.django.DjangoModelFactory):
    """An open AE item routed now, due in the AE SLA (24 h)."""

    class Meta:
        model = QueueItem

    account = factory.SubFactory(AccountFactory)
    route = Route.AE
    state = QueueItem.State.OPEN
    score = 75
    route_reason = "set up by the test"
    created_at = factory.LazyFunction(timezone.now)
    routed_at = factory.LazyAttribute(lambda i: i.created_at)
    due_at = factory.LazyAttribute(
        lambda i: i.routed_at + timedelta(hours=48 if i.route == Route.SDR else 24)
    )


# --- Segment messages through the real ingestion path -------------------------------------

_message_ids = itertools.count()


def segment_message(kind: str, when: datetime, user_id: str | None, **fields) -> dict:
    message = {
        "type": kind,
        "messageId": f"scoring-{next(_message_ids)}",
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        **fields,
    }
    if user_id is not None:
        message["userId"] = user_id
    return message


def identify(user_id: str, email: str, when: datetime, **traits) -> dict:
    return segment_message("identify", when, user_id, traits={"email": email, **traits})


def track(user_id: str, event: str, when: datetime, **properties) -> dict:
    return segment_message("track", when, user_id, event=event, properties=properties)


def page(user_id: str, path: str, when: datetime) -> dict:
    return segment_message("page", when, user_id, properties={"path": path})


def segment_ingest(*messages: dict) -> None:
    """Store messages as the ingestion API would (identity, classification, touched days)."""
    parsed = [parse_event(m, received_at=timezone.now()) for m in messages]
    assert all(isinstance(p, Message) for p in parsed), parsed
    events_ingest(messages=parsed, invalid=[], source="file")
