"""Fill the database with the demo population. Safe to run again: nothing doubles."""

from django.core.management.base import BaseCommand

from pls_portal.demo import DEMO_LOGINS, demo_users_seed


class Command(BaseCommand):
    help = "Create the demo logins and demo data (deterministic, idempotent)."

    def handle(self, *args, **options) -> None:
        users = demo_users_seed()
        self.stdout.write(self.style.SUCCESS(f"Demo logins ready: {len(users)} users."))
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.label:<6} {login.username:<8} password: {login.password}")
