"""Playbooks' part of the demo: the default plays come with the migration; a full match
stores each scored demo account's best play, so the queue and dossiers show them."""

from playbooks.services import PlayMatchResult, play_matches_refresh


def demo_plays_seed() -> PlayMatchResult:
    """Match every scored account (idempotent: a second run writes nothing)."""
    return play_matches_refresh(full=True)
