"""The recommended play and its filled first message."""

from __future__ import annotations

import logging
from datetime import date

from django.utils import timezone

from accounts.models import Account
from dossiers.dossier.cache import account_stamp, cached, key_of
from playbooks.messages import buyer_context, rep_context
from playbooks.services import play_match_for, play_message_for
from pls_portal.models import User

logger = logging.getLogger(__name__)


def play_get(
    *, account: Account, user: User, buyers: list | None = None, today: date | None = None
) -> dict | None:
    """The recommended play and its filled first message; a failure shows as a notice,
    never breaks the dossier. The filled message is cached while the match, the
    account's data, its buyer (``buyers``: the active item's) and the rep stay the
    same (dossiers.dossier.cache)."""
    try:
        match = play_match_for(account_id=account.pk)
        if match is None:
            return None
        stamp = (
            account_stamp(account, today=today or timezone.now().date()),
            (match.play_id, match.matched, match.matched_at, match.play.updated_at),
            rep_context(user),
            buyer_context(buyers),
        )

        def build() -> dict | None:
            filled = play_message_for(account_id=account.pk, rep=user, match=match)
            if filled is None:  # the account is gone
                return None
            return {
                "failed": False,
                "name": filled.play.name,
                "situation": filled.play.situation,
                "approach": filled.play.approach,
                "matched": list(filled.matched),
                "text": filled.text,
                "error": filled.error,
            }

        return cached(key_of(f"dossier:play:{account.pk}", stamp), build)
    except Exception:  # the dossier must open even when playbooks fails
        logger.exception("play message for account %s failed", account.pk)
        return {"failed": True}
