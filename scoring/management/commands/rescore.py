"""Score accounts now, with a progress bar: the changed ones, or all with --all."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pls_portal.services import job_create
from scoring.services.run import RESCORE_KIND, NoActiveRuleSet, ScoringBusy, rescore_job


class Command(BaseCommand):
    help = (
        "Roll up pending usage, then score and route the accounts whose usage changed "
        "since the last run (or every account with --all) with the active rule set."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--all", action="store_true", help="Score every account.")

    def handle(self, *args, **options) -> None:
        full = options["all"]
        job = job_create(
            kind=RESCORE_KIND, params={"full": full}, message="Started from the command line"
        )
        with tqdm(total=None, unit="account", desc="Scoring", file=self.stderr._out) as bar:
            try:
                result = rescore_job(job_id=job.pk, full=full, bar=bar)
            except (NoActiveRuleSet, ScoringBusy) as exc:
                raise CommandError(f"Rescore job #{job.pk}: {exc}.") from None
        self.stdout.write(self.style.SUCCESS(f"Rescore job #{job.pk}: {result.summary}."))
