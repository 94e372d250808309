"""The main navigation. Visibility is read from each view's ``allowed_roles``."""

from dataclasses import dataclass
from functools import cache

from django.urls import resolve, reverse

from .permissions import allowed_roles


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str


NAV_ITEMS = (
    NavItem("PQL queue", "dossiers:queue"),
    NavItem("Reports", "feedback:report"),
    NavItem("Metrics", "feedback:metrics"),
    NavItem("Rules", "scoring:rules"),
    NavItem("Plays", "playbooks:plays"),
    NavItem("CRM & webhooks", "feedback:outbound_crm_sync"),
    NavItem("Tracking plan", "accounts:tracking_plan"),
    NavItem("Ingestion", "accounts:ingestion"),
    NavItem("Jobs", "jobs"),
)


@cache
def _nav_table() -> tuple[tuple[NavItem, str, frozenset[str]], ...]:
    table = []
    for item in NAV_ITEMS:
        url = reverse(item.url_name)
        table.append((item, url, allowed_roles(resolve(url).func) or frozenset()))
    return tuple(table)


def nav_for(user) -> list[dict]:
    role = getattr(user, "role", None)
    if not user.is_authenticated or role is None:
        return []
    return [
        {"label": item.label, "url": url, "url_name": item.url_name}
        for item, url, roles in _nav_table()
        if role in roles
    ]
