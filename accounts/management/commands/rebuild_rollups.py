"""Rebuild the daily usage rollups from the raw events, with a progress bar."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.services.rollups import ROLLUP_REBUILD_KIND, RollupBusy, rollup_rebuild_job
from pls_portal.services import job_create


class Command(BaseCommand):
    help = (
        "Recompute every AccountDay, AccountUserDay and AccountFeatureDay row from the "
        "events (same rows as the incremental rollup). Waits for a running rollup first."
    )

    def handle(self, *args, **options) -> None:
        job = job_create(kind=ROLLUP_REBUILD_KIND, message="Started from the command line")
        with tqdm(total=None, unit="day", desc="Rollup rebuild", file=self.stderr._out) as bar:
            try:
                result = rollup_rebuild_job(job_id=job.pk, bar=bar)
            except RollupBusy as exc:
                raise CommandError(f"Rollup rebuild job #{job.pk} skipped: {exc}.") from None
        self.stdout.write(self.style.SUCCESS(f"Rollup rebuild job #{job.pk}: {result.summary}."))
