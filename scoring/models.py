"""Rule sets, scores and their history, queue items, touches and the RouteChange log.

The rule and routing vocabulary is DESIGN.md's ("Decisions": PQA, PQL and routing).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Route(models.TextChoices):
    AE = "ae", "AE"
    SDR = "sdr", "SDR"
    INBOUND = "inbound", "Inbound"
    EXPANSION = "expansion", "Expansion"
    NURTURE = "nurture", "Nurture"
    SELF_SERVE = "self_serve", "Self-serve"
    SELF_SERVE_HERO = "self_serve_hero", "Self-serve hero"
    HELD = "held", "Held"
    NOT_ROUTED = "not_routed", "Not routed"


# Routes that put the account in a rep's queue.
QUEUE_ROUTES = (Route.AE, Route.SDR, Route.INBOUND, Route.EXPANSION)
# Routes that count as a PQL (inbound and expansion are left out of PQL metrics).
PQL_ROUTES = (Route.AE, Route.SDR)


class Dimension(models.TextChoices):
    VALUE = "value", "Value"
    ENGAGEMENT = "engagement", "Engagement"


class Operator(models.TextChoices):
    GTE = "gte", "≥"
    GT = "gt", ">"
    LTE = "lte", "≤"
    LT = "lt", "<"
    EQ = "eq", "="
    BETWEEN = "between", "between"


class RuleSet(models.Model):
    """One version of the PQL definition: rules plus the routing settings."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PROPOSED = "proposed", "Proposed"
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    version = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.DRAFT)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Routing thresholds (DESIGN.md "Decisions"; seeds 001, 002, 003, 004).
    ae_threshold = models.PositiveSmallIntegerField(
        default=70, validators=[MaxValueValidator(100)], help_text="A PQL scoring above → AE."
    )
    sdr_threshold = models.PositiveSmallIntegerField(
        default=40, validators=[MaxValueValidator(100)], help_text="A PQL scoring at least → SDR."
    )
    value_points = models.PositiveSmallIntegerField(
        default=40,
        validators=[MaxValueValidator(100)],
        help_text="Most points the value dimension can give (the rest is engagement).",
    )
    value_cutoff = models.PositiveSmallIntegerField(
        default=20, validators=[MaxValueValidator(100)], help_text="High value from here."
    )
    engagement_cutoff = models.PositiveSmallIntegerField(
        default=30, validators=[MaxValueValidator(100)], help_text="High engagement from here."
    )
    arr_floor = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=10_000,
        validators=[MinValueValidator(0)],
        help_text="Below this ARR potential: self-serve, no sales touch.",
    )
    backoff_days = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1)], help_text="No response after the first touch."
    )
    cooldown_days = models.PositiveSmallIntegerField(
        default=30, help_text="Before a backed-off, lost or disqualified account can re-qualify."
    )
    ae_sla_hours = models.PositiveSmallIntegerField(default=24, validators=[MinValueValidator(1)])
    sdr_sla_hours = models.PositiveSmallIntegerField(default=48, validators=[MinValueValidator(1)])
    checkout_hold_hours = models.PositiveSmallIntegerField(
        default=48, help_text="A checkout started this recently and not completed holds."
    )
    sales_request_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="A sales request this recent is inbound.",
    )
    expansion_user_growth_pct = models.PositiveSmallIntegerField(
        default=50, help_text="Active users up this much since the win opens an expansion item."
    )
    ae_weekly_capacity = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Good PQLs one AE works a week."
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    proposed_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="active"), name="ruleset_one_active"
            ),
            models.CheckConstraint(
                name="ruleset_sdr_below_ae",
                condition=Q(sdr_threshold__lte=models.F("ae_threshold")),
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.name} ({self.get_state_display()})"

    @property
    def engagement_points(self) -> int:
        return 100 - self.value_points

    @property
    def editable(self) -> bool:
        return self.state in (self.State.DRAFT, self.State.PROPOSED)


class Rule(models.Model):
    """Points for one condition over one signal."""

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="rules")
    signal = models.CharField(max_length=40)
    operator = models.CharField(max_length=7, choices=Operator.choices, default=Operator.GTE)
    threshold = models.FloatField()
    threshold_high = models.FloatField(null=True, blank=True, help_text="Upper bound of between.")
    points = models.SmallIntegerField(validators=[MinValueValidator(-100), MaxValueValidator(100)])
    dimension = models.CharField(max_length=10, choices=Dimension.choices)
    half_life_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Points halve for each this many days the account has been idle.",
    )
    label = models.CharField(max_length=120, blank=True, help_text="Shown to reps as the reason.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["rule_set", "position", "id"]
        constraints = [
            models.CheckConstraint(
                name="rule_points_range", condition=Q(points__gte=-100) & Q(points__lte=100)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.signal} {self.get_operator_display()} {self.threshold}: {self.points:+d}"


class RuleSetAudit(models.Model):
    """Who changed, proposed and activated what."""

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="audit")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20)
    detail = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"v{self.rule_set_id} {self.action}"


class IcpEntry(models.Model):
    """The ideal customer profile, kept by admins: target company domains and industries."""

    class Kind(models.TextChoices):
        DOMAIN = "domain", "Company domain"
        INDUSTRY = "industry", "Industry"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=253, help_text="A domain (acme.com) or an industry.")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["kind", "value"]
        verbose_name = "ICP entry"
        verbose_name_plural = "ICP entries"
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="icpentry_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"

    def save(self, *args, **kwargs):
        self.value = self.value.strip().lower()
        super().save(*args, **kwargs)


class AccountScore(models.Model):
    """The account's current score, route and the guard state scoring keeps."""

    account = models.OneToOneField(
        "accounts.Account", on_delete=models.CASCADE, primary_key=True, related_name="score"
    )
    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveSmallIntegerField(default=0)
    value = models.SmallIntegerField(default=0)
    engagement = models.SmallIntegerField(default=0)
    # [{"rule": id, "signal": name, "label": …, "points": n, "dimension": …, "value": x}]
    contributions = models.JSONField(default=list, blank=True)
    signals = models.JSONField(default=dict, blank=True)
    route = models.CharField(max_length=16, choices=Route.choices)
    route_reason = models.CharField(max_length=300)
    scored_at = models.DateTimeField(help_text="When the score or route last changed.")
    # When any of the row's values (signals included) last changed; plays re-match
    # accounts changed since their last run.
    changed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    cooldown_reason = models.CharField(max_length=100, blank=True)
    # Usage when the account was first seen won by sales; expansion compares against it.
    expansion_baseline = models.JSONField(default=dict, blank=True)
    # A 64-bit hash of contributions and signals as the scoring run wrote them: the run
    # compares it instead of reading and decoding both JSON columns of every account.
    # Empty on rows written before it existed (the run then compares the JSON).
    digest = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [models.Index(fields=["route", "score"], name="accountscore_route_score")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.score} {self.route}"


class ScoreHistory(models.Model):
    """A row each time an account's score or route changes."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    score = models.PositiveSmallIntegerField()
    value = models.SmallIntegerField()
    engagement = models.SmallIntegerField()
    route = models.CharField(max_length=16, choices=Route.choices)

    class Meta:
        ordering = ["account", "at"]
        indexes = [models.Index(fields=["account", "at"], name="scorehistory_account_at")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.at:%Y-%m-%d}: {self.score}"


class ScoringState(models.Model):
    """Singleton: the newest ``usage_changed_at`` the incremental scoring has seen."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    usage_seen_until = models.DateTimeField(null=True, blank=True)
    last_full_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"scoring state (usage seen until {self.usage_seen_until})"


class QueueItem(models.Model):
    """One qualification cycle of one account (the PQA), in a rep pool."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        TOUCHED = "touched", "Touched"
        WON = "won", "Won"
        LOST = "lost", "Lost"
        DISQUALIFIED = "disqualified", "Disqualified"
        BACKED_OFF = "backed_off", "Backed off"
        HANDED_TO_MARKETING = "marketing", "Handed to marketing"
        EXPIRED = "expired", "Expired"
        NOT_QUALIFIED = "not_qualified", "No longer qualified"
        SELF_SERVED = "self_served", "Self-served"

    ACTIVE_STATES = (State.OPEN, State.CLAIMED, State.TOUCHED)

    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="items")
    route = models.CharField(max_length=16, choices=Route.choices)
    state = models.CharField(max_length=13, choices=State.choices, default=State.OPEN)
    score = models.PositiveSmallIntegerField(default=0)
    reasons = models.JSONField(default=list, blank=True, help_text="Top reasons, in words.")
    route_reason = models.CharField(max_length=300, blank=True)
    buyers = models.JSONField(default=list, blank=True)
    missing_buyer = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Expansion items: the account's owner.",
    )
    created_at = models.DateTimeField()
    routed_at = models.DateTimeField()
    due_at = models.DateTimeField()
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claimed_items",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    first_touch_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True, help_text="Flagged by the SLA sweep.")
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=300, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, help_text="Hand-over notes (SDR → AE, marketing).")
    deal = models.ForeignKey(
        "accounts.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(state__in=["open", "claimed", "touched"]),
                name="queueitem_one_active_per_account",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "route", "due_at"], name="queueitem_state_route_due"),
            models.Index(fields=["account", "created_at"], name="queueitem_account_created"),
            # Reports and metrics read closed cycles by month.
            models.Index(fields=["closed_at"], name="queueitem_closed_at"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.route} {self.state}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def sla_met(self) -> bool | None:
        """None until the first touch (or forever if never touched)."""
        if self.first_touch_at is None:
            return None
        return self.first_touch_at <= self.due_at


class Touch(models.Model):
    """A rep's contact with the account, and the response if one came."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        LINKEDIN = "linkedin", "LinkedIn"
        IN_APP = "in_app", "In-app message"
        MEETING = "meeting", "Meeting"
        OTHER = "other", "Other"

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="touches")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    person = models.CharField(max_length=200, help_text="Who was contacted.")
    note = models.TextField(blank=True)
    at = models.DateTimeField()
    response_at = models.DateTimeField(null=True, blank=True)
    response_note = models.TextField(blank=True)

    class Meta:
        ordering = ["item", "at"]

    def __str__(self) -> str:
        return f"{self.item_id} {self.channel} {self.at:%Y-%m-%d}"


class RouteChange(models.Model):
    """Append-only: every route or item-state change, written in the same transaction."""

    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey(
        QueueItem, null=True, blank=True, on_delete=models.PROTECT, related_name="changes"
    )
    from_route = models.CharField(max_length=16, blank=True)
    to_route = models.CharField(max_length=16, blank=True)
    from_state = models.CharField(max_length=13, blank=True)
    to_state = models.CharField(max_length=13, blank=True)
    reason = models.CharField(max_length=300)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "at"], name="routechange_account_at")]

    def __str__(self) -> str:
        before, after = f"{self.from_route}/{self.from_state}", f"{self.to_route}/{self.to_state}"
        return f"{self.account_id}: {before} → {after}"
