"""Outbound webhooks and the daily CRM sync (issue 15, "Out to the CRM and chat").

An idempotent outbox: the handoff reads ``scoring.RouteChange`` past a cursor and, in the
same transaction as the cursor advance, writes one ``OutboundEvent`` per change worth
telling (its id derived from the RouteChange id) and one ``Delivery`` per subscribed
endpoint (unique per endpoint and event). Deliveries are then sent by Celery tasks and
retried with exponential backoff; the receiver dedupes by the event id. See
docs/outbound.md.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class EventType(models.TextChoices):
    PQL_CREATED = "pql_created", "PQL created"
    ROUTE_CHANGED = "route_changed", "Route changed"
    BACKED_OFF = "backed_off", "Backed off"
    HANDED_TO_MARKETING = "handed_to_marketing", "Handed to marketing"
    CLOSED = "closed", "Closed (won, lost or other)"
    CRM_SYNC = "crm_sync", "CRM sync batch"
    # Sent by "Send a test event" only; nobody subscribes to it.
    PING = "ping", "Test event"


# The pls_portal.Job kind of a CRM sync run from the page or the command.
CRM_SYNC_KIND = "crm_sync"

SUBSCRIBABLE_TYPES = tuple(t for t in EventType if t != EventType.PING)
ROUTE_CHANGE_TYPES = tuple(t for t in SUBSCRIBABLE_TYPES if t != EventType.CRM_SYNC)


class Endpoint(models.Model):
    """A receiver of signed webhooks, managed by admins."""

    class Format(models.TextChoices):
        JSON = "json", "JSON event (signed)"
        SLACK = "slack", 'Slack incoming webhook ({"text": …})'

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    # Signs every request (HMAC-SHA256). Kept in clear because signing needs it; only
    # admins can reveal it.
    secret = models.CharField(max_length=100)
    event_types = models.JSONField(default=list, help_text="The event types sent here.")
    format = models.CharField(max_length=5, choices=Format.choices, default=Format.JSON)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def subscribes(self, event_type: str) -> bool:
        return event_type in self.event_types

    def get_event_types_display(self) -> list[str]:
        return [EventType(t).label for t in self.event_types if t in EventType.values]


class OutboundCursor(models.Model):
    """Singleton: how far the handoff has read ``scoring.RouteChange``.

    ``gaps`` are id ranges at or below the cursor that were not visible when the cursor
    passed them (a transaction still open, or rolled back), as ``[low, high, first seen
    (ISO)]``; each run re-reads them, so a row committed late is never skipped."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_route_change_id = models.BigIntegerField(default=0)
    gaps = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"outbound cursor at RouteChange {self.last_route_change_id}"


class CrmSync(models.Model):
    """One run of the CRM sync: the usage snapshot of the accounts changed since the last
    finished run (or of every account), kept as its batch events."""

    class Mode(models.TextChoices):
        CHANGED = "changed", "Changed accounts"
        FULL = "full", "All accounts"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    mode = models.CharField(max_length=7, choices=Mode.choices)
    state = models.CharField(max_length=7, choices=State.choices, default=State.RUNNING)
    # Accounts changed after ``since`` (none: every account) up to ``cutoff`` are in it.
    since = models.DateTimeField(null=True, blank=True)
    cutoff = models.DateTimeField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    accounts = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.ForeignKey(
        "pls_portal.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["state", "-cutoff"], name="crmsync_state_cutoff")]

    def __str__(self) -> str:
        return f"CRM sync #{self.pk} ({self.mode}, {self.state})"


class OutboundEvent(models.Model):
    """Something worth telling a receiver; its id is what receivers dedupe by."""

    # evt_rc_<RouteChange id>, evt_crm_<sync id>_<batch>, evt_ping_<endpoint>_<n>.
    id = models.CharField(primary_key=True, max_length=64)
    type = models.CharField(max_length=20, choices=EventType.choices)
    route_change = models.OneToOneField(
        "scoring.RouteChange",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    crm_sync = models.ForeignKey(
        CrmSync, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    batch = models.PositiveIntegerField(null=True, blank=True)
    # One line for the delivery log and the Slack text.
    summary = models.CharField(max_length=300)
    payload = models.JSONField()
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["crm_sync", "batch"],
                condition=Q(crm_sync__isnull=False),
                name="outboundevent_sync_batch_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.id


class Delivery(models.Model):
    """One event to one endpoint: the outbox row a task sends, and its log."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboundEvent, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=9, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A dispatched attempt holds the lease; a worker lost mid-attempt lets it lapse and
    # the delivery goes out again (the receiver dedupes by event id).
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_snippet = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    resent_at = models.DateTimeField(null=True, blank=True)
    resent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_endpoint_event"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_pending_due",
                condition=Q(state="pending"),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.state})"
