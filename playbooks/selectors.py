"""Reads of plays and stored play matches, for the queue, the dossier and the plays pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import Account
from playbooks.conditions import ConditionCheck, conditions_check
from playbooks.facts import account_facts, facts_context
from playbooks.messages import message_context
from playbooks.models import Play, PlayMatch, PlayMatchState
from playbooks.rendering import play_message_render
from scoring.signals import Scope

SEARCH_LIMIT = 10
SAMPLE_ACCOUNTS = 6


def best_plays(*, account_ids: list[int]) -> dict[int, PlayMatch]:
    """The stored best play of each account that has one (one query, play joined: its
    key and name; the rest of the play is read only if asked for)."""
    if not account_ids:
        return {}
    return {
        match.account_id: match
        for match in PlayMatch.objects.filter(
            account_id__in=list(account_ids), play__is_active=True
        )
        .select_related("play")
        .only("account_id", "play_id", "matched", "matched_at", "play__key", "play__name")
    }


def plays_with_counts() -> QuerySet[Play]:
    """Every play with how many accounts it is the best play of (one aggregate query)."""
    return Play.objects.annotate(accounts=Count("matches")).order_by("-is_active", "-priority")


def play_detail(*, play_id: int) -> Play:
    return (
        Play.objects.select_related("updated_by")
        .annotate(accounts=Count("matches"))
        .get(pk=play_id)
    )


def match_state() -> PlayMatchState | None:
    return PlayMatchState.objects.filter(pk=1).first()


@dataclass(frozen=True)
class AccountChoice:
    id: int
    name: str
    domain: str
    play: str


def accounts_search(*, q: str, limit: int = SEARCH_LIMIT) -> list[AccountChoice]:
    """Accounts by name or domain, with the play they match now (one query)."""
    q = q.strip()
    if not q:
        return []
    rows = (
        Account.objects.filter(merged_into__isnull=True)
        .filter(Q(name__icontains=q) | Q(domain__icontains=q))
        .order_by("name", "id")
        .values_list("id", "name", "domain", "play_match__play__name")[:limit]
    )
    return [AccountChoice(pk, name, domain, play or "") for pk, name, domain, play in rows]


def play_sample_accounts(*, play_id: int, limit: int = SAMPLE_ACCOUNTS) -> list[AccountChoice]:
    """A few accounts this play is the best play of, to preview against (one query)."""
    rows = (
        PlayMatch.objects.filter(play_id=play_id)
        .order_by("-matched_at", "account_id")
        .values_list("account_id", "account__name", "account__domain", "play__name")[:limit]
    )
    return [AccountChoice(*row) for row in rows]


@dataclass(frozen=True)
class Preview:
    account: dict
    checks: list[ConditionCheck]
    matches: bool
    scored: bool
    text: str
    error: str
    stored_play: str


def play_preview(*, conditions: list[dict], template: str, account_id: int, rep) -> Preview | None:
    """A play (saved or being edited) against one account: which conditions hold, with
    the account's values, and the first message filled in — or the template's error.
    None when the account does not exist."""
    context = message_context(account_id=account_id, rep=rep)
    if context is None:
        return None
    facts_ctx = facts_context()
    facts = account_facts(
        scope=Scope((account_id,)),
        today=timezone.now().date(),
        conditions=[conditions],
        context=facts_ctx,
    ).get(account_id)
    checks = conditions_check(conditions, facts or {}, plan_names=facts_ctx.plan_names)
    text, error = play_message_render(template=template, context=context)
    stored = (
        PlayMatch.objects.filter(account_id=account_id).values_list("play__name", flat=True).first()
    )
    return Preview(
        account=context["account"],
        checks=checks,
        matches=bool(checks) and all(c.holds for c in checks),
        scored=facts is not None,
        text=text,
        error=error,
        stored_play=stored or "",
    )
