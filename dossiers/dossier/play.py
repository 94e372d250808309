"""The recommended play and its first message, filled with the account's numbers and the
reading rep's name."""

from __future__ import annotations

import logging
from datetime import date

from django.utils import timezone

from accounts.models import Account
from dossiers.dossier.cache import account_stamp, cached, key_of
from playbooks.messages import buyer_context, message_context
from playbooks.models import PlayMatch
from playbooks.services import play_message_fill
from pls_portal.models import User

logger = logging.getLogger(__name__)


def play_context_key(account: Account, buyers: list | None, today: date) -> str:
    """The play message context's key: the account's stamp and its top buyer."""
    stamp = (account_stamp(account, today=today), buyer_context(buyers))
    return key_of(f"dossier:play:{account.pk}", stamp)


def play_context_part(
    account: Account,
    buyers: list | None,
    today: date,
    *,
    rebuild: bool = False,
    hits: dict | None = None,
) -> dict | None:
    """The play message's context of any rep (None: the account is gone), from the cache
    while the account's numbers and its top buyer stay the same."""
    return cached(
        play_context_key(account, buyers, today),
        lambda: message_context(account_id=account.pk, rep=None),
        rebuild=rebuild,
        hits=hits,
    )


def play_get(
    *,
    account: Account,
    user: User,
    buyers: list | None = None,
    today: date | None = None,
    hits: dict | None = None,
    match: PlayMatch | None,
) -> dict | None:
    """The recommended play and its filled first message; a failure shows as a notice,
    never breaks the dossier. The message's context (the account's numbers, its top
    buyer: ``buyers`` are the active item's) is cached while they stay the same
    (dossiers.dossier.cache) and shared by every rep; the rep's name and the play's
    template are filled in on each view. ``match``: the account's stored best play
    (``play_match_for``, which the page reads before its cached parts)."""
    try:
        if match is None:
            return None
        context = play_context_part(account, buyers, today or timezone.now().date(), hits=hits)
        if context is None:  # the account is gone
            return None
        filled = play_message_fill(match=match, context=context, rep=user)
        return {
            "failed": False,
            "name": filled.play.name,
            "situation": filled.play.situation,
            "approach": filled.play.approach,
            "matched": filled.matched,
            "text": filled.text,
            "error": filled.error,
        }
    except Exception:  # the dossier must open even when playbooks fails
        logger.exception("play message for account %s failed", account.pk)
        return {"failed": True}
