"""Which RouteChange rows are told to receivers, and as what."""

import pytest

from feedback.outbound.models import EventType
from feedback.outbound.payloads import event_type_of


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("", "ae", "", "open"), EventType.PQL_CREATED),
        (("", "inbound", "", "open"), EventType.ROUTE_CHANGED),
        # First routing outside the queue: one per account on the first run, not news.
        (("", "self_serve", "", ""), None),
        (("", "held", "", ""), None),
        (("self_serve", "nurture", "", ""), EventType.ROUTE_CHANGED),
        (("ae", "ae", "open", "claimed"), None),
        (("ae", "held", "touched", "backed_off"), EventType.BACKED_OFF),
        (("ae", "held", "open", "marketing"), EventType.HANDED_TO_MARKETING),
        (("ae", "held", "touched", "won"), EventType.CLOSED),
    ],
)
def test_event_type_of_a_route_change(change, expected):
    from_route, to_route, from_state, to_state = change
    assert (
        event_type_of(
            from_route=from_route, to_route=to_route, from_state=from_state, to_state=to_state
        )
        == expected
    )
