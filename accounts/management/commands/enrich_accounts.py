"""Fill accounts' company facts from the enrichment provider, then their ARR potential."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.enrichment import get_provider
from accounts.models import Account
from accounts.services.enrichment import accounts_enrich
from pls_portal.services import job_create, job_running


class Command(BaseCommand):
    help = (
        "Ask the enrichment provider (setting PLS_ENRICHMENT_PROVIDER, by default the "
        "imported firmographics) about every account with a domain, or the given account "
        "ids, and fill name, employees, industry, country and annual revenue. Values set "
        "by an admin or a group call are never overwritten. ARR potential is recomputed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", type=int, action="append", dest="account_ids")

    def handle(self, *args, account_ids: list[int] | None = None, **options) -> None:
        if account_ids:
            known = set(Account.objects.filter(pk__in=account_ids).values_list("pk", flat=True))
            unknown = sorted(set(account_ids) - known)
            if unknown:
                raise CommandError(f"No such account: {', '.join(map(str, unknown))}")
        try:
            provider = get_provider()
        except ImportError as exc:
            raise CommandError(f"PLS_ENRICHMENT_PROVIDER cannot be loaded: {exc}") from exc
        job = job_create(kind="enrich_accounts", params={"account_ids": account_ids or []})
        with (
            tqdm(unit="accounts", desc="Enriching", file=self.stderr._out) as bar,
            job_running(job_id=job.pk, bar=bar) as progress,
        ):
            changed = accounts_enrich(account_ids=account_ids or None, progress=progress)
            progress.message = f"{changed} accounts enriched ({type(provider).__name__})"
            progress.result = {"changed": changed}
        self.stdout.write(progress.message)
