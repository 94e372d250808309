"""The dossier's cached parts, built and read the same way by the page and by the warm-up
(``dossiers.dossier.warm``): the account sections rendered, the people lists rendered
and the play message's context (``dossiers.dossier.play``). Keys and lifetimes:
``dossiers.dossier.cache``."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Account
from dossiers import charts
from dossiers.dossier.cache import cached, people_key, sections_key
from dossiers.dossier.page import account_sections_get, dossier_rest_get
from dossiers.dossier.people import people_get
from dossiers.dossier.play import play_context_key
from dossiers.dossier.scope import DossierScope
from playbooks.services import play_match_for
from pls_portal.models import User

SECTIONS_TEMPLATE = "dossiers/_account_sections.html"
BUYERS_TEMPLATE = "dossiers/_people_buyers.html"
USERS_TEMPLATE = "dossiers/_people_users.html"


def sections_build(account: Account, today: date) -> dict:
    """The account sections rendered, with what the rest of the page shows of them: the
    name, domains and headline score, the milestones (timeline) and the seats (people)."""
    data = account_sections_get(account=account, today=today)
    trend, score, overview = data["trend"], data["score"], data["overview"]
    context = {
        **data,
        "usage_chart": charts.usage_figure(
            days=trend["days"],
            active_users=trend["active_users"],
            events=trend["events"],
            trend=trend["trend"],
        ),
        "score_chart": (
            charts.score_figure(
                history=score["history"],
                ae_threshold=score["ae_threshold"],
                sdr_threshold=score["sdr_threshold"],
                now=timezone.now(),
            )
            if score and score["history"]
            else ""
        ),
        "currency": settings.PLS_CURRENCY,
    }
    return {
        "html": render_to_string(SECTIONS_TEMPLATE, context),
        "overview": {key: overview[key] for key in ("id", "name", "domains", "merged_into")},
        "score": (
            {key: score[key] for key in ("score", "route", "route_label")} if score else None
        ),
        "milestones": data["milestones"],
        "seats": data["usage"]["seats"],
    }


def sections_part(
    account: Account, today: date, *, rebuild: bool = False, hits: dict | None = None
) -> dict:
    """The account sections, from the cache while the account's data stays the same."""
    return cached(
        sections_key(account, today=today),
        lambda: sections_build(account, today),
        rebuild=rebuild,
        hits=hits,
    )


def people_build(scope: DossierScope, users_total: int | None) -> dict:
    """The likely buyers and the other users rendered."""
    people = people_get(scope=scope, users_total=users_total)
    return {
        "buyers_html": render_to_string(BUYERS_TEMPLATE, {"people": people}),
        "users_html": render_to_string(USERS_TEMPLATE, {"people": people}),
        "buyers": bool(people["buyers"]),
    }


def people_part(
    scope: DossierScope,
    today: date,
    *,
    users_total: int | None = None,
    rebuild: bool = False,
    hits: dict | None = None,
) -> dict:
    """The people lists, from the cache while the account, its contacts and its item's
    buyers stay the same."""
    return cached(
        people_key(scope, today=today),
        lambda: people_build(scope, users_total),
        rebuild=rebuild,
        hits=hits,
    )


def page_keys(scope: DossierScope, today: date, *, with_play: bool) -> list[str]:
    """The keys of every cached part of the scope's dossier, to read in one round trip:
    the play message's context only for an account with a play (``with_play``)."""
    keys = [sections_key(scope.account, today=today), people_key(scope, today=today)]
    if with_play:
        active = next((i for i in scope.items if i.is_active), None)
        keys.append(play_context_key(scope.account, active.buyers if active else None, today))
    return keys


def page_get(*, scope: DossierScope, user: User, today: date) -> dict:
    """The whole dossier of ``scope`` for ``user``: the cached parts read in one round trip
    (built where missing), the rest read now (``dossier_rest_get``)."""
    match = play_match_for(account_id=scope.account.pk)
    hits = cache.get_many(page_keys(scope, today, with_play=match is not None))
    sections = sections_part(scope.account, today, hits=hits)
    return {
        **dossier_rest_get(
            scope=scope, user=user, milestones=sections["milestones"], hits=hits, match=match
        ),
        "sections": sections,
        "people": people_part(scope, today, users_total=sections["seats"], hits=hits),
    }
