"""Accounts, product users, events, daily rollups, the tracking plan, plans and ingestion.

The event side of DESIGN.md's ``accounts/`` app. Other apps read these tables in queries
and change them only through ``accounts.services``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Plan(models.Model):
    """A price plan of the vendor's product (free, trial, team, business, enterprise…)."""

    class BillingPeriod(models.TextChoices):
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    key = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    price_per_seat = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=0,
        help_text="Per seat per month, charged as the billing period says.",
    )
    billing_period = models.CharField(
        max_length=5, choices=BillingPeriod.choices, default=BillingPeriod.MONTH
    )
    is_paid = models.BooleanField(default=False)
    is_trial = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order from free upwards.")

    class Meta:
        ordering = ["position", "key"]

    def __str__(self) -> str:
        return self.name


class PlanLimit(models.Model):
    """A named limit of a plan. ``per_month`` counters (API calls, exports) reset each
    calendar month; ``current`` gauges (seats, projects) take the latest value."""

    class CountingMode(models.TextChoices):
        PER_MONTH = "per_month", "Per calendar month"
        CURRENT = "current", "Current value"

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="limits")
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=80)
    value = models.PositiveBigIntegerField()
    counting_mode = models.CharField(
        max_length=10, choices=CountingMode.choices, default=CountingMode.PER_MONTH
    )

    class Meta:
        ordering = ["plan", "key"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "key"], name="planlimit_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.plan.key}: {self.label} {self.value}"


class Account(models.Model):
    """A customer company (the PQA candidate)."""

    class Status(models.TextChoices):
        FREE = "free", "Free"
        TRIAL = "trial", "Trial"
        PAID = "paid", "Paid"
        CHURNED = "churned", "Churned"

    class Source(models.TextChoices):
        """Where a field's value came from; a later source never overwrites ``admin``."""

        DOMAIN = "domain", "Email domain"
        GROUP = "group", "Group traits"
        ENRICHMENT = "enrichment", "Enrichment"
        ADMIN = "admin", "Admin"

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, help_text="Primary domain.")
    industry = models.CharField(max_length=100, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.FREE)
    # Which source set each firmographic field: {"name": "group", "industry": "admin"}.
    field_sources = models.JSONField(default=dict, blank=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_accounts",
        help_text="Set when this account was merged into another; kept so rows stay valid.",
    )
    created_at = models.DateTimeField(help_text="First seen (signup or first event).")
    updated_at = models.DateTimeField(auto_now=True)
    # Guard timestamps (DESIGN.md "Decisions").
    checkout_started_at = models.DateTimeField(null=True, blank=True)
    checkout_completed_at = models.DateTimeField(null=True, blank=True)
    sales_request_at = models.DateTimeField(null=True, blank=True)
    # Set only by the rollup; scoring picks up accounts whose usage changed since scored.
    usage_changed_at = models.DateTimeField(null=True, blank=True)
    country = models.CharField(max_length=100, blank=True)
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    # ARR potential (an estimate, see accounts/services/arr.py) and what it was made of.
    arr_potential = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    arr_potential_inputs = models.JSONField(default=dict, blank=True)
    # The owner of its last won sales deal, kept by the deals service.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
    )

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["usage_changed_at"], name="account_usage_changed"),
            models.Index(fields=["domain"], name="account_domain"),
        ]

    def __str__(self) -> str:
        return self.name


class AccountDomain(models.Model):
    """A registrable domain owned by an account; one account may own several."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "domain"]

    def __str__(self) -> str:
        return self.domain


class AccountGroup(models.Model):
    """A Segment group id (a workspace) of an account; one company may have several."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="groups")
    group_id = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.group_id


class ProductUser(models.Model):
    """A person using the product; belongs to at most one account."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    user_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    email = models.EmailField(max_length=254, blank=True)
    name = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=200, blank=True)
    department = models.CharField(max_length=100, blank=True)
    seniority = models.CharField(max_length=50, blank=True)
    use_case = models.CharField(max_length=200, blank=True)
    office = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=100, blank=True)
    is_admin = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["email", "pk"]
        indexes = [
            models.Index(fields=["email"], name="productuser_email"),
            models.Index(fields=["account", "last_seen_at"], name="productuser_account_seen"),
            # Seats as of a day (scoring's signals): counted from the index alone.
            models.Index(
                fields=["account", "first_seen_at"], name="productuser_account_first_seen"
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.user_id or f"anonymous #{self.pk}"


class AnonymousId(models.Model):
    """An SDK's anonymousId, and the user it turned out to be once identified."""

    anonymous_id = models.CharField(max_length=200, primary_key=True)
    user = models.ForeignKey(
        ProductUser, null=True, blank=True, on_delete=models.CASCADE, related_name="anonymous_ids"
    )
    first_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.anonymous_id


class Event(models.Model):
    """One stored Segment message (track, page, screen, identify, group, alias)."""

    class Type(models.TextChoices):
        TRACK = "track"
        PAGE = "page"
        SCREEN = "screen"
        IDENTIFY = "identify"
        GROUP = "group"
        ALIAS = "alias"

    message_id = models.CharField(max_length=200, unique=True)
    type = models.CharField(max_length=8, choices=Type.choices)
    # The event name for track, the page path (or screen name) for page/screen.
    name = models.CharField(max_length=500, blank=True)
    # No single-column FK indexes: (account, timestamp) and (user, timestamp) below serve
    # those lookups, and every index costs on the hottest insert path.
    user = models.ForeignKey(
        ProductUser,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
    )
    anonymous_id = models.CharField(max_length=200, blank=True)
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
    )
    timestamp = models.DateTimeField(help_text="When it happened (clock skew corrected).")
    received_at = models.DateTimeField()
    context_ip = models.GenericIPAddressField(null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    # The tracking plan's reading of the event, taken at ingestion so that rollups are
    # plain set-based SQL: category, its key (feature, limit, intent, metric…) and the
    # numeric value it carries (usage metric count, checkout revenue).
    category = models.CharField(max_length=20, blank=True)
    key = models.CharField(max_length=80, blank=True)
    value = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "timestamp"], name="event_account_time"),
            models.Index(fields=["user", "timestamp"], name="event_user_time"),
            # Likely buyers read an account's intent and checkout events (a few percent of
            # all events) at every rescore of an account with a queue item.
            models.Index(
                fields=["account", "timestamp"],
                name="event_account_buyer_signal",
                condition=Q(
                    category__in=["buyer_intent", "checkout_started", "checkout_completed"]
                ),
            ),
            # Milestones (the dossier's onboarding, the activation KPI) are a sliver of
            # all events; without this they cost a scan of the account's events.
            models.Index(
                fields=["account", "key"],
                name="event_account_milestone",
                condition=Q(category="milestone"),
            ),
            # The dossier's paywall hits: a sliver of an account's events.
            models.Index(
                fields=["account", "timestamp"],
                name="event_account_paywall",
                condition=Q(category="paywall_hit"),
            ),
            models.Index(
                fields=["anonymous_id"],
                name="event_anonymous_unresolved",
                condition=Q(user__isnull=True),
            ),
            # Reverse IP on the dossier: anonymous visits from one company's address
            # ranges (PostgreSQL compares addresses), not every anonymous event.
            models.Index(
                fields=["context_ip", "timestamp"],
                name="event_anonymous_ip",
                condition=Q(user__isnull=True, context_ip__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name} @ {self.timestamp:%Y-%m-%d %H:%M}"


class TouchedDay(models.Model):
    """An (account, UTC day) pair whose rollups are stale. Written in the same
    transaction as the change (ingestion, identity, merge); consumed by the rollup.

    Append-only and not unique on purpose: the rollup takes the rows up to the highest
    id it saw and deletes exactly those, so a pair touched again while it runs is
    never lost, and writers never wait on each other."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["account", "day"], name="touchedday_account_day")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}"


class AccountDay(models.Model):
    """Daily usage of one account (UTC day)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    events = models.PositiveIntegerField(default=0)
    active_users = models.PositiveIntegerField(default=0)
    paywall_hits = models.PositiveIntegerField(default=0)
    buyer_intent_events = models.PositiveIntegerField(default=0)
    invites_sent = models.PositiveIntegerField(default=0)
    # {buyer-intent key (pricing, security, sso, …): events that day}
    intent = models.JSONField(default=dict, blank=True)
    # {limit key: hits that day}
    limit_hits = models.JSONField(default=dict, blank=True)
    # {usage metric key: sum that day}
    usage = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="accountday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}"


class AccountUserDay(models.Model):
    """Events of one user of one account on one day, so distinct users over any window
    are exact."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(ProductUser, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    events = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day", "user"], name="accountuserday_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day} user {self.user_id}"


class AccountFeatureDay(models.Model):
    """Events of one tracking-plan feature in one account on one day."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    feature_key = models.CharField(max_length=80)
    day = models.DateField()
    events = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day", "feature_key"], name="accountfeatureday_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day} {self.feature_key}"


class TrackingPlanEntry(models.Model):
    """What a product event name or page path means for scoring and the dossier."""

    class MatchType(models.TextChoices):
        EVENT = "event", "Event name"
        PAGE = "page", "Page path"

    class Category(models.TextChoices):
        FEATURE = "feature", "Feature used"
        MILESTONE = "milestone", "Onboarding milestone"
        LIMIT_HIT = "limit_hit", "Limit hit"
        PAYWALL_HIT = "paywall_hit", "Paywall hit (feature not in plan)"
        BUYER_INTENT = "buyer_intent", "Buyer intent"
        SALES_REQUEST = "sales_request", "Sales request"
        INVITE_SENT = "invite_sent", "Invite sent"
        CHECKOUT_STARTED = "checkout_started", "Checkout started"
        CHECKOUT_COMPLETED = "checkout_completed", "Checkout completed"
        PLAN_CHANGE = "plan_change", "Plan change"
        REFUND = "refund", "Refund"
        USAGE_METRIC = "usage_metric", "Usage metric"
        SIGNUP = "signup", "Signed up"
        OTHER = "other", "Known, no meaning for scoring"

    class Flag(models.TextChoices):
        NONE = "", "—"
        CORE = "core", "Core feature"
        INTEGRATION = "integration", "Integration"
        ACTIVATION = "activation", "Activation milestone"

    match_type = models.CharField(max_length=5, choices=MatchType.choices)
    name = models.CharField(max_length=500, help_text="Event name, or page path like /pricing.")
    category = models.CharField(max_length=20, choices=Category.choices)
    key = models.SlugField(
        max_length=80,
        blank=True,
        help_text="Feature, milestone, limit, intent or metric key, by category.",
    )
    flag = models.CharField(max_length=12, choices=Flag.choices, blank=True)
    property_name = models.CharField(
        max_length=100,
        blank=True,
        help_text=(
            "The property read: the number counted (usage metric), the revenue (checkout), "
            "or the limit / feature key when the entry's key is blank."
        ),
    )
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(fields=["match_type", "name"], name="trackingplan_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.get_category_display()}"


class IngestionKey(models.Model):
    """A write key for the Segment-compatible API; only its SHA-256 is stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class RejectedEvent(models.Model):
    """An event that broke the spec, kept with its reason and raw payload for review."""

    class Source(models.TextChoices):
        HTTP = "http", "HTTP API"
        FILE = "file", "File import"

    source = models.CharField(max_length=4, choices=Source.choices)
    key = models.ForeignKey(IngestionKey, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=300)
    field = models.CharField(max_length=100, blank=True)
    payload = models.TextField()
    file_name = models.CharField(max_length=500, blank=True)
    line_number = models.PositiveIntegerField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["reason"], name="rejectedevent_reason")]

    def __str__(self) -> str:
        return f"{self.reason} ({self.received_at:%Y-%m-%d %H:%M})"


class RejectedRequest(models.Model):
    """A whole request refused (400/401): counted for admins, nothing of it stored."""

    status = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=300)
    field = models.CharField(max_length=100, blank=True)
    path = models.CharField(max_length=100)
    key = models.ForeignKey(IngestionKey, null=True, blank=True, on_delete=models.SET_NULL)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


class IncomingRequest(models.Model):
    """An accepted ingestion request, committed before the API answers 200 and turned
    into events by the drain task moments later. Keeping identity resolution and dedupe
    off the HTTP path is what lets the API take events at close to COPY speed."""

    received_at = models.DateTimeField()
    key = models.ForeignKey(IngestionKey, null=True, blank=True, on_delete=models.SET_NULL)
    call = models.CharField(max_length=10)
    body = models.TextField(help_text="The request's JSON, decompressed.")

    def __str__(self) -> str:
        return f"{self.call} @ {self.received_at:%Y-%m-%d %H:%M:%S}"


class Deal(models.Model):
    """Every deal, whatever its source: self-serve checkouts, sales deals closed from the
    queue, CRM exports. All revenue metrics read Deals (DESIGN.md "Decisions")."""

    class Motion(models.TextChoices):
        SELF_SERVE = "self_serve", "Self-serve"
        SALES_ASSISTED = "sales_assisted", "Sales-assisted"

    class Source(models.TextChoices):
        PQL = "pql", "PQL"
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"
        EXPANSION = "expansion", "Expansion"
        SELF_SERVE = "self_serve", "Self-serve"

    class Stage(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    class Change(models.TextChoices):
        NEW = "new", "New business"
        UPGRADE = "upgrade", "Upgrade"
        DOWNGRADE = "downgrade", "Downgrade"
        REFUND = "refund", "Refund"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="deals")
    name = models.CharField(max_length=200, blank=True)
    motion = models.CharField(max_length=14, choices=Motion.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    stage = models.CharField(max_length=4, choices=Stage.choices, default=Stage.OPEN)
    change = models.CharField(max_length=9, choices=Change.choices, default=Change.NEW)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT)
    arr = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # Rows in another currency are kept, flagged, and left out of metrics.
    currency = models.CharField(max_length=3, default=settings.PLS_CURRENCY)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # The CRM's id (imports are idempotent by it); NULL for deals born here.
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    # The checkout / plan change / refund event a self-serve deal came from (replay-safe).
    source_message_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    lost_reason = models.CharField(max_length=300, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        indexes = [
            models.Index(fields=["account", "-opened_at"], name="deal_account_opened"),
            models.Index(fields=["stage", "closed_at"], name="deal_stage_closed"),
        ]
        constraints = [
            models.CheckConstraint(
                name="deal_closed_has_date",
                condition=Q(stage="open") | Q(closed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.get_source_display()} {self.arr} ({self.stage})"

    @property
    def in_metrics(self) -> bool:
        return self.currency == settings.PLS_CURRENCY


class Contact(models.Model):
    """A known person at an account who may never use the product: the buyer a rep found,
    or one the CRM knows (seed 004, "find the missing buyer")."""

    class Source(models.TextChoices):
        REP = "rep", "Added by a rep"
        CRM = "crm", "CRM import"
        ENRICHMENT = "enrichment", "Enrichment"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="contacts")
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    title = models.CharField(max_length=200, blank=True)
    department = models.CharField(max_length=100, blank=True)
    seniority = models.CharField(max_length=50, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.REP)
    notes = models.TextField(blank=True)
    product_user = models.ForeignKey(
        ProductUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["email"], name="contact_email")]

    def __str__(self) -> str:
        return self.name or self.email or f"contact #{self.pk}"


class Firmographic(models.Model):
    """Imported company facts by domain (``import_firmographics``), read by the bundled
    enrichment provider."""

    domain = models.CharField(max_length=253, unique=True)
    company_name = models.CharField(max_length=200, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class IPRange(models.Model):
    """An admin-loaded range of addresses known to belong to a company (reverse IP).
    ``first`` and ``last`` are the range's ends as zero-padded 32-digit hex, so IPv4 and
    IPv6 ranges compare as plain strings in any database."""

    network = models.CharField(max_length=50, unique=True, help_text="CIDR, e.g. 203.0.113.0/24")
    first = models.CharField(max_length=32)
    last = models.CharField(max_length=32)
    domain = models.CharField(max_length=253)
    company = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["first"]
        indexes = [models.Index(fields=["first", "last"], name="iprange_first_last")]

    def __str__(self) -> str:
        return f"{self.network} → {self.domain}"


class ImportRow(models.Model):
    """A row of a CRM or firmographics import that could not be matched or read: kept
    with its line number and reason for review, never guessed."""

    class Kind(models.TextChoices):
        DEALS = "deals", "Deals"
        CONTACTS = "contacts", "Contacts"
        FIRMOGRAPHICS = "firmographics", "Firmographics"
        IP_RANGES = "ip_ranges", "IP ranges"

    kind = models.CharField(max_length=13, choices=Kind.choices)
    file_name = models.CharField(max_length=500)
    line_number = models.PositiveIntegerField()
    reason = models.CharField(max_length=300)
    row = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "file_name", "line_number"]

    def __str__(self) -> str:
        return f"{self.file_name}:{self.line_number} {self.reason}"
