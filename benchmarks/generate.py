"""The benchmark population: accounts, product users and their events, COPYed into PostgreSQL.

Run from the project root::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pls_bench \\
        .venv/bin/python benchmarks/generate.py [--accounts 100000] [--events 10000000] \\
        [--seed 42] [--jobs N] [--reuse] [--replace] [--create-db]

It runs ``migrate`` on that database itself (after ``django.setup()``), then streams rows
with ``COPY … FROM STDIN`` straight into the app's tables: ``accounts_account``,
``accounts_accountdomain``, ``accounts_accountgroup``, ``accounts_productuser``,
``accounts_anonymousid`` and ``accounts_event``, in chunks of 500 accounts, each one COPY
transaction in one of ``--jobs`` worker processes (default: the CPU count); events are
streamed, never held beyond 2,000 lines per worker. SQLite is refused (COPY is PostgreSQL's).
``TouchedDay`` rows and rollups are not written. ``--reuse`` skips everything when the
database already holds at least the requested accounts and events; a database that holds
rows but too few needs ``--replace`` (which TRUNCATEs the account and event tables).

The shape (deterministic for a seed, relative to the moment it runs; team ``i`` is the
same whatever ``--accounts`` is, so a smaller population is a prefix of a larger one):

- **Team sizes** are heavy-tailed: ``floor(Pareto(α=1.25))`` capped at 2,000 users, so
  ~58 % of accounts have one user, ~82 % at most three and ~0.75 % fifty or more.
- **Accounts** have a synthetic company name and a unique primary domain
  (``bluecedar1234.com``; .com, .io, .co.uk, .de, .fr, .com.au), a second domain for
  ~5 % and an ``AccountDomain`` row per domain; one Segment group id (``ws_<i>``), two
  for ~3 %; a plan from the default plans, more often paid the bigger the team; an
  industry and an employee count.
- **Product users** have an email on their account's domain (a few on its second
  domain), a name, a title with seniority and department (the first user is the admin),
  one anonymous id and an IP. After every account, with 10 % probability, one
  **free-mail user with no account** (gmail.com, outlook.com…) joins the population.
- **Activity**: about a quarter of accounts are active in the last 30 days (bigger teams
  more often), ~35 % were active only 30–90 days ago and the rest are dormant (no events
  in the 90-day horizon). Within its window a user is active on a day with its own
  engagement probability (Beta(1.1, 4.5), the admin at least 0.4; weekends × 0.3), and
  each active user-day gets a log-normal weight.
- **Events**: exactly ``--events`` of them, shared among the active user-days in
  proportion to their weight (so "several per active user-day"; the run prints the mean),
  over the last 90 days, in sessions with ~2 minute gaps. Names are drawn from the default
  tracking plan (``accounts/migrations/0002_default_tracking_plan_and_plans.py``) plus
  untracked app pages, weighted per plan tier (free accounts hit limits and paywalls
  more, paid ones use more); identify calls on a user's first day, ``Signed Up`` /
  ``Account Created`` / group calls when an account starts inside the window; 3 % are
  page views by anonymous visitors who never identify. ``category``, ``key`` and
  ``value`` are filled by the ingestion service's own classification against the
  database's tracking plan. Message ids are unique and ordered (``pop42-0000000001``).
- Afterwards, set-based: users' first/last seen from their events, accounts' checkout
  and sales-request guard timestamps, identity sequences, ``ANALYZE``.

As a library (``benchmarks/ingest.py`` uses it for Segment messages of the same shape):
``population`` yields ``Team``s, ``user_days`` their active user-days, ``EventShapes``
makes a session's ``GeneratedEvent``s, ``segment_message`` turns one into Segment JSON and
``event_line`` into a line of ``COPY accounts_event`` text.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_ACCOUNTS = 100_000
DEFAULT_EVENTS = 10_000_000
DEFAULT_SEED = 42
HORIZON_DAYS = 90
RECENT_DAYS = 30
DAY = 86_400
MAX_TEAM = 2_000
TEAM_ALPHA = 1.25
FREE_MAIL_SHARE = 0.10
ANONYMOUS_SHARE = 0.03
SESSION_GAP_SECONDS = 120


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Ada Alan Alice Amir Ana Anna Ben Carla Chen David Elena Emma Eva Farah Felix Grace "
    "Hana Hugo Ines Ivan Jack James Jana Julia Kai Kenji Laura Leo Lina Lucas Maria Mark "
    "Mia Nina Noah Olga Omar Paul Priya Rosa Sam Sara Sofia Tom Uma Victor Yara Yuki Zoe"
)
LAST_NAMES = _words(
    "Abe Bauer Berg Brown Costa Diaz Dubois Evans Fischer Garcia Hansen Ito Jensen Khan "
    "Kim Klein Kowalski Lee Lopez Martin Meyer Moreau Muller Nagy Novak Ortiz Patel Petit "
    "Rossi Sato Schmidt Silva Smith Suzuki Taylor Tanaka Wagner Walker Wang Weber Young"
)
ADJECTIVES = _words(
    "blue bright bold brave calm clear cold crisp deep fair fast fine free gold green "
    "grand great high iron keen kind late light lone lucky mint new north oak open prime "
    "quick quiet rapid red royal sharp silver smart solid south still stone sun swift "
    "tall true vast warm west white wild wise"
)
NOUNS = _words(
    "anchor arc bay beacon bird bridge brook canyon cedar cloud coast comet crest dune "
    "field fjord flow forge fox grove harbor hawk hill lake leaf ledger lynx maple meadow "
    "mesa mill orbit otter peak pine pixel quarry reef ridge river rock sail signal "
    "spark spring star stream summit tide trail vale wave willow wind"
)
COMPANY_SUFFIXES = ("", "", "", " Labs", " Inc", " GmbH", " Ltd", " Systems", " Group")
TLDS = (("com", 70), ("io", 10), ("co.uk", 6), ("de", 6), ("fr", 4), ("com.au", 4))
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "gmx.de")
INDUSTRIES = (
    "Software",
    "Financial services",
    "E-commerce",
    "Healthcare",
    "Education",
    "Manufacturing",
    "Media",
    "Consulting",
    "Logistics",
    "Marketing agency",
    "Non-profit",
    "Real estate",
)
# (title, seniority, department, weight)
TITLES = (
    ("Software Engineer", "individual", "Engineering", 20),
    ("Senior Software Engineer", "senior", "Engineering", 10),
    ("Data Analyst", "individual", "Data", 10),
    ("Product Manager", "manager", "Product", 8),
    ("Designer", "individual", "Design", 6),
    ("Marketing Manager", "manager", "Marketing", 6),
    ("Operations Specialist", "individual", "Operations", 6),
    ("Engineering Manager", "manager", "Engineering", 5),
    ("Account Executive", "individual", "Sales", 4),
    ("Head of Data", "director", "Data", 2),
    ("VP Engineering", "vp", "Engineering", 1),
    ("CTO", "c_level", "Engineering", 1),
    ("CEO", "c_level", "Management", 1),
)
ADMIN_TITLES = (
    ("Engineering Manager", "manager", "Engineering", 5),
    ("Head of Data", "director", "Data", 3),
    ("Product Manager", "manager", "Product", 3),
    ("VP Engineering", "vp", "Engineering", 2),
    ("CTO", "c_level", "Engineering", 2),
    ("CEO", "c_level", "Management", 2),
    ("Software Engineer", "individual", "Engineering", 4),
)
PAID_PLANS = (("team", 60), ("business", 30), ("enterprise", 10))

# Relative weight of each event per tier (free account, paid account, free-mail user).
# Names of the default tracking plan not listed here get RARE.
RARE = (0.02, 0.02, 0.02)
TRACK_WEIGHTS = {
    "Signed In": (12, 12, 12),
    "Signed Out": (3, 3, 3),
    "Signed Up": (0.02, 0.01, 0.05),
    "Account Created": (0.01, 0.005, 0),
    "Account Deleted": (0.005, 0.002, 0),
    "Account Removed User": (0.05, 0.1, 0),
    "Invite Sent": (0.6, 0.4, 0.3),
    "Account Added User": (0.3, 0.3, 0),
    "Trial Started": (0.05, 0.01, 0.05),
    "Trial Ended": (0.02, 0.01, 0.02),
    "Project Created": (5, 6, 5),
    "Report Exported": (3, 5, 3),
    "Dashboard Shared": (2, 3, 1),
    "Automation Created": (1, 2.5, 0.5),
    "API Key Created": (0.5, 0.8, 0.3),
    "Integration Connected": (0.4, 0.8, 0.2),
    "Onboarding Completed": (0.1, 0.05, 0.1),
    "First Project Created": (0.1, 0.05, 0.1),
    "Limit Reached": (1.0, 0.3, 0.8),
    "Export Limit Reached": (0.4, 0.1, 0.3),
    "Seat Limit Reached": (0.3, 0.1, 0),
    "Paywall Hit": (0.8, 0.2, 0.6),
    "Feature Gated": (0.5, 0.1, 0.4),
    "SSO Setup Attempted": (0.1, 0.15, 0.01),
    "Audit Log Viewed": (0.1, 0.3, 0.01),
    "Admin Changed": (0.03, 0.05, 0),
    "Demo Requested": (0.03, 0.02, 0.01),
    "Contact Sales Submitted": (0.03, 0.03, 0.01),
    "Checkout Started": (0.08, 0.03, 0.05),
    "Checkout Completed": (0.03, 0.01, 0.02),
    "Order Completed": (0.01, 0.005, 0.01),
    "Plan Changed": (0.02, 0.03, 0.01),
    "Subscription Refunded": (0.003, 0.003, 0.002),
    "Order Refunded": (0.002, 0.002, 0.001),
    "API Call Made": (6, 12, 4),
    "Record Created": (5, 8, 4),
}
PAGE_WEIGHTS = {
    "/pricing": (1.2, 0.5, 1.0),
    "/terms": (0.15, 0.2, 0.1),
    "/privacy": (0.15, 0.2, 0.1),
    "/security": (0.2, 0.4, 0.05),
    "/contact-sales": (0.05, 0.05, 0.02),
    "/demo": (0.05, 0.03, 0.02),
    "/checkout": (0.08, 0.03, 0.05),
}
# Pages the tracking plan does not know: most of a product's page views.
APP_PAGES = {
    "/app": ("Home", 10),
    "/app/projects": ("Projects", 8),
    "/app/dashboards": ("Dashboards", 5),
    "/app/reports": ("Reports", 4),
    "/app/settings": ("Settings", 1.5),
    "/app/integrations": ("Integrations", 1),
    "/docs/getting-started": ("Getting started", 1),
}
PAGE_TITLES = {
    "/pricing": "Pricing",
    "/terms": "Terms of service",
    "/privacy": "Privacy policy",
    "/security": "Security",
    "/contact-sales": "Contact sales",
    "/demo": "Book a demo",
    "/checkout": "Checkout",
}
MARKETING_PAGES = (("/", "Home"), ("/features", "Features"), ("/pricing", "Pricing"))
IDENTIFY_WEIGHT = (1.0, 1.0, 1.0)
GROUP_WEIGHT = (0.3, 0.3, 0)
TIERS = {"free": 0, "paid": 1, "solo": 2}
APP_URL = "https://app.example.com"


# --- population -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserSpec:
    pk: int
    user_id: str
    anonymous_id: str
    email: str
    name: str
    title: str
    seniority: str
    department: str
    is_admin: bool
    ip: str
    engagement: float
    signed_up_at: float


@dataclass(frozen=True, slots=True)
class AccountSpec:
    pk: int
    name: str
    domains: tuple[str, ...]  # primary first
    group_ids: tuple[str, ...]
    industry: str
    employees: int
    plan_key: str
    status: str
    created_at: float

    @property
    def domain(self) -> str:
        return self.domains[0]


@dataclass(frozen=True, slots=True)
class Team:
    """One account and its users, or one free-mail user with no account."""

    index: int
    account: AccountSpec | None
    users: tuple[UserSpec, ...]
    first_day: int  # activity window in days ago, oldest; -1 when dormant
    last_day: int

    @property
    def tier(self) -> str:
        if self.account is None:
            return "solo"
        return "paid" if self.account.status == "paid" else "free"


# Random streams of a team: its spec, its user-days and its events (company or free-mail).
SPEC, COMPANY_DAYS, COMPANY_EVENTS, SOLO_DAYS, SOLO_EVENTS = range(5)


def _stream(seed: int, index: int, stream: int) -> int:
    """A seed per (population seed, team, purpose), so teams do not depend on each other."""
    return (seed << 48) | (index << 3) | stream


def _weighted(rng: random.Random, table):
    return rng.choices(table, weights=[row[-1] for row in table])[0]


def _ip(rng: random.Random) -> str:
    return f"{rng.randint(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"


def _window(rng: random.Random, size: int, now: float) -> tuple[int, int, float]:
    """(first day, last day, account created at): recent, lapsed or dormant."""
    p_recent = min(0.6, 0.2 + 0.05 * math.log(size))
    draw = rng.random()
    if draw < p_recent:
        first = max(rng.randrange(HORIZON_DAYS), rng.randrange(HORIZON_DAYS))
        last = 0
    elif draw < p_recent + 0.35:
        last = rng.randint(RECENT_DAYS, HORIZON_DAYS - 1)
        first = rng.randint(last, HORIZON_DAYS - 1)
    else:
        return -1, -1, now - rng.uniform(HORIZON_DAYS, 730) * DAY
    window_start = now - (first + 1) * DAY
    if first < HORIZON_DAYS - 1 and rng.random() < 0.5:
        return first, last, window_start  # signed up inside the horizon
    return first, last, window_start - rng.uniform(1, 700) * DAY


def _user(
    rng: random.Random,
    *,
    pk: int,
    user_id: str,
    domain: str,
    taken: set[str],
    admin: bool,
    joined: float,
) -> UserSpec:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{first}.{last}".lower()
    suffix = 2
    while local in taken:
        local = f"{first}.{last}{suffix}".lower()
        suffix += 1
    taken.add(local)
    title, seniority, department, _ = _weighted(rng, ADMIN_TITLES if admin else TITLES)
    engagement = rng.betavariate(1.1, 4.5)
    return UserSpec(
        pk=pk,
        user_id=user_id,
        anonymous_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        email=f"{local}@{domain}",
        name=f"{first} {last}",
        title=title,
        seniority=seniority,
        department=department,
        is_admin=admin,
        ip=_ip(rng),
        engagement=max(engagement, 0.4) if admin else engagement,
        signed_up_at=joined,
    )


def _team_size(rng: random.Random) -> tuple[int, bool]:
    """(users in the account, whether a free-mail user follows it): a team's first draws."""
    size = min(MAX_TEAM, int(rng.paretovariate(TEAM_ALPHA)))
    return size, rng.random() < FREE_MAIL_SHARE


def _company_team(
    rng: random.Random, index: int, size: int, pk: int, user_pk: int, now: float
) -> Team:
    first_day, last_day, created_at = _window(rng, size, now)
    adjective, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
    tld = _weighted(rng, TLDS)[0]
    domains = (f"{adjective}{noun}{index}.{tld}",)
    if rng.random() < 0.05:
        other = "io" if tld != "io" else "com"
        domains += (f"{adjective}{noun}{index}.{other}",)
    group_ids = (f"ws_{index}",) + ((f"ws_{index}_b",) if rng.random() < 0.03 else ())
    p_paid = min(0.85, 0.12 + 0.12 * math.log(size))
    if rng.random() < p_paid:
        plan_key, status = _weighted(rng, PAID_PLANS)[0], "paid"
        if first_day < 0 and rng.random() < 0.3:
            plan_key, status = "free", "churned"
    elif rng.random() < 0.06:
        plan_key, status = "trial", "trial"
    else:
        plan_key, status = "free", "free"
    account = AccountSpec(
        pk=pk,
        name=f"{adjective.title()} {noun.title()}{rng.choice(COMPANY_SUFFIXES)}",
        domains=domains,
        group_ids=group_ids,
        industry=rng.choice(INDUSTRIES),
        employees=max(size, int(size * rng.lognormvariate(1.5, 1.0))),
        plan_key=plan_key,
        status=status,
        created_at=created_at,
    )
    taken: set[str] = set()
    span = max(0.0, now - created_at)
    users = tuple(
        _user(
            rng,
            pk=user_pk + 1 + k,
            user_id=f"u-{index}-{k}",
            domain=domains[-1] if len(domains) > 1 and rng.random() < 0.1 else domains[0],
            taken=taken,
            admin=k == 0,
            joined=created_at if k == 0 else created_at + rng.random() * span * 0.5,
        )
        for k in range(size)
    )
    return Team(index, account, users, first_day, last_day)


def _free_mail_team(rng: random.Random, index: int, user_pk: int, now: float) -> Team:
    first_day, last_day, joined = _window(rng, 1, now)
    user = _user(
        rng,
        pk=user_pk + 1,
        user_id=f"u-f{index}",
        domain=rng.choice(FREE_MAIL),
        taken=set(),
        admin=False,
        joined=joined,
    )
    return Team(index, None, (user,), first_day, last_day)


def population(
    *,
    seed: int,
    now: float,
    stop: int,
    start: int = 0,
    account_offset: int = 0,
    user_offset: int = 0,
) -> Iterator[Team]:
    """The teams of accounts ``start`` to ``stop - 1``, in order. Account ``i`` gets the
    primary key ``account_offset + i + 1``; user keys follow ``user_offset``."""
    user_pk = user_offset
    for index in range(start, stop):
        rng = random.Random(_stream(seed, index, SPEC))
        size, free_mail = _team_size(rng)
        team = _company_team(rng, index, size, account_offset + index + 1, user_pk, now)
        user_pk += size
        yield team
        if free_mail:
            yield _free_mail_team(rng, index, user_pk, now)
            user_pk += 1


def user_days(team: Team, *, seed: int, now: float) -> Iterator[tuple[UserSpec, int, float]]:
    """(user, days ago, weight) of every active user-day of a team, oldest day first."""
    if team.first_day < 0:
        return
    rng = random.Random(_stream(seed, team.index, COMPANY_DAYS if team.account else SOLO_DAYS))
    for day in range(team.first_day, team.last_day - 1, -1):
        weekday = (int((now - (day + 1) * DAY) // DAY) + 3) % 7  # 1970-01-01 was a Thursday
        factor = 0.3 if weekday >= 5 else 1.0
        for position, user in enumerate(team.users):
            # The admin is active on the window's last day, so a recent account is recent.
            forced = position == 0 and day == team.last_day
            if rng.random() < user.engagement * factor or forced:
                yield user, day, rng.lognormvariate(0.0, 0.9)


# --- events -----------------------------------------------------------------------------


class GeneratedEvent(NamedTuple):
    type: str
    name: str  # event name (track) or page path (page); "" for identify / group
    title: str  # page title
    user: UserSpec | None
    account: AccountSpec | None
    anonymous_id: str
    timestamp: float
    properties: dict
    properties_json: str
    ip: str


class _Template(NamedTuple):
    type: str
    name: str
    title: str
    properties_json: str


def _count(rng: random.Random, mu: float, sigma: float) -> int:
    return 1 + int(rng.lognormvariate(mu, sigma))


_DYNAMIC: dict[str, Callable[[random.Random], dict]] = {
    "API Call Made": lambda rng: {"count": _count(rng, 3.0, 1.2)},
    "Record Created": lambda rng: {"count": _count(rng, 1.0, 1.0)},
    "Integration Connected": lambda rng: {
        "integration": rng.choice(("slack", "github", "salesforce", "hubspot", "jira", "gdrive"))
    },
    "Limit Reached": lambda rng: {"limit": rng.choice(("api_calls", "projects", "records"))},
    "Paywall Hit": lambda rng: {"feature": rng.choice(("sso", "audit_log", "automations"))},
    "Feature Gated": lambda rng: {"feature": rng.choice(("sso", "api", "exports"))},
    "Checkout Completed": lambda rng: {"revenue": 12.0 * _count(rng, 1.0, 1.0), "plan": "team"},
    "Order Completed": lambda rng: {"revenue": 12.0 * _count(rng, 1.0, 1.0), "plan": "team"},
    "Subscription Refunded": lambda rng: {"revenue": 12.0 * _count(rng, 0.5, 0.8)},
    "Order Refunded": lambda rng: {"revenue": 12.0 * _count(rng, 0.5, 0.8)},
}


def default_tracking_plan() -> list[tuple]:
    """The rows of the default tracking plan, as its migration defines them."""
    module = importlib.import_module("accounts.migrations.0002_default_tracking_plan_and_plans")
    return module.TRACKING_PLAN


def _page_properties(path: str, title: str) -> dict:
    return {"path": path, "url": APP_URL + path, "title": title, "referrer": ""}


class EventShapes:
    """What a user does in a session: the event mix per tier, and each event's payload."""

    def __init__(self) -> None:
        templates: list[_Template] = []
        weights: list[tuple[float, float, float]] = []
        for match_type, name, *_ in default_tracking_plan():
            if match_type == "event":
                templates.append(_Template("track", name, "", "{}"))
                weights.append(TRACK_WEIGHTS.get(name, RARE))
            else:
                title = PAGE_TITLES.get(name, name.strip("/").title())
                props = json.dumps(_page_properties(name, title))
                templates.append(_Template("page", name, title, props))
                weights.append(PAGE_WEIGHTS.get(name, RARE))
        for path, (title, weight) in APP_PAGES.items():
            templates.append(
                _Template("page", path, title, json.dumps(_page_properties(path, title)))
            )
            weights.append((weight, weight, weight))
        templates.append(_Template("identify", "", "", ""))
        weights.append(IDENTIFY_WEIGHT)
        templates.append(_Template("group", "", "", ""))
        weights.append(GROUP_WEIGHT)
        self.templates = templates
        self.cum_weights = []
        for tier in range(3):
            total, cumulative = 0.0, []
            for row in weights:
                total += row[tier]
                cumulative.append(total)
            self.cum_weights.append(cumulative)
        self.by_name = {(t.type, t.name): t for t in templates}

    def session(
        self,
        rng: random.Random,
        *,
        team_tier: str,
        account: AccountSpec | None,
        user: UserSpec,
        count: int,
        start: float,
        end: float,
        specials: tuple[str, ...] = (),
    ) -> list[GeneratedEvent]:
        """``count`` events of one user from ``start`` on, never at or after ``end``.

        ``specials`` come first, in order: ``identify``, ``group`` or a track event name.
        """
        picks = [
            self.by_name[("track", s)] if s not in ("identify", "group") else self.by_name[(s, "")]
            for s in specials[:count]
        ]
        picks += rng.choices(
            self.templates, cum_weights=self.cum_weights[TIERS[team_tier]], k=count - len(picks)
        )
        events, when = [], start
        for template in picks:
            when = min(when + rng.expovariate(1 / SESSION_GAP_SECONDS), end - 1)
            if rng.random() < ANONYMOUS_SHARE:
                events.append(self._visitor(rng, when))
            elif template.type == "group" and (account is None or not account.group_ids):
                events.append(
                    self._make(rng, self.by_name[("track", "Signed In")], account, user, when)
                )
            else:
                events.append(self._make(rng, template, account, user, when))
        return events

    def _make(
        self,
        rng: random.Random,
        template: _Template,
        account: AccountSpec | None,
        user: UserSpec,
        when: float,
    ) -> GeneratedEvent:
        if template.type == "identify":
            properties = identify_traits(user)
            properties_json = json.dumps(properties)
        elif template.type == "group":
            properties = group_traits(account)
            properties_json = json.dumps(properties)
        elif template.name in _DYNAMIC:
            properties = _DYNAMIC[template.name](rng)
            properties_json = json.dumps(properties)
        else:
            properties, properties_json = None, template.properties_json
        return GeneratedEvent(
            template.type,
            template.name,
            template.title,
            user,
            account,
            user.anonymous_id,
            when,
            properties,
            properties_json,
            user.ip,
        )

    @staticmethod
    def _visitor(rng: random.Random, when: float) -> GeneratedEvent:
        path, title = rng.choice(MARKETING_PAGES)
        properties = _page_properties(path, title)
        return GeneratedEvent(
            "page",
            path,
            title,
            None,
            None,
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            when,
            properties,
            json.dumps(properties),
            _ip(rng),
        )


def identify_traits(user: UserSpec) -> dict:
    return {
        "email": user.email,
        "name": user.name,
        "title": user.title,
        "seniority": user.seniority,
        "department": user.department,
        "isAdmin": user.is_admin,
    }


def group_traits(account: AccountSpec) -> dict:
    return {
        "name": account.name,
        "industry": account.industry,
        "employees": account.employees,
        "plan": account.plan_key,
        "website": f"https://{account.domain}",
    }


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def segment_message(event: GeneratedEvent, *, message_id: str) -> dict:
    """The event as an analytics.js message for Segment's HTTP Tracking API."""
    message = {
        "type": event.type,
        "messageId": message_id,
        "anonymousId": event.anonymous_id,
        "timestamp": iso(event.timestamp),
        "context": {
            "ip": event.ip,
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
        },
    }
    if event.user is not None:
        message["userId"] = event.user.user_id
    if event.account is not None and event.account.group_ids and event.type != "identify":
        message["context"]["groupId"] = event.account.group_ids[0]
    properties = event.properties
    if properties is None:
        properties = json.loads(event.properties_json)
    if event.type == "track":
        message["event"] = event.name
        message["properties"] = properties
    elif event.type == "page":
        message["name"] = event.title
        message["properties"] = properties
    elif event.type == "identify":
        message["traits"] = properties
    elif event.type == "group":
        message["groupId"] = event.account.group_ids[0]
        message["traits"] = properties
    return message


class Classifier:
    """``(category, key, value)`` of an event as the ingestion service stores it."""

    def __init__(self) -> None:
        from accounts.services.ingestion import event_classify
        from accounts.tracking_plan import meaning_for, tracking_plan_map

        self._classify = event_classify
        self._meaning_for = meaning_for
        self._plan = tracking_plan_map()
        # Per (type, name): the fixed answer, or the meaning whose property decides it.
        self._fixed: dict[tuple[str, str], tuple[str, str, float | None]] = {}
        self._by_property: dict[tuple[str, str], object] = {}

    def __call__(self, event: GeneratedEvent) -> tuple[str, str, float | None]:
        slot = (event.type, event.name)
        fixed = self._fixed.get(slot)
        if fixed is not None:
            return fixed
        meaning = self._by_property.get(slot)
        if meaning is None:
            meaning = self._meaning_for(self._plan, event_type=event.type, name=event.name)
            if meaning is None or not meaning.property_name:
                fixed = (meaning.category, meaning.key, None) if meaning else ("", "", None)
                self._fixed[slot] = fixed
                return fixed
            self._by_property[slot] = meaning
        properties = event.properties
        if properties is None:
            properties = json.loads(event.properties_json)
        return self._classify(meaning, SimpleNamespace(properties=properties))


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


NULL = "\\N"  # COPY text
_MINUTES: dict[int, str] = {}


def copy_timestamp(epoch: float) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff+00``, the COPY text of a timestamptz, made fast: the
    minute is formatted once and cached (a 90-day horizon has 130k of them)."""
    whole = int(epoch)
    prefix = _MINUTES.get(whole // 60)
    if prefix is None:
        prefix = _MINUTES[whole // 60] = _dt(whole - whole % 60).strftime("%Y-%m-%d %H:%M:")
    return f"{prefix}{whole % 60:02d}.{int((epoch - whole) * 1e6):06d}+00"


def copy_text(value: str) -> str:
    """A string escaped for COPY's text format (JSON escapes carry backslashes)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def event_line(
    event: GeneratedEvent, *, message_id: str, received_at: float, classification: tuple
) -> str:
    """One ``accounts_event`` row as a line of COPY text, columns in ``EVENT_COLUMNS`` order.

    Generated names, ids and addresses hold no tab, newline or backslash; the JSON may.
    """
    category, key, value = classification
    user = event.user.pk if event.user is not None else NULL
    account = event.account.pk if event.account is not None else NULL
    return (
        f"{message_id}\t{event.type}\t{event.name}\t{user}\t{event.anonymous_id}\t{account}\t"
        f"{copy_timestamp(event.timestamp)}\t{copy_timestamp(received_at)}\t{event.ip}\t"
        f"{copy_text(event.properties_json)}\t{category}\t{key}\t"
        f"{NULL if value is None else value}\n"
    )


EVENT_COLUMNS = (
    "message_id",
    "type",
    "name",
    "user_id",
    "anonymous_id",
    "account_id",
    "timestamp",
    "received_at",
    "context_ip",
    "properties",
    "category",
    "key",
    "value",
)


def team_events(
    team: Team, *, shapes: EventShapes, seed: int, now: float, allocate: Callable[[float], int]
) -> Iterator[GeneratedEvent]:
    """A team's events, oldest day first; ``allocate(weight)`` says how many per user-day."""
    rng = random.Random(_stream(seed, team.index, COMPANY_EVENTS if team.account else SOLO_EVENTS))
    account = team.account
    new_account = account is not None and account.created_at >= now - HORIZON_DAYS * DAY
    seen: set[int] = set()
    for user, day, weight in user_days(team, seed=seed, now=now):
        count = allocate(weight)
        if not count:
            continue
        day_start = now - (day + 1) * DAY
        specials: tuple[str, ...] = ()
        if user.pk not in seen:
            seen.add(user.pk)
            specials = ("identify",)
            if new_account and user.is_admin:
                specials = ("identify", "Signed Up", "Account Created", "group")
            elif account is None and team.first_day == day:
                specials = ("identify", "Signed Up")
        yield from shapes.session(
            rng,
            team_tier=team.tier,
            account=account,
            user=user,
            count=count,
            start=day_start + rng.uniform(0, DAY * 0.6),
            end=day_start + DAY,
            specials=specials,
        )


# --- writing ----------------------------------------------------------------------------

# Accounts per unit of work: a worker writes a chunk's rows in one COPY transaction, which
# also bounds the deferred foreign-key queue when the checks run. Fixed, because the
# shares of events depend on it (see ``_write_events``).
CHUNK_ACCOUNTS = 500

TEAM_TABLES = (
    (
        "accounts_account",
        "id, name, domain, industry, employees, status, field_sources, created_at, "
        "updated_at, plan_id, country, arr_potential_inputs",
    ),
    ("accounts_accountdomain", "domain, is_primary, account_id"),
    ("accounts_accountgroup", "group_id, name, created_at, account_id"),
    (
        "accounts_productuser",
        "id, user_id, email, name, title, department, seniority, use_case, office, role, "
        "is_admin, first_seen_at, last_seen_at, account_id",
    ),
    ("accounts_anonymousid", "anonymous_id, first_seen_at, user_id"),
)
POPULATION_TABLES = (
    "accounts_event",
    "accounts_touchedday",
    "accounts_accountday",
    "accounts_accountuserday",
    "accounts_accountfeatureday",
    "accounts_anonymousid",
    "accounts_productuser",
    "accounts_accountgroup",
    "accounts_accountdomain",
    "accounts_account",
)
GROUP_SOURCES = json.dumps({"name": "group", "industry": "group", "employees": "group"})


def _say(message: str) -> None:
    print(message, flush=True)


def _check_url(database_url: str) -> None:
    """Exit with a clear message unless the URL is PostgreSQL's."""
    scheme = database_url.partition("://")[0].lower()
    if scheme.startswith("sqlite"):
        sys.exit(
            "the benchmarks need PostgreSQL (they write with COPY) and DATABASE_URL is SQLite; "
            "pass --database-url postgres://user@host:5432/pls_bench"
        )
    if scheme not in ("postgres", "postgresql", "pgsql", "psql", "postgis"):
        sys.exit(f"the benchmarks need a PostgreSQL DATABASE_URL, not {scheme}://")


def configure(database_url: str) -> None:
    """Point Django at the database (PostgreSQL only) and set it up."""
    _check_url(database_url)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pls_portal.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def database_create(database_url: str) -> None:
    """Create the database of the URL when it does not exist yet."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict("postgresql://" + database_url.partition("://")[2])
    name = params.get("dbname")
    if not name:
        sys.exit("the DATABASE_URL names no database")
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            _say(f"created database {name}")


def connect(*, skip_triggers: bool = False):
    """A new psycopg connection to Django's default database.

    ``skip_triggers``: like ``pg_restore --disable-triggers``, a superuser skips the
    foreign-key triggers of rows that are consistent by construction; anyone else keeps
    the checks, deferred to each chunk's commit.
    """
    import psycopg
    from django.db import connection

    conn = psycopg.connect(**connection.get_connection_params())
    if (
        skip_triggers
        and conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    ):
        conn.execute("SET session_replication_role = replica")
        conn.commit()
    return conn


def _rows(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def _max_id(conn, table: str) -> int:
    return conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]  # noqa: S608


def _prepare(conn, *, accounts: int, events: int, reuse: bool, replace: bool) -> bool:
    """True when the population must be generated; False when ``--reuse`` finds it."""
    held_accounts = _rows(conn, "accounts_account")
    held_events = _rows(conn, "accounts_event")
    if reuse and held_accounts >= accounts and held_events >= events:
        _say(
            f"reusing the population: {held_accounts:,} accounts and {held_events:,} events "
            f"(≥ {accounts:,} / {events:,} asked)"
        )
        return False
    if held_accounts or held_events or _rows(conn, "accounts_productuser"):
        if not replace:
            sys.exit(
                f"the database already holds {held_accounts:,} accounts and {held_events:,} "
                f"events (asked: {accounts:,} / {events:,}); pass --replace to TRUNCATE the "
                "account and event tables and generate again, or use an empty database"
            )
        _say("truncating: " + ", ".join(POPULATION_TABLES) + " (CASCADE)")
        conn.execute(f"TRUNCATE {', '.join(POPULATION_TABLES)} RESTART IDENTITY CASCADE")
        conn.commit()
    return True


@dataclass(frozen=True)
class _Chunk:
    number: int
    start: int  # account indexes start … stop - 1
    stop: int
    user_offset: int
    weight_before: float = 0.0  # total user-day weight of the chunks before it


@dataclass
class _Run:
    """What every worker needs; set before the pool forks."""

    seed: int
    now: float
    events: int
    account_offset: int
    plans: dict[str, int]
    shapes: EventShapes
    classify: Classifier
    scale: float = 0.0


_RUN: _Run | None = None
_CONN = None


def _worker_conn():
    global _CONN  # one connection per worker process
    if _CONN is None:
        _CONN = connect(skip_triggers=True)
    return _CONN


def _chunks(*, accounts: int, seed: int, user_offset: int) -> list[_Chunk]:
    """The units of work, with the user keys each starts after (cheap: two draws a team)."""
    chunks, users = [], user_offset
    for start in range(0, accounts, CHUNK_ACCOUNTS):
        stop = min(accounts, start + CHUNK_ACCOUNTS)
        chunks.append(_Chunk(len(chunks), start, stop, users))
        for index in range(start, stop):
            size, free_mail = _team_size(random.Random(_stream(seed, index, SPEC)))
            users += size + free_mail
    return chunks


def _teams(chunk: _Chunk) -> Iterator[Team]:
    return population(
        seed=_RUN.seed,
        now=_RUN.now,
        start=chunk.start,
        stop=chunk.stop,
        account_offset=_RUN.account_offset,
        user_offset=chunk.user_offset,
    )


def _team_rows(team: Team, rows: list[list[tuple]], *, plans: dict[str, int], now: str) -> None:
    accounts, domains, groups, users, anonymous = rows
    account = team.account
    if account is not None:
        created = copy_timestamp(account.created_at)
        accounts.append(
            (
                account.pk,
                account.name,
                account.domain,
                account.industry,
                account.employees,
                account.status,
                GROUP_SOURCES,
                created,
                now,
                plans[account.plan_key],
                "",
                "{}",
            )
        )
        for position, domain in enumerate(account.domains):
            domains.append((domain, position == 0, account.pk))
        for group_id in account.group_ids:
            groups.append((group_id, account.name, created, account.pk))
    for user in team.users:
        joined = copy_timestamp(user.signed_up_at)
        users.append(
            (
                user.pk,
                user.user_id,
                user.email,
                user.name,
                user.title,
                user.department,
                user.seniority,
                "",
                "",
                "admin" if user.is_admin else "member",
                user.is_admin,
                joined,
                joined,
                account.pk if account is not None else None,
            )
        )
        anonymous.append((user.anonymous_id, joined, user.pk))


def _write_teams(chunk: _Chunk) -> dict:
    """Pass 1 for a chunk: its team tables, and the weight of its active user-days."""
    rows: list[list[tuple]] = [[] for _ in TEAM_TABLES]
    figures = {"chunk": chunk.number, "weight": 0.0, "user_days": 0, "users": 0}
    figures |= {"active_90d": 0, "active_30d": 0}
    now = copy_timestamp(_RUN.now)
    for team in _teams(chunk):
        _team_rows(team, rows, plans=_RUN.plans, now=now)
        figures["users"] += len(team.users)
        if team.account is not None and team.first_day >= 0:
            figures["active_90d"] += 1
            figures["active_30d"] += team.last_day < RECENT_DAYS
        # Summed in the same order as _write_events sums them: the shares depend on it.
        for _user, _day, weight in user_days(team, seed=_RUN.seed, now=_RUN.now):
            figures["weight"] += weight
            figures["user_days"] += 1
    conn = _worker_conn()
    with conn.transaction():
        for (table, columns), table_rows in zip(TEAM_TABLES, rows, strict=True):
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in table_rows:
                    copy.write_row(row)
    return figures


def _write_events(chunk: _Chunk) -> int:
    """Pass 2 for a chunk: its share of the events, in one COPY.

    Event ``n`` of the population belongs to the user-day whose running total of weight,
    times ``events / total weight``, first rounds to ``n`` or more; so every run with the
    same seed and sizes writes the same events, whatever the number of workers.
    """
    run = _RUN
    allocated = first = min(run.events, round(chunk.weight_before * run.scale))
    cumulative = 0.0

    def allocate(weight: float) -> int:
        nonlocal cumulative, allocated
        cumulative += weight
        target = min(run.events, round((chunk.weight_before + cumulative) * run.scale))
        count, allocated = target - allocated, target
        return count

    conn = _worker_conn()
    written, lines = first, []
    with (
        conn.transaction(),
        conn.cursor().copy(f"COPY accounts_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy,
    ):
        for team in _teams(chunk):
            for event in team_events(
                team, shapes=run.shapes, seed=run.seed, now=run.now, allocate=allocate
            ):
                written += 1
                lines.append(
                    event_line(
                        event,
                        message_id=f"pop{run.seed}-{written:010d}",
                        # Delivery takes 50 ms to 3 s.
                        received_at=event.timestamp + 0.05 + (written % 2951) / 1000,
                        classification=run.classify(event),
                    )
                )
                if len(lines) >= 2000:
                    copy.write("".join(lines))
                    lines.clear()
        copy.write("".join(lines))
    return written - first


def _map(function, items: list, jobs: int) -> Iterator:
    """``function`` over ``items``, in worker processes when ``jobs`` > 1, any order."""
    if jobs <= 1 or len(items) <= 1:
        yield from map(function, items)
        return
    with multiprocessing.get_context("fork").Pool(min(jobs, len(items))) as pool:
        yield from pool.imap_unordered(function, items)


def _finish(conn, *, account_offset: int, user_offset: int) -> None:
    """Set-based touches that ingestion would have made row by row."""
    conn.execute(
        """
        UPDATE accounts_productuser u
           SET first_seen_at = LEAST(u.first_seen_at, s.first_seen),
               last_seen_at = GREATEST(u.last_seen_at, s.last_seen)
          FROM (SELECT user_id, min(timestamp) AS first_seen, max(timestamp) AS last_seen
                  FROM accounts_event WHERE user_id > %s GROUP BY user_id) s
         WHERE u.id = s.user_id
        """,
        [user_offset],
    )
    conn.execute(
        """
        UPDATE accounts_account a
           SET checkout_started_at = s.started, checkout_completed_at = s.completed,
               sales_request_at = s.sales
          FROM (SELECT account_id,
                       max(timestamp) FILTER (WHERE category = 'checkout_started') AS started,
                       max(timestamp) FILTER (WHERE category = 'checkout_completed') AS completed,
                       max(timestamp) FILTER (WHERE category = 'sales_request') AS sales
                  FROM accounts_event
                 WHERE account_id > %s
                   AND category IN ('checkout_started', 'checkout_completed', 'sales_request')
                 GROUP BY account_id) s
         WHERE a.id = s.account_id
        """,
        [account_offset],
    )
    for table in ("accounts_account", "accounts_productuser"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"(SELECT greatest(max(id), 1) FROM {table}))"
        )
    conn.commit()
    conn.autocommit = True
    conn.execute("ANALYZE " + ", ".join((*POPULATION_TABLES[5:], "accounts_event")))
    conn.autocommit = False


def generate(*, accounts: int, events: int, seed: int, jobs: int) -> dict:
    """Write the population with COPY, in ``jobs`` processes; returns its figures."""
    global _RUN  # read by the forked workers
    from django.db import connection
    from tqdm import tqdm

    from accounts.models import Plan

    conn = connect()
    account_offset = _max_id(conn, "accounts_account")
    user_offset = _max_id(conn, "accounts_productuser")
    _RUN = _Run(
        seed=seed,
        now=float(int(time.time()) // 60 * 60),
        events=events,
        account_offset=account_offset,
        plans=dict(Plan.objects.values_list("key", "pk")),
        shapes=EventShapes(),
        classify=Classifier(),
    )
    connection.close()  # never shared with the forked workers
    started = time.perf_counter()
    chunks = _chunks(accounts=accounts, seed=seed, user_offset=user_offset)

    # Pass 1: the team tables, and each chunk's weight of active user-days.
    totals = {"weight": 0.0, "user_days": 0, "users": 0, "active_90d": 0, "active_30d": 0}
    weights: dict[int, float] = {}
    with tqdm(total=accounts, desc="accounts and users", unit="account", unit_scale=True) as bar:
        for figures in _map(_write_teams, chunks, jobs):
            weights[figures["chunk"]] = figures["weight"]
            for name in ("user_days", "users", "active_90d", "active_30d"):
                totals[name] += figures[name]
            chunk = chunks[figures["chunk"]]
            bar.update(chunk.stop - chunk.start)
    teams_seconds = time.perf_counter() - started
    if not totals["user_days"]:
        sys.exit("no active user-days to give events to; ask for more accounts")

    # Pass 2: the events, each chunk knowing the weight before it.
    weight_before = 0.0
    for number, chunk in enumerate(chunks):
        chunks[number] = dataclasses.replace(chunk, weight_before=weight_before)
        weight_before += weights[number]
    _RUN.scale = events / weight_before
    events_started = time.perf_counter()
    written = 0
    with tqdm(total=events, desc="events", unit="event", unit_scale=True) as bar:
        for count in _map(_write_events, chunks, jobs):
            written += count
            bar.update(count)
    events_seconds = time.perf_counter() - events_started
    if written != events:
        sys.exit(f"wrote {written:,} events, not {events:,}: the shares are wrong")

    finish_started = time.perf_counter()
    _finish(conn, account_offset=account_offset, user_offset=user_offset)
    conn.close()
    return {
        "accounts": accounts,
        "events": events,
        "seed": seed,
        "jobs": jobs,
        "users": totals["users"],
        "active_user_days": totals["user_days"],
        "mean_events_per_user_day": round(events / totals["user_days"], 2),
        "accounts_active_90d": totals["active_90d"],
        "accounts_active_30d": totals["active_30d"],
        "teams_seconds": round(teams_seconds, 1),
        "events_seconds": round(events_seconds, 1),
        "events_per_second": round(events / events_seconds),
        "finish_seconds": round(time.perf_counter() - finish_started, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Generate the benchmark population into PostgreSQL with COPY."
    )
    parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: CPU count); the rows do not depend on it",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL URL (default: $DATABASE_URL)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="do nothing when the database already holds at least this population",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="TRUNCATE the account and event tables (CASCADE) when they hold rows",
    )
    parser.add_argument(
        "--create-db", action="store_true", help="create the database when it is missing"
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        sys.exit("set DATABASE_URL or pass --database-url postgres://user@host:5432/pls_bench")
    if args.accounts < 1 or args.events < 0:
        sys.exit("--accounts must be at least 1 and --events at least 0")
    _check_url(args.database_url)
    if args.create_db:
        database_create(args.database_url)
    configure(args.database_url)

    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    connection.close()
    conn = connect()
    needed = _prepare(
        conn, accounts=args.accounts, events=args.events, reuse=args.reuse, replace=args.replace
    )
    conn.close()
    if not needed:
        return
    figures = generate(
        accounts=args.accounts, events=args.events, seed=args.seed, jobs=max(1, args.jobs)
    )
    _say(
        f"population: {figures['accounts']:,} accounts, {figures['users']:,} users, "
        f"{figures['events']:,} events over {figures['active_user_days']:,} active user-days "
        f"(mean {figures['mean_events_per_user_day']} per user-day); accounts active in 90 "
        f"days {figures['accounts_active_90d'] / figures['accounts']:.0%}, in 30 days "
        f"{figures['accounts_active_30d'] / figures['accounts']:.0%}"
    )
    _say(
        f"time: accounts and users {figures['teams_seconds']} s, events "
        f"{figures['events_seconds']} s ({figures['events_per_second']:,} events/s through "
        f"COPY, {figures['jobs']} jobs), finishing {figures['finish_seconds']} s, total "
        f"{figures['total_seconds']} s"
    )


if __name__ == "__main__":
    main()
