"""Webhook signatures: HMAC-SHA256 over ``f"{timestamp}.{body}"`` with the endpoint's
secret, sent as ``X-PLS-Signature: t=<timestamp>,v1=<hex>`` (docs/outbound.md has the
receiver's side). The timestamp inside the signed string stops replays of an old body."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
# Receivers should refuse a signature older (or newer) than this.
TOLERANCE_SECONDS = 300

HEADER_EVENT_ID = "X-PLS-Event-Id"
HEADER_EVENT_TYPE = "X-PLS-Event-Type"
HEADER_TIMESTAMP = "X-PLS-Timestamp"
HEADER_SIGNATURE = "X-PLS-Signature"
HEADER_ATTEMPT = "X-PLS-Delivery-Attempt"


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=body)}"


def signature_verify(
    *, secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: parse ``t=…,v1=…``, check the age, compare in constant time."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, parts.get("v1", ""))
