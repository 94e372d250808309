"""Store validated Segment messages: dedupe, identity, bulk insert, touched days.

One transaction per request (or file chunk): the caller answers 200 only after it
commits. Events go in with one multi-row insert; ingestion never calls scoring, it
records the touched (account, day) pairs for the rollup.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.ingest import InvalidEvent, Message, printable, raw_payload
from accounts.models import (
    Account,
    Deal,
    Event,
    IngestionKey,
    Plan,
    ProductUser,
    RejectedEvent,
    RejectedRequest,
    TouchedDay,
)
from accounts.services.deals import (
    PER_YEAR,
    SELF_SERVE_CATEGORIES,
    deals_from_checkout_events,
    self_serve_arr,
)
from accounts.services.identity import GUARD_FIELDS, IdentityResolver
from accounts.tracking_plan import PlanMeaning, meaning_for, tracking_plan_map

logger = logging.getLogger(__name__)

INSERT_BATCH = 500
# An event's number (a usage metric's count) is summed per day by the rollup.
VALUE_LIMIT = 10**15
_ARR = Deal._meta.get_field("arr")
# The largest ARR the deal amount column holds: 999999999999.99.
ARR_LIMIT = Decimal(10) ** (_ARR.max_digits - _ARR.decimal_places) - Decimal(10) ** (
    -_ARR.decimal_places
)


@dataclass(slots=True)
class EventRow:
    """An event on its way in: a plain row, not a model instance (building thousands of
    those is a large share of a request's time)."""

    message_id: str
    type: str
    name: str
    user: ProductUser | None
    anonymous_id: str
    account: Account | None
    timestamp: datetime
    received_at: datetime
    context_ip: str | None
    properties: dict
    category: str
    key: str
    value: float | None


@dataclass
class IngestResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_lines: list[int] = field(default_factory=list)

    def add(self, other: IngestResult) -> None:
        self.received += other.received
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.rejected_lines.extend(other.rejected_lines)


def _number(value) -> float | None:
    """A property as a number; None when it is none. May be NaN or infinite ("NaN",
    "1e999", an integer past a float): ``_amount_problem`` refuses those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def event_classify(meaning: PlanMeaning | None, message: Message) -> tuple[str, str, float | None]:
    """(category, key, value) of a message under the tracking plan."""
    if meaning is None:
        return "", "", None
    key, value = meaning.key, None
    if meaning.property_name:
        raw = message.properties.get(meaning.property_name)
        named = (
            slugify(str(raw)) if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
        )
        if meaning.category in ("limit_hit", "paywall_hit") and not key:
            key = named
        elif meaning.category == "feature":
            # One key per integration (integrations:slack), so distinct ones can be counted.
            key = f"{key}:{named}" if named else key
        else:
            value = _number(raw)
    return meaning.category, key[:80], value


def events_ingest(
    *,
    messages: list[Message],
    invalid: list[InvalidEvent],
    source: str,
    key: IngestionKey | None = None,
    file_name: str = "",
    received_at: datetime | None = None,
) -> IngestResult:
    """Store a request's (or a file chunk's) messages and rejected events atomically."""
    received_at = received_at or timezone.now()
    result = IngestResult(received=len(messages) + len(invalid), rejected=len(invalid))
    result.rejected_lines = [i.line_number for i in invalid if i.line_number is not None]

    with transaction.atomic():
        _keep_rejected(
            invalid, source=source, key=key, file_name=file_name, received_at=received_at
        )
        fresh = _new_messages(messages)
        result.duplicates = len(messages) - len(fresh)
        if not fresh:
            return result

        resolver = IdentityResolver()
        resolver.load(fresh)
        plan = tracking_plan_map()
        events, touched, counted = [], set(resolver.touched), []
        for message in fresh:
            user, account = resolver.resolve(message)
            meaning = meaning_for(plan, event_type=message.type, name=message.name)
            category, plan_key, value = event_classify(meaning, message)
            counted.append(meaning.property_name if meaning else "")
            events.append(
                EventRow(
                    message_id=message.message_id,
                    type=message.type,
                    name=message.name,
                    user=user,
                    anonymous_id=message.anonymous_id,
                    account=account,
                    timestamp=message.timestamp,
                    received_at=received_at,
                    context_ip=message.context_ip,
                    properties=message.properties or message.traits,
                    category=category,
                    key=plan_key,
                    value=value,
                )
            )
            if account is not None:
                touched.add((account.pk, message.timestamp.date()))
        _settle_identities(events, resolver, touched)
        events, refused = _refuse_amounts(fresh, events, counted)
        if refused:
            # Their users and accounts stay: who was seen is true whatever the amount.
            _keep_rejected(
                refused, source=source, key=key, file_name=file_name, received_at=received_at
            )
            result.rejected += len(refused)
            result.rejected_lines += [i.line_number for i in refused if i.line_number is not None]
        guards = dict(resolver.guards)
        for event in events:
            if event.account is not None and event.category in GUARD_FIELDS:
                slot = (event.account.pk, GUARD_FIELDS[event.category])
                guards[slot] = max(guards.get(slot, event.timestamp), event.timestamp)
        resolver.flush()
        touched |= resolver.touched
        result.stored = _insert_events(events, received_at=received_at)
        deals_from_checkout_events(events)
        result.duplicates = len(messages) - result.stored - len(refused)
        TouchedDay.objects.bulk_create(
            [TouchedDay(account_id=a, day=d) for a, d in touched], batch_size=INSERT_BATCH
        )
        _update_guards(guards)
    return result


def _keep_rejected(
    invalid: list[InvalidEvent],
    *,
    source: str,
    key: IngestionKey | None,
    file_name: str,
    received_at: datetime,
) -> None:
    """Keep rejected events for review, as storable text (a NUL or a lone surrogate in
    a file line is kept as its escape)."""
    invalid = [
        InvalidEvent(
            reason=printable(i.reason),
            field=printable(i.field),
            payload=printable(i.payload),
            line_number=i.line_number,
        )
        for i in invalid
    ]
    if invalid and file_name:
        # A file imported again keeps its rejected lines once (they are already kept
        # for review): rerunning a file stores nothing new.
        kept = set(
            RejectedEvent.objects.filter(
                file_name=file_name[:500],
                line_number__in=[i.line_number for i in invalid if i.line_number],
            ).values_list("line_number", "payload")
        )
        invalid = [i for i in invalid if (i.line_number, i.payload) not in kept]
    if invalid:
        RejectedEvent.objects.bulk_create(
            [
                RejectedEvent(
                    source=source,
                    key=key,
                    reason=i.reason[:300],
                    field=i.field[:100],
                    payload=i.payload,
                    file_name=file_name[:500],
                    line_number=i.line_number,
                    received_at=received_at,
                )
                for i in invalid
            ],
            batch_size=INSERT_BATCH,
        )


def _refuse_amounts(
    messages: list[Message], events: list[EventRow], counted: list[str]
) -> tuple[list[EventRow], list[InvalidEvent]]:
    """Split off the events whose number cannot be counted or whose purchase would make
    a deal past the deal amount column; ``counted[i]`` is the property ``events[i]``'s
    value came from. Checked once accounts are known: a purchase's ARR depends on the
    account's plan."""
    kept, refused = [], []
    plans: dict[str, Plan] | None = None
    for message, event, property_name in zip(messages, events, counted, strict=True):
        problem = None
        if event.category in SELF_SERVE_CATEGORIES and event.account is not None:
            if plans is None:
                plans = {plan.key: plan for plan in Plan.objects.all()}
            problem = _arr_problem(event, plans, property_name)
        elif event.value is not None and not -VALUE_LIMIT <= event.value <= VALUE_LIMIT:
            name = f"properties.{property_name}"
            problem = (name, f"{name} must be a number between -1e15 and 1e15")
        if problem is None:
            kept.append(event)
            continue
        refused.append(
            InvalidEvent(
                reason=problem[1],
                field=problem[0],
                payload=raw_payload(message.source if message.source is not None else {}),
                line_number=message.line_number,
            )
        )
    return kept, refused


def _arr_problem(event: EventRow, plans: dict[str, Plan], property_name: str):
    """(field, reason) when the deal ``deals_from_checkout_events`` would make of this
    event has no ARR the deal amount column can hold; None when it has."""
    props = event.properties or {}
    plan = plans.get(str(props.get("plan", "")).strip().lower()) or event.account.plan
    period = str(props.get("billing_period") or props.get("interval") or "").lower()
    period = period or (plan.billing_period if plan else "month")
    revenue = event.value if event.value is not None else props.get("revenue")
    amount = _number(revenue)
    if amount is not None:
        name = f"properties.{property_name if event.value is not None else 'revenue'}"
    else:
        name = "properties.seats"
    reason = f"{name} must give a finite ARR of at most {ARR_LIMIT} (the deal amount column)"
    if amount is not None and not (
        math.isfinite(amount) and abs(amount) * PER_YEAR.get(period, 12) <= ARR_LIMIT
    ):
        return name, reason
    try:
        arr = self_serve_arr(revenue=revenue, period=period, plan=plan, seats=props.get("seats"))
    except InvalidOperation:
        return name, reason
    if not arr.is_finite() or abs(arr) > ARR_LIMIT:
        return name, reason
    return None


def _settle_identities(
    events: list[EventRow], resolver: IdentityResolver, touched: set[tuple[int, date]]
) -> None:
    """Give events of this request the identity learned later in the same request:
    SDKs send ``page`` as an anonymous visitor, then ``identify``, in one batch."""
    for event in events:
        if event.user is None and event.anonymous_id:
            anon = resolver.anonymous.get(event.anonymous_id)
            if anon is not None and anon.user is not None:
                # The request's own instance of that user: it carries what was learned.
                event.user = resolver.users.get(anon.user.user_id, anon.user)
        if event.account is None and event.user is not None and event.user.account_id:
            event.account = event.user.account
            touched.add((event.account.pk, event.timestamp.date()))


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


def _insert_events(events: list[EventRow], *, received_at: datetime) -> int:
    """One multi-row insert (SQLite) or COPY (PostgreSQL) of a request's events; returns
    how many were stored. A concurrent request with the same messageId wins the race;
    this one skips it."""
    if connection.vendor != "postgresql":
        Event.objects.bulk_create(
            # Not asdict(): it would deep-copy the user and account instances.
            [Event(**{f: getattr(e, f) for f in EventRow.__slots__}) for e in events],
            batch_size=INSERT_BATCH,
            ignore_conflicts=True,
        )
        return Event.objects.filter(
            message_id__in=[e.message_id for e in events], received_at=received_at
        ).count()
    from psycopg.types.json import Jsonb

    columns = ", ".join(EVENT_COLUMNS)
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        # COPY into a session-local staging table, then one INSERT … ON CONFLICT: COPY
        # speed with the dedupe a plain COPY cannot do.
        staging = (
            "CREATE TEMP TABLE IF NOT EXISTS ingest_event_in ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        cursor.execute(staging)
        with cursor.cursor.copy(f"COPY ingest_event_in ({columns}) FROM STDIN") as copy:
            for e in events:
                copy.write_row(
                    (
                        e.message_id,
                        e.type,
                        e.name,
                        e.user.pk if e.user else None,
                        e.anonymous_id,
                        e.account.pk if e.account else None,
                        e.timestamp,
                        e.received_at,
                        e.context_ip,
                        Jsonb(e.properties),
                        e.category,
                        e.key,
                        e.value,
                    )
                )
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM ingest_event_in "  # noqa: S608
            "ON CONFLICT (message_id) DO NOTHING"
        )
        stored = cursor.rowcount
        cursor.execute("DELETE FROM ingest_event_in")
    return stored


def _new_messages(messages: list[Message]) -> list[Message]:
    """Messages whose messageId is neither stored nor repeated earlier in the request."""
    ids = [m.message_id for m in messages]
    seen: set[str] = set()
    if connection.vendor == "postgresql":
        # One array parameter instead of an IN list of thousands.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT message_id FROM {Event._meta.db_table} "  # noqa: S608
                "WHERE message_id = ANY(%s)",
                [ids],
            )
            seen.update(row[0] for row in cursor.fetchall())
    else:
        for start in range(0, len(ids), 900):
            seen.update(
                Event.objects.filter(message_id__in=ids[start : start + 900]).values_list(
                    "message_id", flat=True
                )
            )
    fresh = []
    for message in messages:
        if message.message_id not in seen:
            seen.add(message.message_id)
            fresh.append(message)
    return fresh


def _update_guards(guards: dict[tuple[int, str], datetime]) -> None:
    """Move guard timestamps forward only (a replayed old event never moves them back)."""
    by_account: dict[int, dict[str, datetime]] = {}
    for (account_id, field_name), when in guards.items():
        by_account.setdefault(account_id, {})[field_name] = when
    if not by_account:
        return
    accounts = Account.objects.in_bulk(list(by_account))
    changed = []
    for account_id, values in by_account.items():
        account = accounts[account_id]
        for field_name, when in values.items():
            current = getattr(account, field_name)
            if current is None or when > current:
                setattr(account, field_name, when)
                changed.append(account)
    if changed:
        Account.objects.bulk_update(set(changed), list(set(GUARD_FIELDS.values())))


def request_reject(
    *,
    status: int,
    reason: str,
    field: str,
    path: str,
    key: IngestionKey | None = None,
    remote_addr: str | None = None,
) -> None:
    """Count a refused request for admins; nothing of its body is kept."""
    RejectedRequest.objects.create(
        status=status,
        reason=reason[:300],
        field=field[:100],
        path=path[:100],
        key=key,
        remote_addr=remote_addr,
        received_at=timezone.now(),
    )


def rejected_events_clear(*, reason: str = "") -> int:
    """Delete rejected events an admin has reviewed: one reason, or all."""
    events = RejectedEvent.objects.all()
    if reason:
        events = events.filter(reason=reason)
    return events.delete()[0]
