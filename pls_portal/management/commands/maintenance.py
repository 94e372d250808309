"""Run the maintenance job now, with a progress bar (the same job the nightly beat runs)."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from pls_portal.services import MAINTENANCE_KIND, job_create, maintenance_run


class Command(BaseCommand):
    help = (
        "Delete expired sessions, login attempts past their cool-off, and login logs and "
        "finished jobs older than PLS_JOB_RETENTION_DAYS."
    )

    def handle(self, *args, **options) -> None:
        job = job_create(kind=MAINTENANCE_KIND, message="Started from the command line")
        with tqdm(total=None, unit="row", desc="Maintenance", file=self.stderr._out) as bar:
            result = maintenance_run(job_id=job.pk, bar=bar)
        self.stdout.write(
            self.style.SUCCESS(
                f"Maintenance job #{job.pk} removed {result.total} rows: "
                f"{result.sessions} sessions, {result.login_attempts} login attempts, "
                f"{result.login_logs} login log entries, {result.jobs} jobs."
            )
        )
