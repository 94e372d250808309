"""The signal registry and their set-based computation from the daily rollups.

One registry (name, label, unit, group, how computed) is shared by rules, plays and
pages. ``signals_compute`` reads a chunk of accounts with a fixed number of aggregate
queries over ``AccountDay``, ``AccountUserDay`` and ``AccountFeatureDay`` (never raw
events), as of any UTC day, so the live scoring and the backtest run the same code.

How plan limits are measured (``usage_pct``): a ``per_month`` limit counts the calendar
month of the as-of day, a ``current`` limit the running total up to it. Seats are the
account's product users; the other limits read the usage metric of the same key, or the
feature named in ``LIMIT_FEATURES`` (exports are "Report Exported" feature events). A
limit hit in the last 14 days counts as at least 100 % of that limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import (
    Case,
    Count,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from accounts.models import (
    Account,
    AccountDay,
    AccountDomain,
    AccountFeatureDay,
    AccountUserDay,
    Deal,
    Plan,
    PlanLimit,
    ProductUser,
    TrackingPlanEntry,
)
from scoring.models import IcpEntry


@dataclass(frozen=True)
class Signal:
    name: str
    label: str
    unit: str
    group: str
    computed: str  # how, in words, for the signals page and the rule editor


SIGNALS: tuple[Signal, ...] = (
    Signal("active_users_7", "Active users, 7 days", "users", "Team size",
           "Distinct product users with an event in the last 7 days."),
    Signal("active_users_30", "Active users, 30 days", "users", "Team size",
           "Distinct product users with an event in the last 30 days."),
    Signal("core_features_30", "Core features used, 30 days", "features", "Feature adoption",
           "Distinct tracking-plan core features used in the last 30 days."),
    Signal("integrations", "Integrations connected", "integrations", "Feature adoption",
           "Distinct integrations ever connected."),
    Signal("usage_pct", "Usage of the plan's limit", "%", "Usage volume",
           "Highest percentage of any limit of the account's plan, by the limit's counting mode."),
    Signal("active_days_14", "Active days of the last 14", "days", "Engagement streak",
           "Days with at least one event among the last 14."),
    Signal("active_days_30", "Active days of the last 30", "days", "Engagement streak",
           "Days with at least one event among the last 30."),
    Signal("users_wow_pct", "Active users, week over week", "%", "Velocity",
           "Change of active users, last 7 days against the 7 before."),
    Signal("events_wow_pct", "Events, week over week", "%", "Velocity",
           "Change of events, last 7 days against the 7 before."),
    Signal("departments_30", "Departments active, 30 days", "departments", "Spread",
           "Distinct departments of the users active in the last 30 days."),
    Signal("invites_30", "Teammates invited, 30 days", "invites", "Spread",
           "Invites sent in the last 30 days."),
    Signal("employees", "Employees", "employees", "Enterprise fit",
           "Company size, from group traits, enrichment or an admin."),
    Signal("icp_domain", "ICP domain", "yes/no", "Enterprise fit",
           "1 when one of the account's domains is on the admins' ICP list."),
    Signal("icp_industry", "ICP industry", "yes/no", "Enterprise fit",
           "1 when the account's industry is on the admins' ICP list."),
    Signal("arr_potential", "ARR potential", "$", "ARR potential",
           "Estimated annual revenue if the whole company bought (accounts' ARR estimate)."),
    Signal("pricing_views_30", "Pricing page views, 30 days", "views", "Buyer intent",
           "Views of the pricing page in the last 30 days."),
    Signal("legal_views_30", "Terms and privacy views, 30 days", "views", "Buyer intent",
           "Views of the terms or privacy pages in the last 30 days."),
    Signal("security_views_30", "Security page views, 30 days", "views", "Buyer intent",
           "Views of the security page in the last 30 days."),
    Signal("sso_audit_30", "SSO or audit-log attempts, 30 days", "events", "Buyer intent",
           "SSO set-up attempts and audit-log views in the last 30 days."),
    Signal("admin_change_30", "Admin changes, 30 days", "events", "Buyer intent",
           "Workspace admin changes in the last 30 days."),
    Signal("paywall_hits_14", "Paywall hits, 14 days", "hits", "Buyer intent",
           "Features tried but not in the plan, last 14 days."),
    Signal("limit_hits_7", "Limit hits, 7 days", "hits", "Buyer intent",
           "Plan limits hit in the last 7 days."),
    Signal("limit_hits_14", "Limit hits, 14 days", "hits", "Buyer intent",
           "Plan limits hit in the last 14 days."),
    Signal("api_key_30", "API keys created, 30 days", "events", "Feature adoption",
           "API keys created in the last 30 days."),
    Signal("idle_days", "Days since last activity", "days", "Engagement streak",
           "Days since the last event (31 when none in the last 31 days)."),
    Signal("checkout_in_progress", "Checkout in progress", "yes/no", "Checkout",
           "1 when a checkout was started and not completed after it."),
    Signal("sales_request_days", "Days since a sales request", "days", "Sales request",
           "Days since the account asked for a demo or contact with sales (blank: never)."),
    Signal("paid_plan", "On a paid plan", "yes/no", "Checkout",
           "1 when the account's plan is paid."),
)  # fmt: skip
SIGNALS_BY_NAME = {s.name: s for s in SIGNALS}
SIGNAL_CHOICES = [(s.name, f"{s.label} ({s.unit})") for s in SIGNALS]

# Limits measured by a feature's events instead of a usage metric of the same key.
LIMIT_FEATURES = {"exports": "export", "projects": "projects"}
WINDOW_DAYS = 31  # the widest window read day by day (30 days, plus the month's start)
IDLE_CAP = WINDOW_DAYS

INTENT_KEYS = {
    "pricing_views_30": ("pricing",),
    "legal_views_30": ("terms", "privacy"),
    "security_views_30": ("security",),
    "sso_audit_30": ("sso", "audit_log"),
    "admin_change_30": ("admin_change",),
}


@dataclass(frozen=True)
class Scope:
    """Which accounts a query reads: an id range (full runs) or a list (incremental)."""

    ids: tuple[int, ...]
    as_range: bool = False

    def q(self, field: str = "account_id") -> Q:
        if self.as_range:
            return Q(**{f"{field}__gte": self.ids[0], f"{field}__lte": self.ids[-1]})
        return Q(**{f"{field}__in": self.ids})


@dataclass
class AccountFacts:
    """The account fields routing reads, next to the signals."""

    id: int
    name: str
    domain: str
    plan_id: int | None
    owner_id: int | None
    merged_into_id: int | None
    created_at: datetime
    arr_potential: float | None
    checkout_started_at: datetime | None
    checkout_completed_at: datetime | None
    sales_request_at: datetime | None
    usage_changed_at: datetime | None
    employees: int | None = None
    industry: str = ""
    usage_limit: str = ""  # the limit behind usage_pct


def day_end(as_of: date) -> datetime:
    """The end of the as-of UTC day: what 'now' is for a backtest."""
    return datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)


def _int_key(field: str, key: str):
    return Coalesce(Cast(KT(f"{field}__{key}"), IntegerField()), 0)


def _number_key(field: str, key: str):
    """Usage metrics are sums of a property and may be fractional (400.5 API calls)."""
    return Coalesce(Cast(KT(f"{field}__{key}"), FloatField()), 0.0)


def _limit_keys() -> list[str]:
    return sorted(set(PlanLimit.objects.values_list("key", flat=True)))


def _feature_keys() -> tuple[list[str], list[str]]:
    """(core feature keys, integration feature keys or prefixes) from the tracking plan."""
    core, integrations = [], []
    for key, flag in TrackingPlanEntry.objects.filter(
        category=TrackingPlanEntry.Category.FEATURE, flag__in=["core", "integration"]
    ).values_list("key", "flag"):
        (core if flag == "core" else integrations).append(key)
    return sorted(set(core)), sorted(set(integrations))


def _wow(now: int, before: int) -> float:
    if before <= 0:
        return 100.0 if now > 0 else 0.0
    return round((now - before) * 100.0 / before, 1)


@dataclass
class _Context:
    """What every chunk of one run shares: read once per run."""

    limit_keys: list[str]
    core_keys: list[str]
    integration_keys: list[str]
    plan_limits: dict[int | None, list[tuple[str, int, str]]]
    paid_plans: set[int]
    icp_domains: set[str]
    icp_industries: set[str]


def signals_context() -> _Context:
    limits: dict[int | None, list[tuple[str, int, str]]] = defaultdict(list)
    for plan_id, key, value, mode in PlanLimit.objects.values_list(
        "plan_id", "key", "value", "counting_mode"
    ).order_by("plan__position", "key"):
        limits[plan_id].append((key, value, mode))
    # An account with no plan is held to the lowest plan's limits (free, by position).
    lowest = Plan.objects.order_by("position", "id").values_list("id", flat=True).first()
    limits[None] = limits.get(lowest, [])
    core, integrations = _feature_keys()
    icp = IcpEntry.objects.values_list("kind", "value")
    return _Context(
        limit_keys=_limit_keys(),
        core_keys=core,
        integration_keys=integrations,
        plan_limits=dict(limits),
        paid_plans=set(Plan.objects.filter(is_paid=True).values_list("id", flat=True)),
        icp_domains={v for k, v in icp if k == IcpEntry.Kind.DOMAIN},
        icp_industries={v for k, v in icp if k == IcpEntry.Kind.INDUSTRY},
    )


def signals_compute(
    *, scope: Scope, as_of: date, context: _Context | None = None
) -> tuple[dict[int, AccountFacts], dict[int, dict[str, float | None]]]:
    """Facts and signals of the scoped accounts as of the end of UTC day ``as_of``.

    Seven queries whatever the number of accounts. Merged-away accounts are returned
    (routing retires them) but never accounts created after ``as_of``.
    """
    ctx = context or signals_context()
    end = day_end(as_of)
    facts: dict[int, AccountFacts] = {}
    # An owner comes with the first sales win; as of an earlier day there was none yet
    # (a backtest must not see the outcome it is measured against).
    first_win = (
        Deal.objects.filter(
            account=OuterRef("pk"), stage=Deal.Stage.WON, motion=Deal.Motion.SALES_ASSISTED
        )
        .order_by("closed_at")
        .values("closed_at")[:1]
    )
    accounts = Account.objects.filter(scope.q("id"), created_at__lt=end).annotate(
        first_sales_win=Case(When(owner__isnull=False, then=Subquery(first_win)))
    )
    for row in accounts.values(
        "id", "name", "domain", "plan_id", "owner_id", "merged_into_id", "created_at",
        "arr_potential", "checkout_started_at", "checkout_completed_at", "sales_request_at",
        "usage_changed_at", "employees", "industry", "first_sales_win",
    ):  # fmt: skip
        if row["first_sales_win"] is not None and row["first_sales_win"] >= end:
            row["owner_id"] = None
        arr = row["arr_potential"]
        facts[row["id"]] = AccountFacts(
            id=row["id"],
            name=row["name"],
            domain=row["domain"],
            plan_id=row["plan_id"],
            owner_id=row["owner_id"],
            merged_into_id=row["merged_into_id"],
            created_at=row["created_at"],
            arr_potential=float(arr) if arr is not None else None,
            checkout_started_at=_before(row["checkout_started_at"], end),
            checkout_completed_at=_before(row["checkout_completed_at"], end),
            sales_request_at=_before(row["sales_request_at"], end),
            usage_changed_at=row["usage_changed_at"],
            employees=row["employees"],
            industry=(row["industry"] or "").strip().lower(),
        )
    if not facts:
        return {}, {}
    ids_scope = scope
    d = as_of
    first = d - timedelta(days=WINDOW_DAYS - 1)
    month_start = d.replace(day=1)

    def since(days: int) -> Q:
        return Q(day__gt=d - timedelta(days=days))

    prev_week = Q(day__gt=d - timedelta(days=14), day__lte=d - timedelta(days=7))
    active = Q(events__gt=0)
    day_aggs = {
        "active_days_14": Count("id", filter=active & since(14)),
        "active_days_30": Count("id", filter=active & since(30)),
        "events_7": Sum("events", filter=since(7)),
        "events_prev_7": Sum("events", filter=prev_week),
        "paywall_hits_14": Sum("paywall_hits", filter=since(14)),
        "invites_30": Sum("invites_sent", filter=since(30)),
        "last_active": Max("day", filter=active),
    }
    for signal, keys in INTENT_KEYS.items():
        day_aggs[signal] = Sum(sum((_int_key("intent", k) for k in keys[1:]),
                                   _int_key("intent", keys[0])), filter=since(30))  # fmt: skip
    for key in ctx.limit_keys:
        day_aggs[f"hits7:{key}"] = Sum(_int_key("limit_hits", key), filter=since(7))
        day_aggs[f"hits14:{key}"] = Sum(_int_key("limit_hits", key), filter=since(14))
        day_aggs[f"month:{key}"] = Sum(_number_key("usage", key), filter=Q(day__gte=month_start))
    days = {
        row["account_id"]: row
        for row in AccountDay.objects.filter(ids_scope.q(), day__gte=first, day__lte=d)
        .values("account_id")
        .annotate(**day_aggs)
        .order_by()
    }
    # Running totals of the current-mode limits measured by usage metrics.
    current_usage = [key for key in ctx.limit_keys if key != "seats" and key not in LIMIT_FEATURES]
    totals = {}
    if current_usage:
        totals = {
            row["account_id"]: row
            for row in AccountDay.objects.filter(ids_scope.q(), day__lte=d)
            .exclude(usage={})
            .values("account_id")
            .annotate(**{f"total:{k}": Sum(_number_key("usage", k)) for k in current_usage})
            .order_by()
        }

    users = _user_counts(ids_scope, d=d, first=first)
    seats = dict(
        ProductUser.objects.filter(ids_scope.q(), first_seen_at__lt=end)
        .values("account_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("account_id", "n")
    )

    integration_q = Q()
    for key in ctx.integration_keys:
        integration_q |= Q(feature_key=key) | Q(feature_key__startswith=f"{key}:")
    feature_month = {LIMIT_FEATURES[k]: k for k in LIMIT_FEATURES if k in ctx.limit_keys}
    features = {
        row["account_id"]: row
        for row in AccountFeatureDay.objects.filter(ids_scope.q(), day__gte=first, day__lte=d)
        .values("account_id")
        .annotate(
            core_features_30=Count(
                "feature_key", distinct=True, filter=since(30) & Q(feature_key__in=ctx.core_keys)
            ),
            api_key_30=Sum("events", filter=since(30) & Q(feature_key="api")),
            **{
                f"fmonth:{limit}": Sum(
                    "events", filter=Q(day__gte=month_start, feature_key=feature)
                )
                for feature, limit in feature_month.items()
            },
        )
        .order_by()
    }
    lifetime_aggs = {
        f"ftotal:{limit}": Sum("events", filter=Q(feature_key=feature))
        for feature, limit in feature_month.items()
    }
    if integration_q:
        lifetime_aggs["integrations"] = Count("feature_key", distinct=True, filter=integration_q)
    lifetime = {}
    if lifetime_aggs:
        lifetime = {
            row["account_id"]: row
            for row in AccountFeatureDay.objects.filter(ids_scope.q(), day__lte=d)
            .filter(integration_q | Q(feature_key__in=list(feature_month)))
            .values("account_id")
            .annotate(**lifetime_aggs)
            .order_by()
        }
    icp_accounts = set()
    if ctx.icp_domains:
        icp_accounts = set(
            AccountDomain.objects.filter(ids_scope.q(), domain__in=ctx.icp_domains).values_list(
                "account_id", flat=True
            )
        )

    # Names and readers worked out once per chunk, not per account.
    hits7_keys = [f"hits7:{k}" for k in ctx.limit_keys]
    hits14_keys = [f"hits14:{k}" for k in ctx.limit_keys]
    readers = {
        plan_id: [(key, limit, *_limit_reader(key, mode), f"hits14:{key}")
                  for key, limit, mode in limits if limit > 0]
        for plan_id, limits in ctx.plan_limits.items()
    }  # fmt: skip
    no_limits: list = []
    empty: dict = {}
    signals: dict[int, dict[str, float | None]] = {}
    for account_id, fact in facts.items():
        day = days.get(account_id, empty)
        user = users.get(account_id, empty)
        feature = features.get(account_id, empty)
        life = lifetime.get(account_id, empty)
        total = totals.get(account_id, empty)
        last_active = day.get("last_active")
        values: dict[str, float | None] = {
            "active_users_7": user.get("active_users_7", 0),
            "active_users_30": user.get("active_users_30", 0),
            "core_features_30": feature.get("core_features_30", 0),
            "integrations": life.get("integrations") or 0,
            "active_days_14": day.get("active_days_14", 0),
            "active_days_30": day.get("active_days_30", 0),
            "users_wow_pct": _wow(user.get("active_users_7", 0), user.get("users_prev_7", 0)),
            "events_wow_pct": _wow(day.get("events_7") or 0, day.get("events_prev_7") or 0),
            "departments_30": user.get("departments_30", 0),
            "invites_30": day.get("invites_30") or 0,
            "employees": fact.employees or 0,
            "icp_domain": int(fact.domain.lower() in ctx.icp_domains or account_id in icp_accounts),
            "icp_industry": int(bool(fact.industry) and fact.industry in ctx.icp_industries),
            "arr_potential": fact.arr_potential or 0,
            **{signal: day.get(signal) or 0 for signal in INTENT_KEYS},
            "paywall_hits_14": day.get("paywall_hits_14") or 0,
            "limit_hits_7": sum(day.get(k) or 0 for k in hits7_keys) if day else 0,
            "limit_hits_14": sum(day.get(k) or 0 for k in hits14_keys) if day else 0,
            "api_key_30": feature.get("api_key_30") or 0,
            "idle_days": (d - last_active).days if last_active else IDLE_CAP,
            "checkout_in_progress": int(
                fact.checkout_started_at is not None
                and (
                    fact.checkout_completed_at is None
                    or fact.checkout_completed_at < fact.checkout_started_at
                )
            ),
            "sales_request_days": (
                (end - fact.sales_request_at).days if fact.sales_request_at else None
            ),
            "paid_plan": int(fact.plan_id in ctx.paid_plans),
        }
        best, best_key = 0.0, ""
        for key, limit, source, name, hits_name in readers.get(fact.plan_id, no_limits):
            if source is _SEATS:
                used = seats.get(account_id, 0)
            elif source is _FEATURES:
                used = feature.get(name)
            elif source is _LIFETIME:
                used = life.get(name)
            elif source is _DAYS:
                used = day.get(name)
            else:
                used = total.get(name)
            pct = (used or 0) * 100.0 / limit
            if day.get(hits_name):
                pct = max(pct, 100.0)
            if pct > best:
                best, best_key = pct, key
        values["usage_pct"] = round(best, 1)
        fact.usage_limit = best_key
        signals[account_id] = values
    return facts, signals


# Where a plan limit's usage is read from (see ``_limit_reader``).
_SEATS, _FEATURES, _LIFETIME, _DAYS, _TOTALS = "seats", "features", "lifetime", "days", "totals"


def _limit_reader(key: str, mode: str) -> tuple[str, str]:
    """(which aggregate, which name in it) holds the usage of a limit counted by ``mode``."""
    if key == "seats":
        return _SEATS, ""
    if key in LIMIT_FEATURES:
        return (_FEATURES, f"fmonth:{key}") if mode == "per_month" else (_LIFETIME, f"ftotal:{key}")
    if mode == "per_month":
        return _DAYS, f"month:{key}"
    return _TOTALS, f"total:{key}"


def _user_counts(scope: Scope, *, d: date, first: date) -> dict[int, dict[str, int]]:
    """Active users (7 and 30 days, the week before) and departments of each account.

    Each user's days are grouped first (its last active day, and whether it was active
    the week before), then counted per account; a department is looked up once per user
    active in 30 days, by primary key. Counting distinct users and departments straight
    over the user-days instead sorts every aggregate's input and joins every user-day
    to its user (a scan of all product users per chunk)."""
    quote, adapt = connection.ops.quote_name, connection.ops.adapt_datefield_value
    day_7, day_14, day_30 = (adapt(d - timedelta(days=n)) for n in (7, 14, 30))
    if scope.as_range:
        scope_sql = "account_id >= %s AND account_id <= %s"
        scope_params = [scope.ids[0], scope.ids[-1]]
    else:
        scope_sql = f"account_id IN ({', '.join(['%s'] * len(scope.ids))})"
        scope_params = list(scope.ids)
    sql = f"""
        SELECT g.account_id,
            SUM(CASE WHEN g.last_day > %s THEN 1 ELSE 0 END),
            SUM(CASE WHEN g.last_day > %s THEN 1 ELSE 0 END),
            SUM(g.prev_week),
            COUNT(DISTINCT CASE WHEN g.last_day > %s THEN (
                SELECT u.department FROM {quote(ProductUser._meta.db_table)} u
                WHERE u.id = g.user_id AND u.department <> ''
            ) END)
        FROM (
            SELECT account_id, user_id, MAX(day) AS last_day,
                MAX(CASE WHEN day > %s AND day <= %s THEN 1 ELSE 0 END) AS prev_week
            FROM {quote(AccountUserDay._meta.db_table)}
            WHERE {scope_sql} AND day >= %s AND day <= %s
            GROUP BY account_id, user_id
        ) g
        GROUP BY g.account_id
    """  # noqa: S608 (table names only; values are parameters)
    params = [day_7, day_30, day_30, day_14, day_7, *scope_params, adapt(first), adapt(d)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            account_id: {
                "active_users_7": users_7,
                "active_users_30": users_30,
                "users_prev_7": users_prev_7,
                "departments_30": departments,
            }
            for account_id, users_7, users_30, users_prev_7, departments in cursor.fetchall()
        }


def _before(value: datetime | None, end: datetime) -> datetime | None:
    """A guard timestamp as the as-of day knew it (later ones did not happen yet)."""
    return value if value is not None and value < end else None


def signal_label(name: str) -> str:
    signal = SIGNALS_BY_NAME.get(name)
    return signal.label if signal else name


def signals_in(names: Iterable[str]) -> list[Signal]:
    return [SIGNALS_BY_NAME[n] for n in names if n in SIGNALS_BY_NAME]
