"""Demo product data: 90 days of Segment events, ending today, for ≥ 300 accounts.

Everything goes through the real ingestion path (``parse_event`` then ``events_ingest``,
in chunks like a file import), so identity resolution creates the accounts and product
users and the tracking plan classifies the events. Each company draws from its own
``random.Random`` seeded with a fixed number and its domain, and every message carries a
derived messageId (``demo-<company>-<user>-<days ago>-<n>``): a second run the same day
stores nothing new. The ids count days back from today, so a run on a later day stores
nothing either; start from an empty database for a fresh 90 days.

Archetypes (accounts):

- 12 growing enterprise teams: 500–5,000 employees, group calls (some with two
  workspaces), users across departments and offices rising to 12–22, all core features,
  integrations, admins, senior people reading pricing / security / terms.
- 15 self-serve heroes: 1–3 users at companies under 50 people, active nearly every day
  with many features; high engagement, low value.
- 8 mid-checkout: on a trial, "Checkout Started" in the last 24 h, no "Checkout Completed".
- 10 near a plan limit: free plan, API calls at 82–99 % of the 1,000 a month this month,
  "Export Limit Reached", and "Seat Limit Reached" where all 5 seats are taken.
- 10 paywall hitters: "Paywall Hit" / "Feature Gated" with the feature they tried.
- 8 sales requests: "Demo Requested", or the /contact-sales page and its form.
- 15 fading: busy two to three months ago, at most one event in the last 30 days.
- 10 self-serve buyers: trial, then "Checkout Completed" on Team 15–60 days ago.
- 3 multi-domain companies: users on two email domains in one workspace (group id);
  the second domain is added with ``account_domain_add`` so later sign-ups join too.
- 240 long-tail small free accounts: 1–3 users, a few active days; half send group
  calls, half are grouped by email domain only.

Plus 40 free-mail users (gmail.com, outlook.com…) who belong to no account, and a few
contractors with free-mail addresses inside enterprise workspaces.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from django.utils import timezone

from accounts.ingest import InvalidEvent, Message, parse_event
from accounts.models import AccountDomain
from accounts.services.accounts import account_domain_add
from accounts.services.ingestion import IngestResult, events_ingest

SEED = 20260
DAYS = 90
CHUNK = 2000

CORE = ("Project Created", "Report Exported", "Dashboard Shared", "Automation Created")
INTEGRATIONS = ("slack", "salesforce", "jira", "github", "hubspot", "snowflake", "google_drive")
ENTERPRISE_POOL = (*CORE, "API Key Created", "Record Created")
PAYWALLED = ("sso", "audit_log", "advanced_permissions", "custom_roles", "data_retention")
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "proton.me", "icloud.com")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words(
    "Amara Ben Carla Dmitri Elena Farid Grace Hiro Ines Jonas Kaia Liam Maya Nikhil Olga "
    "Pablo Quinn Rosa Sven Tara Umar Vera Wes Ximena Yusuf Zoe Aiden Bea Caleb Dana Emil "
    "Freya Gabe Hana Ivan Jade Kofi Lena Mateo Nadia Oscar Priya Rafael Sofia Theo Uma"
)
LAST = _words(
    "Okafor Lindqvist Moreau Tanaka Novak Haddad Brennan Kowalski Ferreira Schmidt Oyelaran "
    "Castillo Nakamura Petrov Gallagher Iyer Andersen Rossi Mbeki Larsen Duarte Whitfield "
    "Khan Varga Holm Sato Adeyemi Quiroga Fischer Bianchi Eriksen Mensah Romero Wojcik"
)
NAME_A = _words(
    "Alder Brightwell Cobalt Driftwood Ember Fernhill Granite Harborline Ironbark Juniper "
    "Kestrel Larkspur Meridale Oakridge Pinecrest Quarrystone Saltmarsh Tidewater Umberfield "
    "Vantora Willowby Yarrow Zephyrine Bluefin Copperleaf Dovetail Foxglove Goldcrest "
    "Hollowell Inkwell Kingsferry Lanternfish Moorcroft Nettlebed Peregrine Quillon Rowanby "
    "Sablewood Thistledown Upwell Vesperine Wrenfield Ashgrove Brackenridge Cinderfall"
)
NAME_B = {
    "Analytics": "Software",
    "Logistics": "Transportation",
    "Health": "Healthcare",
    "Robotics": "Manufacturing",
    "Foods": "Food & Beverage",
    "Capital": "Financial Services",
    "Systems": "Software",
    "Labs": "Biotechnology",
    "Studio": "Media",
    "Freight": "Transportation",
    "Learning": "Education",
    "Insurance": "Insurance",
    "Retail": "Retail",
    "Energy": "Energy",
    "Consulting": "Professional Services",
}
DEPARTMENTS = {
    "Engineering": ("Software Engineer", "Engineering Manager", "VP Engineering"),
    "Product": ("Product Manager", "Group Product Manager", "VP Product"),
    "Marketing": ("Marketing Specialist", "Marketing Manager", "CMO"),
    "Operations": ("Operations Analyst", "Operations Manager", "COO"),
    "Finance": ("Financial Analyst", "Finance Manager", "CFO"),
    "Data": ("Data Analyst", "Head of Data", "Chief Data Officer"),
    "Customer Success": ("CS Manager", "Director of Customer Success", "VP Customer Success"),
}
SENIORITY = ("Individual Contributor", "Manager", "Executive")
OFFICES = ("London", "New York", "Berlin", "Singapore", "Toronto")
PAGE_TITLES = {
    "/pricing": "Pricing",
    "/security": "Security",
    "/terms": "Terms",
    "/privacy": "Privacy",
}


class Progress(Protocol):
    """What ``pls_portal.services.JobProgress`` offers; a command may pass an adapter."""

    def set_total(self, total: int) -> None: ...
    def advance(self, n: int = 1, message: str | None = None) -> None: ...


@dataclass(frozen=True)
class DemoEventsResult:
    accounts: int  # companies in the demo population
    users: int  # product users in the demo population
    messages: int
    stored: int
    duplicates: int
    rejected: int


@dataclass
class _Person:
    user_id: str
    email: str
    first: str
    last: str
    joined: int  # days ago of their first message
    traits: dict = field(default_factory=dict)
    group_id: str = ""
    start: datetime | None = None  # when they signed up; nothing of theirs comes earlier


@dataclass
class _Company:
    slug: str
    name: str
    domain: str
    industry: str
    employees: int
    plan: str = "free"
    grouped: bool = True
    workspaces: int = 1
    people: list[_Person] = field(default_factory=list)

    def group_id(self, n: int = 0) -> str:
        return f"ws-{self.slug}" + (f"-{n}" if n else "")


class _Stream:
    """Collects Segment messages with explicit timestamps (no sentAt, so no skew shift)."""

    def __init__(self, anchor: datetime) -> None:
        self.anchor = anchor
        self.today = anchor.date()
        self.messages: list[tuple[int, datetime, int, dict]] = []
        self.seq: Counter[tuple[str, int]] = Counter()
        self.block = 0  # one block per company, in time order within it (see demo_population)

    def at(self, rng: random.Random, d: int) -> datetime:
        """A moment on the UTC day ``d`` days ago, in working hours, never after the anchor."""
        frac = rng.random()
        midnight = datetime.combine(self.today - timedelta(days=d), time(), tzinfo=UTC)
        moment = midnight + timedelta(seconds=int(7 * 3600 + frac * 13 * 3600))
        if moment > self.anchor:
            moment = midnight + (self.anchor - midnight) * frac
        return moment.replace(microsecond=0)

    def send(self, person: _Person, d: int, when: datetime, body: dict, group: str = "") -> None:
        if person.start is not None and when < person.start:
            # A draw before sign-up moves just after it: identity must see identify first.
            when = (
                person.start
                + timedelta(seconds=30)
                + min((person.start - when) / 4, timedelta(hours=1))
            )
        when = min(when, self.anchor).replace(microsecond=0)
        n = self.seq[(person.user_id, d)]
        self.seq[(person.user_id, d)] += 1
        message = {
            "messageId": f"demo-{person.user_id}-{d}-{n}",
            "userId": person.user_id,
            "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **body,
        }
        if group:
            message["context"] = {"groupId": group}
        self.messages.append((self.block, when, len(self.messages), message))

    def track(self, rng, person, d, event, properties=None, *, when=None) -> None:
        body = {"type": "track", "event": event, "properties": properties or {}}
        self.send(person, d, when or self.at(rng, d), body, person.group_id)

    def page(self, rng, person, d, path, *, when=None) -> None:
        body = {"type": "page", "name": PAGE_TITLES.get(path, path), "properties": {"path": path}}
        self.send(person, d, when or self.at(rng, d), body, person.group_id)


def _anchor(today: date | None) -> datetime:
    """Now for today's data; the end of the given day otherwise (tests, reproducible)."""
    now = timezone.now().replace(microsecond=0)
    if today is None or today == now.date():
        return now
    return datetime.combine(today, time(23, 59, 59), tzinfo=UTC)


def _companies() -> list[_Company]:
    """Every company name and domain, in a fixed order (archetypes take them in turn)."""
    rng = random.Random(SEED)  # noqa: S311 - demo data, not security
    names = [(a, b) for a in NAME_A for b in NAME_B]
    rng.shuffle(names)
    companies = []
    for a, b in names[:400]:
        tld = rng.choices((".com", ".io", ".co.uk"), (7, 2, 2))[0]
        base = f"{a}{b}".lower() if rng.random() < 0.5 else f"{a}-{b}".lower()
        companies.append(
            _Company(
                slug=(base + tld).replace(".", "-"),
                name=f"{a} {b}",
                domain=base + tld,
                industry=NAME_B[b],
                employees=0,
            )
        )
    return companies


def _person(rng, company: _Company, joined: int, *, admin=False, dept="", level=0) -> _Person:
    """A new user; teammates join at least a day after the first user (who invites them)."""
    n = len(company.people)
    if company.people:
        joined = max(min(joined, company.people[0].joined - 1), 0)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}".lower() + (str(n) if rng.random() < 0.15 else "")
    dept = dept or rng.choice(list(DEPARTMENTS))
    person = _Person(
        user_id=f"{company.slug}-{n}",
        email=f"{local}@{company.domain}",
        first=first,
        last=last,
        joined=joined,
        traits={
            "department": dept,
            "title": DEPARTMENTS[dept][level],
            "seniority": SENIORITY[level],
            "isAdmin": admin,
        },
        group_id=company.group_id(n % company.workspaces) if company.grouped else "",
    )
    company.people.append(person)
    return person


def _join(s: _Stream, rng, company: _Company, person: _Person, *, group_first=False) -> None:
    """Sign-up: identify, Signed Up, the workspace's group call; milestones for founders."""
    d = person.joined
    start = person.start = s.at(rng, d)
    identify = {
        "type": "identify",
        "traits": {
            "email": person.email,
            "firstName": person.first,
            "lastName": person.last,
            "office": rng.choice(OFFICES),
            "createdAt": start.isoformat(),
            **person.traits,
        },
    }
    group = {
        "type": "group",
        "groupId": person.group_id,
        "traits": {
            "name": company.name,
            "website": f"https://www.{company.domain}",
            "employees": company.employees,
            "industry": company.industry,
            "plan": company.plan,
        },
    }
    steps = [identify, {"type": "track", "event": "Signed Up", "properties": {"method": "email"}}]
    if company.grouped:
        steps.insert(0 if group_first else 2, group)
    for i, body in enumerate(steps):
        s.send(person, d, start + timedelta(seconds=2 * i), body, person.group_id)
    founder = person is company.people[0]
    if founder:
        if company.name:
            created = {"account_name": company.name}
            s.track(rng, person, d, "Account Created", created, when=start + timedelta(seconds=10))
    else:
        inviter, invitee = company.people[0], {"invitee_email": person.email}
        s.track(rng, inviter, d, "Invite Sent", invitee, when=start - timedelta(hours=2))
        added = {"user_email": person.email}
        s.track(rng, inviter, d, "Account Added User", added, when=start + timedelta(minutes=5))
    if founder or rng.random() < 0.5:
        later = max(d - rng.randint(0, 2), 0)
        s.track(rng, person, later, "Onboarding Completed")
        if founder:
            s.track(rng, person, later, "First Project Created", {"project": "My first project"})


def _activity(s, rng, person, d, k, pool=CORE, weights=None) -> None:
    """One active day: signed in, then ``k`` feature events from ``pool``."""
    if rng.random() < 0.6:
        s.track(rng, person, d, "Signed In")
    for event in rng.choices(pool, weights, k=k):
        properties = {"project_id": f"p{rng.randint(1, 40)}"}
        if event == "Record Created":
            properties = {"count": rng.randint(5, 200)}
        s.track(rng, person, d, event, properties)


def _weekday(s: _Stream, d: int) -> bool:
    return (s.today - timedelta(days=d)).weekday() < 5


def _days(person: _Person, until: int = 0) -> range:
    return range(person.joined, until - 1, -1)


def _enterprise(s, rng, c: _Company) -> None:
    c.employees, c.plan = rng.randrange(500, 5001, 50), rng.choice(("free", "free", "team"))
    c.workspaces = 2 if rng.random() < 0.4 else 1
    _person(rng, c, 89, admin=True, dept="Engineering", level=1)
    _person(rng, c, rng.randint(80, 88), admin=True, dept="Operations", level=1)
    for _ in range(rng.randint(10, 20)):
        _person(rng, c, 3 + int(80 * rng.random() ** 1.3), level=rng.choice((0, 0, 0, 1, 2)))
    contractor = _person(rng, c, rng.randint(20, 60))
    contractor.email = f"{contractor.first}.{contractor.last}.dev@gmail.com".lower()
    integrations = rng.sample(INTEGRATIONS, rng.randint(2, 5))
    for person in sorted(c.people, key=lambda p: -p.joined):
        _join(s, rng, c, person)
        for d in _days(person):
            chance = (0.3 + 0.45 * (1 - d / DAYS)) * (1 if _weekday(s, d) else 0.15)
            if rng.random() < chance:
                _activity(s, rng, person, d, rng.randint(1, 4), ENTERPRISE_POOL, (5, 3, 3, 2, 1, 2))
        if person.traits["seniority"] != "Individual Contributor":
            for path in rng.sample(("/pricing", "/security", "/terms", "/privacy"), 2):
                s.page(rng, person, rng.randint(0, min(29, person.joined)), path)
    admin = c.people[0]
    for n, name in enumerate(integrations):
        s.track(rng, admin, 80 - n * 15, "Integration Connected", {"integration": name})
    if rng.random() < 0.5:
        s.track(rng, c.people[1], rng.randint(1, 20), "SSO Setup Attempted", {"provider": "okta"})
        s.track(rng, c.people[1], rng.randint(1, 20), "Audit Log Viewed")


def _hero(s, rng, c: _Company) -> None:
    c.employees, c.plan = rng.randint(3, 45), rng.choice(("free", "team"))
    for n in range(rng.randint(1, 3)):
        _person(rng, c, rng.randint(70, 89) if n == 0 else rng.randint(30, 70), admin=n == 0)
    for person in c.people:
        _join(s, rng, c, person)
        for d in _days(person):
            if rng.random() < (0.92 if _weekday(s, d) else 0.5):
                _activity(s, rng, person, d, rng.randint(2, 4), (*CORE, "API Key Created"))
    for n, name in enumerate(rng.sample(INTEGRATIONS, rng.randint(1, 3))):
        s.track(rng, c.people[0], 60 - n * 20, "Integration Connected", {"integration": name})


def _small(s, rng, c: _Company, *, users=(2, 4), start=(40, 89), chance=0.35, until=0) -> None:
    """A small team at a typical pace; the archetypes below add their own events on top."""
    c.employees = c.employees or rng.randint(10, 400)
    for n in range(rng.randint(*users)):
        _person(rng, c, rng.randint(*start), admin=n == 0)
    for person in c.people:
        _join(s, rng, c, person)
        for d in _days(person, until):
            if rng.random() < chance * (1 if _weekday(s, d) else 0.2):
                _activity(s, rng, person, d, rng.randint(1, 3))


def _checkout(s, rng, c: _Company) -> None:
    c.plan = "trial"
    _small(s, rng, c, start=(15, 40))
    buyer = c.people[0]
    s.track(rng, buyer, 12, "Trial Started", {"plan": "team", "trial_days": 14})
    s.page(rng, buyer, rng.randint(1, 5), "/pricing")
    when = s.at(rng, 0)
    s.page(rng, buyer, 0, "/checkout", when=when)
    seats = {"plan": "team", "seats": len(c.people)}
    s.track(rng, buyer, 0, "Checkout Started", seats, when=when + timedelta(seconds=20))


def _limit(s, rng, c: _Company) -> None:
    _small(s, rng, c, users=(5, 5) if rng.random() < 0.5 else (3, 4), chance=0.45)
    dev = c.people[-1]
    # API calls count per calendar month: this month's come close to the free plan's 1,000.
    months: dict[tuple[int, int], list[int]] = {}
    for d in range(dev.joined + 1):
        day = s.today - timedelta(days=d)
        months.setdefault((day.year, day.month), []).append(d)
    for month, days in sorted(months.items()):
        if month == (s.today.year, s.today.month):
            target = rng.randint(820, 990)
        else:
            target = rng.randint(250, 700) * len(days) // 31
        chosen = sorted(rng.sample(days, min(len(days), 10)))
        for d, share in zip(chosen, _split(rng, target, len(chosen)), strict=True):
            s.track(rng, dev, d, "API Call Made", {"count": share, "endpoint": "/v1/records"})
    admin = c.people[0]
    for _ in range(10):
        s.track(rng, admin, rng.randint(0, min(12, s.today.day - 1)), "Report Exported")
    s.track(rng, admin, 0, "Export Limit Reached", {"limit": 10})
    if len(c.people) == 5:
        s.track(rng, admin, rng.randint(0, 6), "Seat Limit Reached", {"seats": 5})


def _split(rng, total: int, parts: int) -> list[int]:
    weights = [rng.random() + 0.2 for _ in range(parts)]
    shares = [int(total * w / sum(weights)) for w in weights]
    shares[-1] += total - sum(shares)
    return shares


def _paywall(s, rng, c: _Company) -> None:
    _small(s, rng, c, users=(2, 6), chance=0.4)
    for _ in range(rng.randint(2, 8)):
        person, feature = rng.choice(c.people), rng.choice(PAYWALLED)
        event = rng.choice(("Paywall Hit", "Paywall Hit", "Feature Gated"))
        s.track(rng, person, rng.randint(0, 29), event, {"feature": feature})


def _sales_request(s, rng, c: _Company) -> None:
    c.employees = rng.randint(200, 3000)
    _small(s, rng, c, users=(2, 6))
    buyer = c.people[0]
    d = rng.randint(0, 10)
    s.page(rng, buyer, d + 1, "/pricing")
    s.page(rng, buyer, d + 1, "/security")
    if rng.random() < 0.5:
        s.track(rng, buyer, d, "Demo Requested", {"source": "pricing page"})
    else:
        s.page(rng, buyer, d, "/contact-sales")
        s.track(rng, buyer, d, "Contact Sales Submitted", {"employees": c.employees})


def _fading(s, rng, c: _Company) -> None:
    _small(s, rng, c, users=(2, 6), start=(75, 89), chance=0.55, until=40)
    if rng.random() < 0.5:
        s.track(rng, rng.choice(c.people), rng.randint(5, 29), "Signed In")


def _buyer(s, rng, c: _Company) -> None:
    c.plan = "trial"
    # Everyone joins before the purchase, so no later group call says "trial" again.
    _small(s, rng, c, start=(56, 89), chance=0.45)
    buyer, bought = c.people[0], rng.randint(15, 40)
    s.track(rng, buyer, bought + 14, "Trial Started", {"plan": "team", "trial_days": 14})
    when = s.at(rng, bought)
    s.track(rng, buyer, bought, "Checkout Started", {"plan": "team"}, when=when)
    revenue = 12 * len(c.people)
    paid = {"plan": "team", "seats": len(c.people), "revenue": revenue, "currency": "USD"}
    s.track(rng, buyer, bought, "Checkout Completed", paid, when=when + timedelta(minutes=4))
    change = {"from": "trial", "to": "team"}
    s.track(rng, buyer, bought, "Plan Changed", change, when=when + timedelta(minutes=5))
    group = {"type": "group", "groupId": buyer.group_id, "traits": {"plan": "team"}}
    s.send(buyer, bought, when + timedelta(minutes=6), group, buyer.group_id)


def _multi_domain(s, rng, c: _Company) -> str:
    """Half the users have emails on a second domain; the workspace puts them together."""
    c.employees = rng.randrange(800, 3001, 100)
    second = c.domain.split(".")[0].split("-")[0] + rng.choice((".co.uk", ".de"))
    for n in range(rng.randint(6, 10)):
        person = _person(rng, c, rng.randint(10, 85), admin=n == 0)
        if n % 2:
            person.email = person.email.replace(c.domain, second)
    for person in c.people:
        _join(s, rng, c, person, group_first=True)
        for d in _days(person):
            if rng.random() < 0.4 * (1 if _weekday(s, d) else 0.2):
                _activity(s, rng, person, d, rng.randint(1, 3))
    return second


def _long_tail(s, rng, c: _Company) -> None:
    c.employees = rng.randint(2, 250)
    c.grouped = rng.random() < 0.5
    trial = rng.random() < 0.2
    c.plan = "trial" if trial else "free"
    founder = _person(rng, c, rng.randint(0, 89), admin=True)
    for _ in range(rng.choice((0, 0, 0, 1, 1, 2)) if founder.joined else 0):
        _person(rng, c, rng.randint(0, 89))
    for person in c.people:
        _join(s, rng, c, person)
        _activity(s, rng, person, person.joined, rng.randint(1, 3))
        for d in _days(person):
            if rng.random() < 0.12 * (d / max(person.joined, 1)):
                _activity(s, rng, person, d, rng.randint(1, 2))
    if trial:
        s.track(rng, c.people[0], c.people[0].joined, "Trial Started", {"plan": "team"})


def _free_mail(s, rng, n: int) -> None:
    """People who signed up with a personal address: they never form an account."""
    company = _Company(slug="freemail", name="", domain="", industry="", employees=0)
    company.grouped = False
    person = _person(rng, company, rng.randint(0, 89))
    person.user_id = f"freemail-{n}"
    person.email = f"{person.first}.{person.last}{n}@{rng.choice(FREE_MAIL)}".lower()
    person.traits = {}
    _join(s, rng, company, person)
    for d in _days(person):
        if rng.random() < 0.1:
            _activity(s, rng, person, d, rng.randint(1, 2))


ARCHETYPES = (
    (_enterprise, 12),
    (_hero, 15),
    (_checkout, 8),
    (_limit, 10),
    (_paywall, 10),
    (_sales_request, 8),
    (_fading, 15),
    (_buyer, 10),
    (_multi_domain, 3),
    (_long_tail, 240),
)
FREE_MAIL_USERS = 40


@dataclass
class _Population:
    stream: _Stream
    accounts: int = 0
    users: int = 0
    second_domains: dict[str, str] = field(default_factory=dict)  # main → second


def demo_population(*, anchor: datetime) -> _Population:
    """Every demo message; a pure function of ``anchor`` (no database).

    Company by company, each in time order: identity resolution then updates each product
    user in one or two chunks instead of in every chunk of an interleaved stream, which
    makes the seed several times faster and resolves to the same accounts and users.
    """
    population = _Population(stream=_Stream(anchor))
    companies = iter(_companies())
    for build, count in ARCHETYPES:
        for _ in range(count):
            company = next(companies)
            population.stream.block += 1
            rng = random.Random(f"{SEED}-{company.domain}")  # noqa: S311 - demo data
            second = build(population.stream, rng, company)
            if second:
                population.second_domains[company.domain] = second
            population.accounts += 1
            population.users += len(company.people)
    for n in range(FREE_MAIL_USERS):
        population.stream.block += 1
        _free_mail(population.stream, random.Random(f"{SEED}-freemail-{n}"), n)  # noqa: S311
    population.users += FREE_MAIL_USERS
    population.stream.messages.sort(key=lambda item: item[:3])
    return population


def demo_events_seed(
    *, today: date | None = None, progress: Progress | None = None
) -> DemoEventsResult:
    """Send the demo population through ingestion in chunks; safe to run again."""
    population = demo_population(anchor=_anchor(today))
    bodies = [body for *_, body in population.stream.messages]
    if progress is not None:
        progress.set_total(len(bodies))
    total = IngestResult()
    for start in range(0, len(bodies), CHUNK):
        received_at = timezone.now()
        messages: list[Message] = []
        invalid: list[InvalidEvent] = []
        for body in bodies[start : start + CHUNK]:
            parsed = parse_event(body, received_at=received_at)
            (invalid if isinstance(parsed, InvalidEvent) else messages).append(parsed)
        total.add(
            events_ingest(
                messages=messages, invalid=invalid, source="file", received_at=received_at
            )
        )
        if progress is not None:
            progress.advance(len(messages) + len(invalid), message="Demo events")
    for main, second in population.second_domains.items():
        owner = AccountDomain.objects.filter(domain=main).values_list("account", flat=True)
        if not AccountDomain.objects.filter(domain=second).exists():
            account_domain_add(account_id=owner.get(), domain=second)
    return DemoEventsResult(
        accounts=population.accounts,
        users=population.users,
        messages=len(bodies),
        stored=total.stored,
        duplicates=total.duplicates,
        rejected=total.rejected,
    )
