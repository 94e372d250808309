"""Reading the tracking plan: what an event name or page path means for scoring.

Ingestion and the rollup load the plan once per batch with ``tracking_plan_map`` and look
each event up with ``meaning_for``, so classifying many events costs one query.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from accounts.models import Event, TrackingPlanEntry

_PAGE_TYPES = frozenset({Event.Type.PAGE, Event.Type.SCREEN})


@dataclass(frozen=True)
class PlanMeaning:
    category: str
    key: str
    flag: str
    property_name: str


type PlanMap = dict[tuple[str, str], PlanMeaning]


def normalize_path(path: str) -> str:
    """``/Pricing/?plan=team#faq`` → ``/pricing``; a full URL keeps only its path."""
    path = urlsplit(path.strip()).path.lower().rstrip("/")
    if not path.startswith("/"):
        path = "/" + path
    return path


def tracking_plan_map() -> PlanMap:
    """Every tracking-plan entry keyed by (match_type, name), page paths normalised."""
    plan_map: PlanMap = {}
    rows = TrackingPlanEntry.objects.order_by("pk").values_list(
        "match_type", "name", "category", "key", "flag", "property_name"
    )
    for match_type, name, category, key, flag, property_name in rows:
        if match_type == TrackingPlanEntry.MatchType.PAGE:
            name = normalize_path(name)
        plan_map[(match_type, name)] = PlanMeaning(
            category=category, key=key, flag=flag, property_name=property_name
        )
    return plan_map


def meaning_for(plan_map: PlanMap, *, event_type: str, name: str) -> PlanMeaning | None:
    """The meaning of one event, or None when the plan does not know it.

    Track events match by exact name. Page and screen events match by normalised path,
    the longest entry first, so ``/pricing/enterprise`` falls back to ``/pricing``; ``/``
    matches only the home page.
    """
    if event_type == Event.Type.TRACK:
        return plan_map.get((TrackingPlanEntry.MatchType.EVENT, name))
    if event_type not in _PAGE_TYPES:
        return None
    path = normalize_path(name)
    meaning = plan_map.get((TrackingPlanEntry.MatchType.PAGE, path))
    while meaning is None and path.count("/") > 1:
        path = path.rsplit("/", 1)[0]
        meaning = plan_map.get((TrackingPlanEntry.MatchType.PAGE, path))
    return meaning
