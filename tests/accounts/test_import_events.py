"""manage.py import_events: JSONL, gzip, CSV, dedupe on rerun, rejected lines kept."""

import gzip
import json

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, AccountDay, Event, RejectedEvent
from pls_portal.models import Job

pytestmark = pytest.mark.django_db


def _lines(n, start=0):
    return [
        json.dumps(
            {
                "type": "track",
                "event": "Project Created",
                "userId": f"u{i % 5}",
                "messageId": f"file-{i}",
                "timestamp": "2026-11-01T12:00:00Z",
            }
        )
        for i in range(start, start + n)
    ]


def test_jsonl_import_stores_events_and_prints_a_summary(tmp_path, capsys):
    identify = json.dumps(
        {"type": "identify", "userId": "u0", "traits": {"email": "ann@globex.com"}}
    )
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([identify, *_lines(10)]) + "\n")
    call_command("import_events", str(path))
    out = capsys.readouterr().out
    assert f"{path}: 11 read, 11 stored, 0 duplicates, 0 rejected" in out
    assert Event.objects.count() == 11
    account = Account.objects.get()
    assert account.domain == "globex.com"
    # The import ends with the rollup: usage is there with no worker running.
    # Two days: the identify (no timestamp: received today) and the tracks of Nov 1st.
    assert "Usage rolled up: 2 account-days of 1 accounts." in out
    # Only u0 (2 of the 10 tracks) is known to be at Globex; u1-u4 are account-less.
    assert AccountDay.objects.get(account=account, day="2026-11-01").events == 2
    assert account.usage_changed_at is not None
    job = Job.objects.get()
    assert (job.kind, job.state, job.result["stored"]) == ("import_events", "done", 11)


def test_rerunning_the_same_file_stores_nothing_new(tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(_lines(25)))
    call_command("import_events", str(path))
    call_command("import_events", str(path))
    out = capsys.readouterr().out
    assert "25 read, 0 stored, 25 duplicates, 0 rejected" in out
    assert Event.objects.count() == 25


def test_gzip_jsonl_is_read(tmp_path):
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(_lines(7)).encode()))
    call_command("import_events", str(path))
    assert Event.objects.count() == 7


def test_malformed_lines_are_reported_with_line_numbers_and_never_stop_the_rest(tmp_path, capsys):
    lines = _lines(3)
    lines.insert(1, "{broken json")
    lines.insert(3, json.dumps({"type": "track", "event": "No user"}))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines))
    call_command("import_events", str(path))
    out = capsys.readouterr().out
    assert "5 read, 3 stored, 0 duplicates, 2 rejected" in out
    assert "rejected lines: 2, 4 (kept for review" in out
    kept = {r.line_number: (r.field, r.reason, r.source) for r in RejectedEvent.objects.all()}
    assert kept[2][0:2] == (
        "line",
        "line is not valid JSON: Expecting property name enclosed in double quotes",
    )
    assert kept[4] == ("userId", "userId or anonymousId is required", "file")


def test_rerunning_a_file_keeps_its_rejected_lines_once(tmp_path, capsys):
    lines = _lines(3)
    lines.insert(1, "{broken json")
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines))
    call_command("import_events", str(path))
    call_command("import_events", str(path))
    assert "4 read, 0 stored, 3 duplicates, 1 rejected" in capsys.readouterr().out
    assert RejectedEvent.objects.count() == 1


def test_csv_layout_is_imported(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "type,event,user_id,email,message_id,timestamp,properties,path\n"
        "identify,,u1,bob@initech.com,c-1,2026-11-02T09:00:00Z,,\n"
        'track,Report Exported,u1,,c-2,2026-11-02T09:05:00Z,"{""format"": ""csv""}",\n'
        "page,,u1,,c-3,2026-11-02T09:06:00Z,,/pricing\n"
        "track,Broken,u1,,c-4,2026-11-02T09:07:00Z,not-json,\n"
    )
    call_command("import_events", str(path))
    events = {e.message_id: e for e in Event.objects.all()}
    assert set(events) == {"c-1", "c-2", "c-3"}
    assert events["c-2"].properties == {"format": "csv"}
    assert (events["c-3"].name, events["c-3"].category) == ("/pricing", "buyer_intent")
    assert events["c-2"].account.domain == "initech.com"
    rejected = RejectedEvent.objects.get()
    assert (rejected.line_number, rejected.reason) == (5, "properties is not a JSON object")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match=r"No such file: .*nope\.jsonl"):
        call_command("import_events", str(tmp_path / "nope.jsonl"))
