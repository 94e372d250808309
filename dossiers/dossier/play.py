"""The recommended play and its filled first message."""

from __future__ import annotations

import logging

from accounts.models import Account
from playbooks.services import play_message_for
from pls_portal.models import User

logger = logging.getLogger(__name__)


def play_get(*, account: Account, user: User) -> dict | None:
    """The recommended play and its filled first message; a failure shows as a notice,
    never breaks the dossier."""
    try:
        filled = play_message_for(account_id=account.pk, rep=user)
    except Exception:  # the dossier must open even when playbooks fails
        logger.exception("play message for account %s failed", account.pk)
        return {"failed": True}
    if filled is None:
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
