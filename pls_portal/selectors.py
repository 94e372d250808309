"""Reads owned by pls_portal, scoped by the acting user."""

from django.db.models import QuerySet

from .models import Job, User
from .permissions import is_admin


def jobs_visible_to(*, user: User) -> QuerySet[Job]:
    """Admins see every job; everybody else sees the jobs they started."""
    jobs = Job.objects.select_related("created_by")
    return jobs if is_admin(user) else jobs.filter(created_by=user)


def job_get(*, user: User, job_id: int) -> Job:
    """One job the user may see; ``Job.DoesNotExist`` otherwise (a 404, not a 403)."""
    return jobs_visible_to(user=user).get(pk=job_id)
