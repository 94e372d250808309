"""A tracking-plan change reaches past events: re-read, days rolled up again."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.ingest import parse_event
from accounts.models import AccountFeatureDay, Event, TouchedDay, TrackingPlanEntry
from accounts.services.ingestion import events_ingest
from accounts.services.reclassify import events_reclassify
from accounts.services.rollups import rollup_run
from pls_portal.models import Job
from tests.callbacks import work_sent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _ingest_whiteboard_events():
    now = timezone.now()
    events = [
        {"type": "identify", "userId": "u1", "traits": {"email": "ann@acme.com"}},
        {
            "type": "track",
            "userId": "u1",
            "event": "Whiteboard Drawn",
            "timestamp": "2026-11-10T10:00:00Z",
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Whiteboard Drawn",
            "timestamp": "2026-11-11T10:00:00Z",
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Project Created",
            "timestamp": "2026-11-11T11:00:00Z",
        },
    ]
    for n, event in enumerate(events):
        event["messageId"] = f"wb-{n}"
    events_ingest(
        messages=[parse_event(e, received_at=now) for e in events], invalid=[], source="file"
    )
    rollup_run()


def test_a_new_tracking_plan_entry_reaches_past_events_and_their_days():
    _ingest_whiteboard_events()
    assert set(
        Event.objects.filter(name="Whiteboard Drawn").values_list("category", flat=True)
    ) == {""}
    TrackingPlanEntry.objects.create(
        match_type="event",
        name="Whiteboard Drawn",
        category="feature",
        key="whiteboard",
        flag="core",
    )
    assert events_reclassify() == 2
    assert set(Event.objects.filter(name="Whiteboard Drawn").values_list("key", flat=True)) == {
        "whiteboard"
    }
    assert {d.isoformat() for d in TouchedDay.objects.values_list("day", flat=True)} == {
        "2026-11-10",
        "2026-11-11",
    }
    rollup_run()
    days = dict(
        AccountFeatureDay.objects.filter(feature_key="whiteboard").values_list("day", "events")
    )
    assert {d.isoformat(): n for d, n in days.items()} == {"2026-11-10": 1, "2026-11-11": 1}


def test_a_second_re_read_changes_nothing():
    _ingest_whiteboard_events()
    assert events_reclassify() == 0
    assert not TouchedDay.objects.exists()


def test_editing_the_tracking_plan_in_the_admin_starts_a_re_read_job(
    client, django_capture_on_commit_callbacks
):
    client.force_login(UserFactory(admin=True))
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/admin/accounts/trackingplanentry/add/",
            {
                "match_type": "event",
                "name": "Whiteboard Drawn",
                "category": "feature",
                "key": "whiteboard",
                "flag": "core",
            },
            follow=True,
        )
    job = Job.objects.get(kind="reclassify_events")
    assert job.state == "queued"
    assert len(work_sent(callbacks)) == 1
    assert "Past events are being re-read with the new tracking plan" in response.content.decode()


def test_reclassify_command_re_reads_and_rolls_up(capsys):
    _ingest_whiteboard_events()
    TrackingPlanEntry.objects.filter(name="Project Created").update(key="projects-v2")
    call_command("reclassify_events")
    out = capsys.readouterr().out
    assert "1 events now read differently; usage rolled up for 1 account-days of 1 accounts." in out
    assert AccountFeatureDay.objects.filter(feature_key="projects-v2").exists()
    assert not AccountFeatureDay.objects.filter(feature_key="projects").exists()
