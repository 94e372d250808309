"""Fill the database with the demo population. Safe to run again: nothing doubles."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from accounts.demo import demo_events_seed
from accounts.demo_crm import demo_crm_seed
from accounts.services.rollups import ROLLUP_LOCK, ROLLUP_LOCK_TTL, usage_refresh
from feedback.demo import demo_feedback_seed
from feedback.outbound.demo import demo_outbound_seed
from playbooks.demo import demo_plays_seed
from pls_portal.demo import demo_login_lines, demo_users_seed
from pls_portal.services import task_lock
from scoring.demo import demo_scoring_seed


class _BarProgress:
    """The ``set_total`` / ``advance`` calls of a job's progress, drawn on a terminal bar."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar

    def set_total(self, total: int) -> None:
        self.bar.total = total
        self.bar.refresh()

    def advance(self, n: int = 1, message: str | None = None) -> None:
        if message is not None:
            self.bar.set_description(message, refresh=False)
        self.bar.update(n)


class Command(BaseCommand):
    help = "Create the demo logins and demo data (deterministic, idempotent)."

    def handle(self, *args, **options) -> None:
        users = demo_users_seed()
        self.stdout.write(self.style.SUCCESS(f"Demo logins ready: {len(users)} users."))
        for line in demo_login_lines():
            self.stdout.write(line)

        with tqdm(total=None, unit="event", desc="Demo events", file=self.stderr._out) as bar:
            result = demo_events_seed(progress=_BarProgress(bar))
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo product data: {result.accounts} accounts, {result.users} users, "
                f"{result.stored} events stored ({result.duplicates} already there)."
            )
        )
        self._rollup()
        crm = demo_crm_seed()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo CRM and enrichment: {crm.firmographics} firmographics rows, "
                f"{crm.deals} CRM deals, {crm.contacts} contacts, {crm.ip_ranges} IP ranges "
                f"loaded; {crm.enriched} accounts enriched."
            )
        )
        scoring = demo_scoring_seed()
        in_states = ", ".join(f"{n} {state}" for state, n in scoring.states.items() if n)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo scoring: {scoring.scoring.summary}; queue items: {in_states}."
            )
        )
        plays = demo_plays_seed()
        self.stdout.write(self.style.SUCCESS(f"Demo plays: {plays.summary}."))
        feedback = demo_feedback_seed()
        self.stdout.write(self.style.SUCCESS(f"Demo feedback: {feedback.summary}."))
        outbound = demo_outbound_seed()
        synced = (
            f"a first CRM sync of {outbound.crm_sync_accounts} accounts"
            if outbound.crm_sync_accounts is not None
            else "CRM sync already run"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo outbound: {outbound.endpoints_created} example endpoints (inactive), "
                f"{synced}."
            )
        )

    def _rollup(self) -> None:
        """Roll the demo days up now, so the first page shows usage without waiting."""
        with task_lock(name=ROLLUP_LOCK, ttl=ROLLUP_LOCK_TTL) as acquired:
            if not acquired:
                self.stdout.write("A rollup is running; it picks up the demo days.")
                return
            with tqdm(unit="day", desc="Rollup", file=self.stderr._out) as bar:
                rollup, _ = usage_refresh(progress=_BarProgress(bar))
        self.stdout.write(self.style.SUCCESS(f"Rollup: {rollup.summary}."))
