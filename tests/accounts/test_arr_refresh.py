"""ARR potential follows its inputs: the rollup recomputes it for the accounts it rolled."""

import pytest
from django.utils import timezone

from accounts.ingest import parse_event
from accounts.models import Account
from accounts.services.ingestion import events_ingest
from accounts.tasks import rollup_touched

pytestmark = pytest.mark.django_db


def test_the_rollup_task_recomputes_arr_potential_from_active_users():
    now = timezone.now()
    events = [
        {"type": "identify", "userId": f"u{i}", "traits": {"email": f"p{i}@acme.com"}}
        for i in range(3)
    ] + [{"type": "track", "userId": f"u{i}", "event": "Project Created"} for i in range(3)]
    events_ingest(
        messages=[parse_event(e, received_at=now) for e in events], invalid=[], source="http"
    )
    account = Account.objects.get()
    assert account.arr_potential is None
    rollup_touched.run()
    account.refresh_from_db()
    assert account.arr_potential_inputs["active_users_30d"] == 3
    assert account.arr_potential_inputs["likely_seats"] == 3
    # Free plan → priced at the first paid plan (Team, 12.00 per seat per month).
    assert account.arr_potential == 3 * 12 * 12
