"""Demo population owned by pls_portal: one staff user per role and rep type.

Each capability adds its own part of the demo through ``seed_demo``; all parts are
deterministic and idempotent (a second run changes nothing it does not have to).
"""

from dataclasses import dataclass

from django.db import transaction

from .models import RepType, Role, User


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    first_name: str
    last_name: str
    role: str
    rep_type: str = ""

    @property
    def label(self) -> str:
        return RepType(self.rep_type).label if self.rep_type else Role(self.role).label


# Demo-only credentials, printed by `make demo`; never created outside seed_demo.
DEMO_LOGINS = (
    DemoLogin("admin", "pls-demo-admin", "Ada", "Admin", Role.ADMIN),
    DemoLogin("pm", "pls-demo-pm", "Priya", "Product", Role.PM),
    DemoLogin("ae", "pls-demo-ae", "Alex", "Account", Role.REP, RepType.AE),
    DemoLogin("sdr", "pls-demo-sdr", "Sam", "Development", Role.REP, RepType.SDR),
)


def demo_login_lines() -> list[str]:
    """The demo logins as printed by ``seed_demo`` and ``run_demo``."""
    return [
        f"  {login.label:<6} {login.username:<8} password: {login.password}"
        for login in DEMO_LOGINS
    ]


def demo_users_seed() -> list[User]:
    """Create or reset the demo logins (same usernames, same passwords)."""
    users = []
    with transaction.atomic():
        for login in DEMO_LOGINS:
            user, _ = User.objects.update_or_create(
                username=login.username,
                defaults={
                    "first_name": login.first_name,
                    "last_name": login.last_name,
                    "email": f"{login.username}@demo.pls-portal.test",
                    "role": login.role,
                    "rep_type": login.rep_type,
                    "is_active": True,
                },
            )
            if not user.check_password(login.password):
                user.set_password(login.password)
                user.save(update_fields=["password"])
            users.append(user)
    return users
