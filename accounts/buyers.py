"""Likely buyers of an account (the PQLs inside a PQA), each with why.

A likely buyer is someone who can buy (DESIGN.md glossary; seed 004 "find the missing
buyer"): a workspace admin, a senior title, someone who viewed pricing / terms / privacy /
security or started a checkout, or a known Contact (added by a rep, from the CRM or from
enrichment) — who may never have used the product.

Senior titles, matched as whole words in the title or the seniority trait (case
insensitive): C-level (chief, CEO, CTO, CFO, COO, CIO, CISO, CMO, CRO, CPO), founder,
co-founder, owner, president, partner, VP / vice president, SVP, EVP, head, director,
general manager.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.models import Contact, Event, ProductUser

SENIOR_WORDS = (
    "chief", "ceo", "cto", "cfo", "coo", "cio", "ciso", "cmo", "cro", "cpo", "c-level",
    "founder", "co-founder", "cofounder", "owner", "president", "partner", "vp", "svp",
    "evp", "vice president", "head", "director", "general manager",
)  # fmt: skip
_SENIOR_ANYWHERE = "(" + "|".join(re.escape(w) for w in SENIOR_WORDS) + ")"
_SENIOR = re.compile(r"\b(" + "|".join(re.escape(w) for w in SENIOR_WORDS) + r")\b", re.I)

INTENT_REASONS = {
    "pricing": "viewed pricing",
    "terms": "viewed the terms",
    "privacy": "viewed the privacy policy",
    "security": "viewed security",
    "sso": "tried to set up SSO",
    "audit_log": "looked at the audit log",
    "admin_change": "changed admins",
}
INTENT_WINDOW_DAYS = 90
_REASON_ORDER = {
    reason: rank
    for rank, reason in enumerate(
        [*INTENT_REASONS.values(), "started a checkout", "completed a checkout"]
    )
}


def _reason_rank(reason: str) -> tuple[int, str]:
    # Other intent keys ("buyer intent: …") after the known ones, before checkouts.
    return (_REASON_ORDER.get(reason, len(INTENT_REASONS)), reason)


@dataclass
class LikelyBuyer:
    name: str
    email: str
    title: str
    product_user_id: int | None = None
    contact_id: int | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def used_the_product(self) -> bool:
        return self.product_user_id is not None

    def as_dict(self) -> dict:
        # By hand: dataclasses.asdict deep-copies recursively, ten times slower, and a
        # scoring run turns tens of thousands of buyers into dicts.
        return {
            "name": self.name,
            "email": self.email,
            "title": self.title,
            "product_user_id": self.product_user_id,
            "contact_id": self.contact_id,
            "reasons": list(self.reasons),
        }


def is_senior(text: str) -> bool:
    return bool(text and _SENIOR.search(text))


def likely_buyers(*, account_id: int, days: int = INTENT_WINDOW_DAYS) -> list[LikelyBuyer]:
    """Everyone at the account who can buy, most reasons first; three queries whatever
    the account's size."""
    return likely_buyers_many(account_ids=[account_id], days=days).get(account_id, [])


def likely_buyers_many(
    *, account_ids: Iterable[int], days: int = INTENT_WINDOW_DAYS
) -> dict[int, list[LikelyBuyer]]:
    """Likely buyers of many accounts at once (scoring's queue items): three queries
    whatever the number of accounts; accounts without one are left out."""
    ids = list(account_ids)
    if not ids:
        return {}
    since = timezone.now() - timedelta(days=days)
    intent: dict[int, list[str]] = {}
    signals = Event.objects.filter(
        account_id__in=ids,
        user__isnull=False,
        timestamp__gte=since,
        category__in=("buyer_intent", "checkout_started", "checkout_completed"),
    ).order_by()
    rows = signals.values_list("user_id", "category", "key").distinct()
    for user_id, category, key in rows:
        reason = (
            INTENT_REASONS.get(key, f"buyer intent: {key or 'page'}")
            if category == "buyer_intent"
            else "started a checkout"
            if category == "checkout_started"
            else "completed a checkout"
        )
        if reason not in intent.setdefault(user_id, []):
            intent[user_id].append(reason)
    for reasons in intent.values():
        # The rows come in no particular order: a fixed order (intent as listed above,
        # then checkouts) keeps a rescore from rewriting an item whose buyers did not change.
        reasons.sort(key=_reason_rank)

    buyers: dict[tuple[str, int], tuple[int, LikelyBuyer]] = {}
    # Only users who may have a reason are read: admins, intent, or a title or seniority
    # containing a senior word (a superset of the whole-word match made below).
    candidates = (
        Q(is_admin=True)
        # The same events as a subquery: no list of thousands of ids to send and plan.
        | Q(pk__in=signals.values("user_id"))
        | Q(title__iregex=_SENIOR_ANYWHERE)
        | Q(seniority__iregex=_SENIOR_ANYWHERE)
    )
    users = ProductUser.objects.filter(Q(account_id__in=ids) & candidates).values_list(
        "pk", "account_id", "is_admin", "title", "seniority", "name", "email"
    )
    for pk, account_id, is_admin, title, seniority, name, email in users:
        reasons = []
        if is_admin:
            reasons.append("workspace admin")
        if is_senior(title):
            reasons.append(f"senior title: {title}")
        elif is_senior(seniority):
            reasons.append(f"seniority: {seniority}")
        reasons += intent.get(pk, [])
        if reasons:
            buyers[("user", pk)] = (
                account_id,
                LikelyBuyer(
                    name=name, email=email, title=title, product_user_id=pk, reasons=reasons
                ),
            )
    for contact in Contact.objects.filter(account_id__in=ids):
        known = f"known contact ({contact.get_source_display().lower()})"
        listed = buyers.get(("user", contact.product_user_id)) if contact.product_user_id else None
        if listed is not None:
            listed[1].contact_id = contact.pk
            listed[1].reasons.append(known)
            continue
        reasons = [known]
        if is_senior(contact.title):
            reasons.append(f"senior title: {contact.title}")
        buyers[("contact", contact.pk)] = (
            contact.account_id,
            LikelyBuyer(
                name=contact.name,
                email=contact.email,
                title=contact.title,
                product_user_id=contact.product_user_id,
                contact_id=contact.pk,
                reasons=reasons,
            ),
        )
    by_account: dict[int, list[LikelyBuyer]] = {}
    for account_id, buyer in buyers.values():
        by_account.setdefault(account_id, []).append(buyer)
    for found in by_account.values():
        found.sort(key=lambda b: (-len(b.reasons), b.name.lower()))
    return by_account
