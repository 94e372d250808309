"""Write keys for the Segment-compatible ingestion API. Only a SHA-256 is stored."""

import hashlib
import secrets
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import IngestionKey
from pls_portal.models import User

KEY_PREFIX = "pls_"


@dataclass(frozen=True)
class NewKey:
    key: IngestionKey
    plaintext: str  # shown once, never stored


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def ingestion_key_create(*, name: str, created_by: User | None = None) -> NewKey:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(30)
    key = IngestionKey.objects.create(
        name=name.strip()[:100] or "unnamed",
        prefix=plaintext[:12],
        key_hash=_digest(plaintext),
        created_by=created_by,
    )
    return NewKey(key=key, plaintext=plaintext)


def ingestion_key_revoke(*, key_id: int) -> None:
    IngestionKey.objects.filter(pk=key_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def ingestion_key_check(*, plaintext: str) -> IngestionKey | None:
    """The live key matching ``plaintext``, or None (unknown or revoked)."""
    if not plaintext:
        return None
    return IngestionKey.objects.filter(key_hash=_digest(plaintext), revoked_at__isnull=True).first()
