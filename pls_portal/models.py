"""Staff users (the people who log in) and Job rows (progress of long work).

This module imports no other app of the project (DESIGN.md "Decisions").
"""

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    REP = "rep", "Rep"
    PM = "pm", "PM"
    ADMIN = "admin", "Admin"


class RepType(models.TextChoices):
    AE = "ae", "AE"
    SDR = "sdr", "SDR"


class StaffUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A member of the vendor's staff: a rep (AE or SDR), a PM or an admin."""

    role = models.CharField(max_length=8, choices=Role.choices, default=Role.REP)
    rep_type = models.CharField(
        max_length=4,
        choices=RepType.choices,
        blank=True,
        help_text="AE or SDR; only for reps.",
    )

    objects = StaffUserManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                name="user_rep_type_only_for_reps",
                condition=(Q(role=Role.REP) & ~Q(rep_type=""))
                | (~Q(role=Role.REP) & Q(rep_type="")),
                violation_error_message=(
                    "A rep needs a rep type (AE or SDR); other roles have none."
                ),
            ),
        ]

    def save(self, *args, **kwargs):
        # The role is the one source of truth: Django admin access follows it.
        self.is_staff = self.role == Role.ADMIN
        self.is_superuser = self.role == Role.ADMIN
        super().save(*args, **kwargs)

    @property
    def role_label(self) -> str:
        if self.role == Role.REP and self.rep_type:
            return RepType(self.rep_type).label
        return Role(self.role).label

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class Job(models.Model):
    """One long piece of work (import, rescore, backtest, rollup rebuild, report)."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    FINISHED_STATES = (State.DONE, State.FAILED)

    kind = models.CharField(max_length=40)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["kind", "-created_at"], name="job_kind_created"),
            models.Index(fields=["state", "finished_at"], name="job_state_finished"),
        ]
        constraints = [
            models.CheckConstraint(
                name="job_done_not_above_total",
                condition=Q(total__isnull=True) | Q(done__lte=models.F("total")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @property
    def percent(self) -> int | None:
        if not self.total:
            return 100 if self.state == self.State.DONE else None
        return min(100, int(self.done * 100 / self.total))

    def get_kind_display(self) -> str:
        return self.kind.replace("_", " ").capitalize()


class TaskLock(models.Model):
    """A named lock so that a periodic task runs one at a time (see services.task_lock)."""

    name = models.CharField(max_length=80, primary_key=True)
    owner = models.CharField(max_length=32, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
