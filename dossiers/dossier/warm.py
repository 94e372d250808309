"""The dossiers of the queue's active items, built ahead: a rep opening one from the queue
finds its cached parts (``dossiers.dossier.parts``) ready instead of waiting for them.

Every few minutes (beat, ``dossiers.tasks.dossiers_warm_run``) each active item's
account is looked at: its parts' keys are computed as a page view computes them (the
account row, its score's and contacts' stamps, the active item, the day and the data
generation, ``dossiers.dossier.cache``); when they changed since this warm-up last built
the account's parts, or it built them ``REFRESH`` ago or more, every part is built
again, so what the keys cannot see shows within ``TTL`` and a rep never finds an expired
part. What it built is remembered per
account (the keys and when), so a run that finds nothing changed only reads: a few
queries and one cache round trip per chunk of ``CHUNK`` items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from dossiers.dossier.cache import REFRESH, TTL
from dossiers.dossier.parts import page_keys, people_part, sections_part
from dossiers.dossier.play import play_context_part
from dossiers.dossier.scope import DossierScope, accounts_read
from playbooks.models import PlayMatch
from scoring.models import QueueItem

CHUNK = 200


@dataclass(frozen=True)
class WarmResult:
    accounts: int = 0  # active items' accounts looked at
    built: int = 0  # accounts whose parts were built (missing, or REFRESH old)
    fresh: int = 0  # accounts whose parts were all there and young enough

    @property
    def summary(self) -> str:
        return f"{self.accounts} dossiers: {self.built} built, {self.fresh} already warm"


def _mark_key(account_id: int) -> str:
    return f"dossier:warmed:{account_id}"


def dossiers_warm(
    *, now: datetime | None = None, progress: Callable[[int, int], None] | None = None
) -> WarmResult:
    """Build the missing or ageing cached parts of every active queue item's dossier, most
    urgent item first."""
    now = now or timezone.now()
    today = now.date()
    order = list(
        QueueItem.objects.filter(state__in=QueueItem.ACTIVE_STATES)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)
    )
    built = fresh = 0
    for start in range(0, len(order), CHUNK):
        found = QueueItem.objects.in_bulk(order[start : start + CHUNK])
        # Still active (a rep may have closed one meanwhile), in the order read.
        chunk = [found[pk] for pk in order[start : start + CHUNK] if pk in found]
        chunk = [item for item in chunk if item.is_active]
        ids = [item.account_id for item in chunk]
        accounts = accounts_read(ids)
        with_play = set(
            PlayMatch.objects.filter(account_id__in=ids, play__is_active=True).values_list(
                "account_id", flat=True
            )
        )
        marks = cache.get_many([_mark_key(account_id) for account_id in ids])
        for item in chunk:
            account = accounts.get(item.account_id)
            if account is None:
                continue
            scope = DossierScope(
                account=account, items=[item], item=item, read_only=True, can_act=False
            )
            keys = page_keys(scope, today, with_play=account.pk in with_play)
            mark = marks.get(_mark_key(account.pk))
            if mark is not None and mark[0] == keys and (now - mark[1]).total_seconds() < REFRESH:
                fresh += 1
                continue
            # New keys (the account changed), or built REFRESH ago: build every part
            # again, so each lives its whole TTL from now, as the mark says.
            sections = sections_part(account, today, rebuild=True)
            people_part(scope, today, users_total=sections["seats"], rebuild=True)
            if account.pk in with_play:
                play_context_part(account, item.buyers, today, rebuild=True)
            cache.set(_mark_key(account.pk), (keys, now), TTL)
            built += 1
        if progress:
            progress(min(start + CHUNK, len(order)), len(order))
    return WarmResult(accounts=built + fresh, built=built, fresh=fresh)
