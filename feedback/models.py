"""Post-deal feedback (DESIGN.md "Feedback and metrics", seed 003's feedback loop) and the
frozen monthly PM reports.

After every won or lost queue item the rep records, structured: what triggered the deal,
objections, features requested and what the customer would have needed to buy without
sales. Deal size and motion are read from the item's Deal, never typed again.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class FeedbackCategory(models.Model):
    """An objection or a self-serve blocker reps pick from; admins edit the lists."""

    class Kind(models.TextChoices):
        OBJECTION = "objection", "Objection"
        BLOCKER = "blocker", "Self-serve blocker"

    kind = models.CharField(max_length=9, choices=Kind.choices)
    key = models.SlugField(max_length=60, help_text="Stable key; reports and exports use it.")
    label = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(
        default=True, help_text="Inactive categories stay on past feedback but are not offered."
    )

    class Meta:
        ordering = ["kind", "position", "label"]
        verbose_name_plural = "feedback categories"
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="feedbackcategory_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"


class Feedback(models.Model):
    """One rep's structured feedback on one won or lost queue item."""

    class Outcome(models.TextChoices):
        WON = "won", "Won"
        LOST = "lost", "Lost"

    item = models.OneToOneField(
        "scoring.QueueItem", on_delete=models.PROTECT, related_name="feedback"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=4, choices=Outcome.choices)

    # What triggered the deal: a signal (one of the item's reasons, or the rep's words)
    # and the play worked.
    trigger_signal = models.CharField(max_length=300, blank=True)
    trigger_play = models.ForeignKey(
        "playbooks.Play", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The play's name when chosen: the feedback still reads after the play is deleted.
    trigger_play_name = models.CharField(max_length=120, blank=True)
    trigger_note = models.TextField(blank=True)

    objections = models.ManyToManyField(
        FeedbackCategory,
        blank=True,
        related_name="objection_feedback",
        limit_choices_to={"kind": FeedbackCategory.Kind.OBJECTION},
    )
    objection_note = models.TextField(blank=True)
    feature_note = models.TextField(blank=True)
    blockers = models.ManyToManyField(
        FeedbackCategory,
        blank=True,
        related_name="blocker_feedback",
        limit_choices_to={"kind": FeedbackCategory.Kind.BLOCKER},
        verbose_name="self-serve blockers",
    )
    self_serve_note = models.TextField(
        blank=True, help_text="What the customer would have needed to buy without sales."
    )

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "feedback"
        constraints = [
            models.CheckConstraint(
                name="feedback_won_or_lost", condition=Q(outcome__in=["won", "lost"])
            ),
        ]

    def __str__(self) -> str:
        return f"feedback on item {self.item_id} ({self.outcome})"


class FeedbackFeature(models.Model):
    """A feature the customer asked for: a tracking-plan feature key."""

    feedback = models.ForeignKey(Feedback, on_delete=models.CASCADE, related_name="features")
    key = models.SlugField(max_length=80)

    class Meta:
        ordering = ["feedback", "key"]
        constraints = [
            models.UniqueConstraint(fields=["feedback", "key"], name="feedbackfeature_unique"),
        ]

    def __str__(self) -> str:
        return self.key


class FeedbackTag(models.Model):
    """A PM's free tag on a feedback entry."""

    feedback = models.ForeignKey(Feedback, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=40)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField()

    class Meta:
        ordering = ["feedback", "name"]
        constraints = [
            models.UniqueConstraint(fields=["feedback", "name"], name="feedbacktag_unique"),
        ]
        indexes = [models.Index(fields=["name"], name="feedbacktag_name")]

    def __str__(self) -> str:
        return self.name


class FeedbackComment(models.Model):
    """A PM's comment on a feedback entry."""

    feedback = models.ForeignKey(Feedback, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["feedback", "created_at", "id"]

    def __str__(self) -> str:
        return f"comment on feedback {self.feedback_id}"


class ReportSnapshot(models.Model):
    """A month's PM report as frozen on the 1st of the next month: the page reads these
    figures for that month from then on."""

    month = models.DateField(unique=True, help_text="The first day of the month (UTC).")
    figures = models.JSONField()
    frozen_at = models.DateTimeField()
    emailed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the PMs were sent the link (once)."
    )

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"report {self.month:%Y-%m}"
