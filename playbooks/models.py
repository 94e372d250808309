"""Plays and stored play matches (DESIGN.md: a play is a documented response to a common
PQL situation, with a first-message template filled with the account's own numbers)."""

from django.conf import settings
from django.db import models


class Play(models.Model):
    key = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    situation = models.TextField(help_text="The PQL situation, in the rep's words.")
    # [{"signal": "active_users_30", "operator": "gte", "threshold": 5}, …]; all must hold.
    conditions = models.JSONField(default=list, blank=True)
    approach = models.TextField(help_text="The recommended approach.")
    message_template = models.TextField(
        help_text="The first message (Jinja2, sandboxed): {{ account.name }}, "
        "{{ signals.active_users_30 }}, {{ buyer.name }}, {{ rep.first_name }} …"
    )
    priority = models.PositiveSmallIntegerField(
        default=50, help_text="When several plays match, the highest priority wins."
    )
    is_active = models.BooleanField(default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return self.name


class PlayMatch(models.Model):
    """The best play for an account and the conditions that matched, stored in bulk by
    the matching task so the queue reads it with a constant number of queries."""

    account = models.OneToOneField(
        "accounts.Account", on_delete=models.CASCADE, primary_key=True, related_name="play_match"
    )
    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="matches")
    matched = models.JSONField(default=list, help_text="The conditions that matched, in words.")
    matched_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["play"], name="playmatch_play")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.play_id}"


class PlayMatchState(models.Model):
    """Singleton: how far play matching has read ``AccountScore.changed_at``, and whether
    a full re-match is owed (a play was edited while another run held the lock)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    changed_seen_until = models.DateTimeField(null=True, blank=True)
    # The rows stamped exactly ``changed_seen_until`` were all committed when they were
    # read (no scoring run was writing): the next run reads strictly later stamps.
    changed_settled = models.BooleanField(default=False)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_full_run_at = models.DateTimeField(null=True, blank=True)
    full_requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"play matching (scores seen until {self.changed_seen_until})"

    @property
    def full_owed(self) -> bool:
        return self.full_requested_at is not None and (
            self.last_full_run_at is None or self.full_requested_at > self.last_full_run_at
        )
