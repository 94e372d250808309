"""Apply the current tracking plan to every stored event (after editing the plan)."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from accounts.services.reclassify import RECLASSIFY_KIND, events_reclassify_job
from accounts.services.rollups import rollup_run_now
from pls_portal.services import job_create


class Command(BaseCommand):
    help = "Re-read stored events with the current tracking plan, then roll usage up."

    def handle(self, *args, **options) -> None:
        job = job_create(kind=RECLASSIFY_KIND, message="Started from the command line")
        with tqdm(unit="event", desc="Re-reading events", file=self.stderr._out) as bar:
            changed = events_reclassify_job(job_id=job.pk, bar=bar)
        rolled = rollup_run_now()
        self.stdout.write(
            f"{changed} events now read differently; usage rolled up for {rolled.pairs} "
            f"account-days of {rolled.accounts} accounts."
        )
