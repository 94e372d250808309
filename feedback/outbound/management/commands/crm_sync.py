"""Send the CRM sync now, with a progress bar: the changed accounts, or all with --full."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from feedback.outbound.models import CRM_SYNC_KIND
from feedback.outbound.services.crm_sync import CrmSyncBusy, crm_sync_job
from pls_portal.services import job_create


class Command(BaseCommand):
    help = (
        "Build the account-level usage snapshot of the accounts changed since the last CRM "
        "sync (every account with --full), queue it as signed webhook batches to the "
        "endpoints subscribed to crm_sync and keep it as a CSV on the CRM sync page."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--full", action="store_true", help="Every account.")

    def handle(self, *args, **options) -> None:
        full = options["full"]
        job = job_create(
            kind=CRM_SYNC_KIND, params={"full": full}, message="Started from the command line"
        )
        with tqdm(total=None, unit="account", desc="CRM sync", file=self.stderr._out) as bar:
            try:
                sync = crm_sync_job(job_id=job.pk, full=full, bar=bar)
            except CrmSyncBusy as exc:
                raise CommandError(f"CRM sync job #{job.pk}: {exc}.") from None
        self.stdout.write(self.style.SUCCESS(f"CRM sync #{sync.pk}: {sync.message}."))
