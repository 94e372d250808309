"""The data generation: one number every cached page fragment is keyed on, bumped when
an admin changes what every account is measured by.

A fragment built from an account's own rows is keyed on their change stamps (see
``dossiers/dossier/cache.py``). What is shared by every account (the tracking plan,
plans and their limits, rule sets, IP ranges, plays) bumps this generation instead:
on every save or delete of those models (``generation_watch``, connected at start-up)
and after the bulk writes that send no signal (``generation_bump`` called by them).
Bumping makes every cached fragment stale at once; they rebuild on their next read. The
generation starts at the clock's nanoseconds, so one that was lost (a cache flush, an
eviction) never comes back to a number fragments were stored under before.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

GENERATION_KEY = "pls:data-generation"

# How long a process keeps a ``shared`` value at most: with a cache of its own (no
# CACHE_URL) a process never sees the generation that another one bumped.
SHARED_SECONDS = 60
_memo: dict[str, tuple[int, float, object]] = {}


def generation() -> int:
    """The current generation: set on first use, so every later read is a cache hit."""
    value = cache.get(GENERATION_KEY)
    if value is None:
        cache.add(GENERATION_KEY, time.time_ns(), timeout=None)
        value = cache.get(GENERATION_KEY, 0)
    return value


def generation_bump(**_signal) -> None:
    """A new generation once the current transaction commits (at once outside one)."""
    transaction.on_commit(_bump)


def _bump() -> None:
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # evicted: start past any number used before
        cache.add(GENERATION_KEY, time.time_ns(), timeout=None)


def generation_watch(*models) -> None:
    """Bump the generation on every save and delete of these models."""
    for model in models:
        uid = f"pls-generation-{model._meta.label_lower}"
        post_save.connect(generation_bump, sender=model, dispatch_uid=f"{uid}-save")
        post_delete.connect(generation_bump, sender=model, dispatch_uid=f"{uid}-delete")


def shared[T](name: str, build: Callable[[], T]) -> T:
    """A small value many pages read and only an admin's edit of a watched model changes
    (the active plays, the active rule set's settings): kept in this process for the
    current generation, and ``SHARED_SECONDS`` at most, so a page reads one cache key
    instead of querying for it."""
    current, now = generation(), time.monotonic()
    memo = _memo.get(name)
    if memo is not None and memo[0] == current and now - memo[1] < SHARED_SECONDS:
        return memo[2]
    value = build()
    _memo[name] = (current, now, value)
    return value
