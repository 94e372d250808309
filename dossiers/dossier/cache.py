"""The dossier's cached parts: the account sections (overview, usage, onboarding, the
usage trend and score charts, the score breakdown) rendered, the people lists rendered,
and the play message's context (the account's numbers; each view fills in the rep and
the play's template). Each is kept for ``TTL`` at most; the dossiers of the queue's
active items are built ahead and kept warm (``dossiers.dossier.warm``).

They are a function of the account's own data. That changes when the account row is
written (by anyone: an admin's edit, enrichment, a merge, the rollup's ARR potential, a
domain added or removed, which touches the row), when the rollup re-rolls its days
(``Account.usage_changed_at``: new events, a re-classification, a rebuild), when scoring
writes its score (``AccountScore.changed_at`` and ``scored_at``), and when an admin
edits what every account is measured by (the data generation, ``pls_portal.cache``).
The people also depend on the account's contacts (their count and newest id) and on
the item whose stored buyers they list; the play context on the top buyer. The keys
hold every one of them, and the day (the windows slide at midnight), so a change shows
on the next request. What they cannot see, a new anonymous visitor from the company's
network or a user's department changing without new usage, shows within ``TTL`` (an
hour; the warm-up rebuilds what it built once it is ``REFRESH`` old).

The rest of the page (the item and what the user may do with it, the touch log, the
timeline, the play's name and template) is read on every request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from accounts.models import Account
from pls_portal.cache import generation, generation_watch

TTL = 3600  # seconds
REFRESH = 50 * 60  # seconds: the warm-up rebuilds parts it built this long ago


def key_of(prefix: str, parts: tuple) -> str:
    """``prefix:`` and a digest of ``parts`` (values with a stable ``repr``)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
    return f"{prefix}:{digest}"


def account_stamp(account: Account, *, today: date) -> tuple:
    """What the account sections are a function of: every concrete field of the account
    row, its score's change stamps (``dossier_scope`` reads them with the account), the
    day and the data generation."""
    memo = getattr(account, "_dossier_stamp", None)
    if memo is not None and memo[0] == today:  # once per request: each key uses it
        return memo[1]
    row = tuple(getattr(account, f.attname) for f in Account._meta.concrete_fields)
    score = (getattr(account, "score_changed_at", None), getattr(account, "score_scored_at", None))
    stamp = (row, score, today, generation())
    account._dossier_stamp = (today, stamp)
    return stamp


def sections_key(account: Account, *, today: date) -> str:
    return key_of(f"dossier:sections:{account.pk}", account_stamp(account, today=today))


def cached(
    key: str, build: Callable[[], dict], *, rebuild: bool = False, hits: dict | None = None
) -> dict:
    """The cached value of ``key``, else (or with ``rebuild``) ``build()`` stored under it.
    ``hits``: what one ``cache.get_many`` of the page's keys found (a key it lacks is a
    miss, not asked again)."""
    if rebuild:
        value = None
    elif hits is not None:
        value = hits.get(key)
    else:
        value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, TTL)
    return value


def _account_touched(sender, instance, **_signal) -> None:
    """A domain added to or taken from an account changes its sections: touch the row."""
    Account.objects.filter(pk=instance.account_id).update(updated_at=timezone.now())


def cache_watch() -> None:
    """At start-up: which writes make cached sections stale (see the module's doc)."""
    from accounts.models import AccountDomain, IPRange, Plan, PlanLimit, TrackingPlanEntry
    from playbooks.models import Play
    from scoring.models import Rule, RuleSet

    generation_watch(TrackingPlanEntry, Plan, PlanLimit, IPRange, RuleSet, Rule, Play)
    for signal in (post_save, post_delete):
        signal.connect(_account_touched, sender=AccountDomain, dispatch_uid="dossier-domains")


def people_key(scope, *, today: date) -> str:
    """The people's key: the account's stamp, its contacts' (count and newest, read with
    the account) and the item whose stored buyers they list."""
    account, item = scope.account, scope.item
    parts = (
        account_stamp(account, today=today),
        (getattr(account, "contacts_count", None), getattr(account, "contacts_newest", None)),
        None if item is None else (item.pk, item.is_active, item.buyers),
    )
    return key_of(f"dossier:people:{account.pk}", parts)
