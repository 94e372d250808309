"""Identity resolution: which product user a message is from, and which account.

Used by ingestion inside its transaction. It reads what a batch needs in a few bulk
queries up front and writes users, anonymous ids and accounts as it learns them; the
touched (account, day) pairs it produces (late identify, late group) go to the rollup in
the same transaction.

Rules (DESIGN.md glossary): an explicit group id (a ``group`` call or
``context.groupId``) decides the account; otherwise the registrable domain of the user's
email; free-mail domains never form an account. Several group ids (workspaces) with the
same company domain are workspaces of one account.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.db.models.functions import Lower, TruncDate

from accounts.domains import company_domain
from accounts.ingest import Message
from accounts.models import (
    Account,
    AccountDomain,
    AccountGroup,
    AnonymousId,
    Contact,
    Event,
    Plan,
    ProductUser,
)

logger = logging.getLogger(__name__)

SEEN_GRANULARITY = timedelta(minutes=15)

# Tracking-plan categories that move an account's guard timestamps.
GUARD_FIELDS = {
    "checkout_started": "checkout_started_at",
    "checkout_completed": "checkout_completed_at",
    "sales_request": "sales_request_at",
}

# Source precedence for account fields: a source never overwrites a stronger one.
SOURCE_RANK = {
    Account.Source.DOMAIN: 0,
    Account.Source.ENRICHMENT: 1,
    Account.Source.GROUP: 2,
    Account.Source.ADMIN: 3,
}

USER_TRAITS = {
    "email": ("email",),
    "name": ("name",),
    "title": ("title", "jobTitle", "job_title"),
    "department": ("department",),
    "seniority": ("seniority",),
    "use_case": ("useCase", "use_case"),
    "office": ("office", "location"),
    "role": ("role",),
}
ADMIN_TRAITS = ("isAdmin", "is_admin", "admin")


def utc_days(events) -> list[date]:
    """The UTC days of some events, whatever time zone is active for the request."""
    return list(
        events.annotate(utc_day=TruncDate("timestamp", tzinfo=UTC))
        .order_by()
        .values_list("utc_day", flat=True)
        .distinct()
    )


def account_set_fields(account: Account, values: dict, *, source: str) -> bool:
    """Set firmographic fields unless a stronger source set them; True if changed."""
    changed = False
    sources = dict(account.field_sources or {})
    for name, value in values.items():
        if value in (None, ""):
            continue
        current = sources.get(name)
        if current and SOURCE_RANK.get(current, 0) > SOURCE_RANK[source]:
            continue
        if getattr(account, name) != value or current != source:
            setattr(account, name, value)
            sources[name] = str(source)
            changed = True
    if changed:
        account.field_sources = sources
    return changed


def _name_from_domain(domain: str) -> str:
    return domain.split(".")[0].replace("-", " ").title()


def _trait(traits: dict, keys: tuple[str, ...]) -> str:
    for key in keys:
        value = traits.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _int(value) -> int | None:
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number < 2**31 else None


class IdentityResolver:
    """Resolves the messages of one request, in order, with bulk reads up front."""

    def __init__(self) -> None:
        self.users: dict[str, ProductUser] = {}
        self.anonymous: dict[str, AnonymousId] = {}
        self.groups: dict[str, Account] = {}
        self.domains: dict[str, Account] = {}
        self.plans: dict[str, Plan] = {}
        # Users whose traits or account changed (all columns written) and users who
        # were only seen (two columns written): most messages only move last_seen_at.
        self.dirty_users: dict[int, ProductUser] = {}
        self.seen_users: dict[int, ProductUser] = {}
        # (account id, guard field) → latest timestamp, from events placed late.
        self.guards: dict[tuple[int, str], datetime] = {}
        self.dirty_accounts: dict[int, Account] = {}
        self.touched: set[tuple[int, date]] = set()
        self.orphan_users: set[int] = set()
        self.orphan_anonymous: set[str] = set()

    # --- loading -------------------------------------------------------------------

    def load(self, messages: list[Message]) -> None:
        user_ids = {m.user_id for m in messages if m.user_id}
        user_ids |= {m.previous_id for m in messages if m.type == "alias"}
        anonymous_ids = {m.anonymous_id for m in messages if m.anonymous_id}
        anonymous_ids |= {m.previous_id for m in messages if m.type == "alias"}
        group_ids = {m.group_id for m in messages if m.group_id}
        domains = {d for m in messages if (d := company_domain(m.email))}
        domains |= {d for m in messages if m.type == "group" and (d := self._group_domain(m))}

        self._load_users(user_ids)
        self._create_users(messages)
        self._load_anonymous(anonymous_ids)
        self._create_anonymous(messages)
        self._load_orphans()
        for group in AccountGroup.objects.filter(group_id__in=group_ids).select_related("account"):
            self.groups[group.group_id] = self._live(group.account)
        for row in AccountDomain.objects.filter(domain__in=domains).select_related("account"):
            self.domains[row.domain] = self._live(row.account)
        self.plans = {plan.key: plan for plan in Plan.objects.all()}

    def _load_orphans(self) -> None:
        """Which users and anonymous ids of the request have stored events still waiting
        for a user or an account: two queries here instead of two per user later."""
        self.orphan_users = set(
            Event.objects.filter(
                user__in=[u.pk for u in self.users.values() if u.account_id is None],
                account__isnull=True,
            )
            .order_by()
            .values_list("user_id", flat=True)
            .distinct()
        )
        self.orphan_anonymous = set(
            Event.objects.filter(
                anonymous_id__in=[a for a, row in self.anonymous.items() if row.user_id is None],
                user__isnull=True,
            )
            .order_by()
            .values_list("anonymous_id", flat=True)
            .distinct()
        )

    def _load_users(self, user_ids: set[str]) -> None:
        for user in ProductUser.objects.filter(user_id__in=user_ids).select_related("account"):
            self.users[user.user_id] = user

    def _load_anonymous(self, anonymous_ids: set[str]) -> None:
        for anon in AnonymousId.objects.filter(anonymous_id__in=anonymous_ids).select_related(
            "user__account"
        ):
            self.anonymous[anon.anonymous_id] = anon

    def _create_users(self, messages: list[Message]) -> None:
        """Every new user of the request in one insert. ON CONFLICT DO NOTHING: when two
        requests bring the same new user at once, both end up with the one row."""
        span: dict[str, tuple[datetime, datetime]] = {}
        for m in messages:
            if m.user_id and m.user_id not in self.users:
                first, last = span.get(m.user_id, (m.timestamp, m.timestamp))
                span[m.user_id] = (min(first, m.timestamp), max(last, m.timestamp))
        if not span:
            return
        ProductUser.objects.bulk_create(
            [
                ProductUser(user_id=uid, first_seen_at=first, last_seen_at=last)
                for uid, (first, last) in sorted(span.items())
            ],
            ignore_conflicts=True,
        )
        self._load_users(set(span))

    def _create_anonymous(self, messages: list[Message]) -> None:
        """Every new anonymous id in one insert, already linked to its user when a message
        of the request names both (identify, alias), so no event needs relinking."""
        new: dict[str, tuple[str, datetime]] = {}
        for m in messages:
            ids = [m.anonymous_id] + ([m.previous_id] if m.type == "alias" else [])
            for anonymous_id in ids:
                if not anonymous_id or anonymous_id in self.anonymous:
                    continue
                owner, first = new.get(anonymous_id, ("", m.timestamp))
                new[anonymous_id] = (owner or m.user_id, min(first, m.timestamp))
        if not new:
            return
        AnonymousId.objects.bulk_create(
            [
                AnonymousId(
                    anonymous_id=anonymous_id,
                    user=self.users.get(owner) if owner else None,
                    first_seen_at=first,
                )
                for anonymous_id, (owner, first) in sorted(new.items())
            ],
            ignore_conflicts=True,
        )
        self._load_anonymous(set(new))

    @staticmethod
    def _live(account: Account) -> Account:
        """Follow merges: rows point at the merged-away account, events go to the target."""
        seen = 0
        while account.merged_into_id and seen < 10:
            account = Account.objects.get(pk=account.merged_into_id)
            seen += 1
        return account

    @staticmethod
    def _group_domain(message: Message) -> str | None:
        traits = message.traits
        return company_domain(_trait(traits, ("website", "domain", "url")))

    # --- resolution ----------------------------------------------------------------

    def resolve(self, message: Message) -> tuple[ProductUser | None, Account | None]:
        user = self._user(message)
        if message.type == "alias":
            self._alias(message, user)
        if user is not None and message.type == "identify":
            # With a group id the group decides the account, not the email's domain.
            self._identify(message, user, place_by_domain=not message.group_id)
        if message.group_id:
            account = self._group(message, user)
            if user is not None:
                self._move_user(user, account, when=message.timestamp)
            return user, account
        if user is not None:
            return user, user.account
        return None, None

    def _user(self, message: Message) -> ProductUser | None:
        user = self.users.get(message.user_id) if message.user_id else None
        anon = self.anonymous.get(message.anonymous_id) if message.anonymous_id else None
        if user is None and anon is not None and anon.user_id:
            # One instance per user in the request, so what later messages learn
            # (identify, group) reaches every event of that user.
            user = self.users.setdefault(anon.user.user_id, anon.user)
        # load() made every user and anonymous id of the request; here they are linked.
        if anon is not None and anon.user_id is None and user is not None:
            self._link_anonymous(anon, user)
        if user is not None:
            self._seen(user, message.timestamp)
        return user

    def _seen(self, user: ProductUser, when: datetime) -> None:
        # Last seen is kept to the quarter hour: rewriting the user row (and its index)
        # for every event would be the most expensive write of ingestion.
        if when < user.first_seen_at or when > user.last_seen_at + SEEN_GRANULARITY:
            user.first_seen_at = min(user.first_seen_at, when)
            user.last_seen_at = max(user.last_seen_at, when)
            self.seen_users[user.pk] = user

    def _link_anonymous(self, anon: AnonymousId, user: ProductUser) -> None:
        """Events sent before identify/alias become the user's (and their account's)."""
        anon.user = user
        anon.save(update_fields=["user"])
        if anon.anonymous_id not in self.orphan_anonymous:
            return
        self.orphan_anonymous.discard(anon.anonymous_id)
        earlier = Event.objects.filter(anonymous_id=anon.anonymous_id, user__isnull=True)
        if user.account_id:
            self._touch_days(earlier, user.account_id)
        earlier.update(user=user, account=user.account_id)
        self.orphan_users.add(user.pk)

    def _alias(self, message: Message, user: ProductUser | None) -> None:
        if user is None:
            return
        previous = self.anonymous[message.previous_id]
        if previous.user_id is None:
            self._link_anonymous(previous, user)

    def _identify(self, message: Message, user: ProductUser, *, place_by_domain: bool) -> None:
        traits = message.traits
        changes = {field: _trait(traits, keys) for field, keys in USER_TRAITS.items()}
        if not changes["name"]:
            first = _trait(traits, ("firstName", "first_name"))
            last = _trait(traits, ("lastName", "last_name"))
            changes["name"] = f"{first} {last}".strip()
        changes["email"] = changes["email"].lower()
        for field, value in changes.items():
            max_length = ProductUser._meta.get_field(field).max_length
            if value and getattr(user, field) != value[:max_length]:
                setattr(user, field, value[:max_length])
                self.dirty_users[user.pk] = user
        for key in ADMIN_TRAITS:
            if isinstance(traits.get(key), bool) and user.is_admin != traits[key]:
                user.is_admin = traits[key]
                self.dirty_users[user.pk] = user
        if place_by_domain and user.account_id is None and (domain := company_domain(user.email)):
            account = self._domain_account(domain, when=message.timestamp)
            self._move_user(user, account, when=message.timestamp)

    def _group(self, message: Message, user: ProductUser | None) -> Account:
        account = self.groups.get(message.group_id)
        if account is None:
            domain = self._group_domain(message) or company_domain(user.email if user else "")
            name = _trait(message.traits, ("name",))
            if domain:
                account = self._domain_account(domain, when=message.timestamp, name=name)
            else:
                account = self._create_account(
                    name=name or message.group_id, domain="", when=message.timestamp
                )
            account = self._attach_group(message.group_id, account, name=name)
        if message.type == "group":
            self._apply_group_traits(account, message)
        return account

    def _apply_group_traits(self, account: Account, message: Message) -> None:
        traits = message.traits
        values = {
            "name": _trait(traits, ("name",))[:200],
            "industry": _trait(traits, ("industry",))[:100],
            "employees": _int(traits.get("employees", traits.get("employee_count"))),
        }
        plan_key = _trait(traits, ("plan",)).lower()
        if plan_key in self.plans:
            values["plan"] = self.plans[plan_key]
        if account_set_fields(account, values, source=Account.Source.GROUP):
            self.dirty_accounts[account.pk] = account

    def _attach_group(self, group_id: str, account: Account, *, name: str) -> Account:
        try:
            with transaction.atomic():
                AccountGroup.objects.create(group_id=group_id, account=account, name=name[:200])
        except IntegrityError:
            # Another request placed this group id a moment ago: use its account.
            account = self._live(AccountGroup.objects.get(group_id=group_id).account)
        self.groups[group_id] = account
        return account

    def _domain_account(self, domain: str, *, when: datetime, name: str = "") -> Account:
        account = self.domains.get(domain)
        if account is None:
            account = self._create_account(name=name, domain=domain, when=when)
            try:
                with transaction.atomic():
                    AccountDomain.objects.create(account=account, domain=domain, is_primary=True)
            except IntegrityError:
                account.delete()
                account = self._live(AccountDomain.objects.get(domain=domain).account)
            self.domains[domain] = account
        return account

    @staticmethod
    def _create_account(*, name: str, domain: str, when: datetime) -> Account:
        source = Account.Source.GROUP if name else Account.Source.DOMAIN
        return Account.objects.create(
            name=name[:200] or _name_from_domain(domain),
            domain=domain,
            created_at=when,
            field_sources={"name": str(source)},
        )

    def _move_user(self, user: ProductUser, account: Account, *, when: datetime) -> None:
        if user.account_id == account.pk:
            return
        had_account = user.account_id is not None
        user.account = account
        self.dirty_users[user.pk] = user
        if not had_account and user.pk in self.orphan_users:
            # A late identify or group places earlier, account-less events too.
            self.orphan_users.discard(user.pk)
            earlier = Event.objects.filter(user=user, account__isnull=True)
            self._touch_days(earlier, account.pk)
            earlier.update(account=account)

    def _touch_days(self, events, account_id: int) -> None:
        """Record what events about to be placed in an account change: their days (for
        the rollup) and the guard timestamps they carry (checkout, sales request)."""
        for day in utc_days(events):
            self.touched.add((account_id, day))
        latest = (
            events.filter(category__in=GUARD_FIELDS)
            .order_by()
            .values_list("category")
            .annotate(latest=Max("timestamp"))
        )
        for category, when in latest:
            slot = (account_id, GUARD_FIELDS[category])
            self.guards[slot] = max(self.guards.get(slot, when), when)

    # --- writing -------------------------------------------------------------------

    def _link_contacts(self) -> None:
        """A Contact (a buyer a rep or the CRM knew) whose email now shows up in product
        events is that product user."""
        by_email = {u.email: u for u in self.dirty_users.values() if u.email}
        if not by_email:
            return
        contacts = list(
            Contact.objects.annotate(email_lower=Lower("email")).filter(
                product_user__isnull=True, email_lower__in=list(by_email)
            )
        )
        for contact in contacts:
            contact.product_user = by_email[contact.email_lower]
        if contacts:
            Contact.objects.bulk_update(contacts, ["product_user"])

    def flush(self) -> None:
        if self.dirty_users:
            ProductUser.objects.bulk_update(
                sorted(self.dirty_users.values(), key=lambda u: u.pk),
                [
                    "account",
                    "email",
                    "name",
                    "title",
                    "department",
                    "seniority",
                    "use_case",
                    "office",
                    "role",
                    "is_admin",
                    "first_seen_at",
                    "last_seen_at",
                ],
                batch_size=500,
            )
        # Rows are locked in id order, so concurrent requests never deadlock on users.
        seen_only = sorted(
            (u for pk, u in self.seen_users.items() if pk not in self.dirty_users),
            key=lambda u: u.pk,
        )
        if seen_only:
            _seen_update(seen_only)
        if self.dirty_users:
            self._link_contacts()
        if self.dirty_accounts:
            Account.objects.bulk_update(
                sorted(self.dirty_accounts.values(), key=lambda a: a.pk),
                ["name", "industry", "employees", "plan", "field_sources"],
                batch_size=500,
            )


def _seen_update(users: list[ProductUser]) -> None:
    """First/last seen of many users in one UPDATE, never moving the times backwards
    (LEAST/GREATEST against the stored values, so concurrent requests cannot)."""
    table = ProductUser._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Three array parameters, whatever the number of users.
            cursor.execute(
                f"UPDATE {table} AS u SET "  # noqa: S608 (table name only)
                "first_seen_at = LEAST(u.first_seen_at, v.first_seen), "
                "last_seen_at = GREATEST(u.last_seen_at, v.last_seen) "
                "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) "
                "AS v(id, first_seen, last_seen) WHERE u.id = v.id",
                [
                    [u.pk for u in users],
                    [u.first_seen_at for u in users],
                    [u.last_seen_at for u in users],
                ],
            )
            return
        for start in range(0, len(users), 300):
            chunk = users[start : start + 300]
            params = []
            for user in chunk:
                params += [user.pk, adapt(user.first_seen_at), adapt(user.last_seen_at)]
            values = ", ".join(["(%s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"WITH v(id, first_seen, last_seen) AS (VALUES {values}) "  # noqa: S608
                f"UPDATE {table} SET "
                f"first_seen_at = MIN({table}.first_seen_at, v.first_seen), "
                f"last_seen_at = MAX({table}.last_seen_at, v.last_seen) "
                f"FROM v WHERE {table}.id = v.id",
                params,
            )
