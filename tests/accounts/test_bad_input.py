"""Hostile and broken input, one regression test per crash the fuzzing found (issue 16):
nothing answers 5xx or stops a drain or an import, every rejection names the field and
the limit, and what is refused is kept for review. Runs on SQLite and PostgreSQL."""

import base64
import gzip
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.models import (
    Account,
    Deal,
    Event,
    ImportRow,
    IncomingRequest,
    RejectedEvent,
    RejectedRequest,
)
from accounts.services.crm_imports import contacts_import_file, deals_import_file
from accounts.services.imports import events_import_file
from accounts.services.incoming import incoming_drain
from tests.factories import AccountFactory
from tests.ingest_auth import basic

pytestmark = pytest.mark.django_db


def post(client, body, *, key, call="batch", drain=True):
    """POST a body (bytes as they are, anything else as JSON) like an SDK, then drain."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(
        f"/ingest/v1/{call}",
        data=data,
        content_type="application/json",
        headers={"Authorization": basic(key)},
    )
    if drain:
        incoming_drain()
    return response


def track(n, **extra):
    return {
        "type": "track",
        "event": "Report Exported",
        "userId": f"u{n}",
        "messageId": f"m-{n}",
        "timestamp": "2026-11-20T10:00:00Z",
        **extra,
    }


def stored_ids():
    return sorted(Event.objects.values_list("message_id", flat=True))


def rejected():
    """(field, reason) of every rejected event, sorted."""
    return sorted(RejectedEvent.objects.values_list("field", "reason"))


# --- the HTTP API: request level --------------------------------------------------------


@pytest.mark.parametrize("depth", [100, 100_000])
def test_a_deeply_nested_body_is_400_naming_the_body_and_the_limit(client, write_key, depth):
    body = b'{"batch": [' + b"[" * depth + b"]" * depth + b"]}"
    response = post(client, body, key=write_key)
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert response.json()["message"] == "body nests objects and arrays deeper than 64 levels"
    kept = RejectedRequest.objects.get()
    assert (kept.field, kept.reason) == ("body", response.json()["message"])
    assert not IncomingRequest.objects.exists()


def test_a_body_nested_within_the_limit_is_accepted(client, write_key):
    deep = "x"
    for _ in range(60):
        deep = {"d": deep}
    response = post(client, {"batch": [track(1, properties={"deep": deep})]}, key=write_key)
    assert response.status_code == 200
    assert stored_ids() == ["m-1"]


def test_an_integer_past_python_s_digit_limit_is_400_not_500(client, write_key):
    body = b'{"batch": [], "n": ' + b"9" * 5000 + b"}"
    response = post(client, body, key=write_key)
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert response.json()["message"].startswith("body is not valid JSON")


def test_raw_surrogate_bytes_in_the_body_are_400_naming_the_body(client, write_key):
    # UTF-8 for U+D800, which no valid UTF-8 text contains (json.loads would let it in).
    body = b'{"batch": [{"type": "track", "event": "\xed\xa0\x80", "userId": "u1"}]}'
    response = post(client, body, key=write_key)
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert "not valid UTF-8" in response.json()["message"]
    assert RejectedRequest.objects.get().field == "body"


def test_a_lone_surrogate_write_key_in_the_body_is_401_naming_the_write_key(client, db):
    body = json.dumps({"writeKey": "\ud800", "batch": [track(1)]}).encode()
    assert b"\\ud800" in body
    response = client.post("/ingest/v1/batch", data=body, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["field"] == "writeKey"
    assert "lone surrogate" in response.json()["message"]
    assert RejectedRequest.objects.get().status == 401


def test_a_write_key_that_is_not_utf8_in_basic_auth_is_401(client, db):
    header = "Basic " + base64.b64encode("\ud800:".encode("utf-8", "surrogatepass")).decode()
    response = client.post(
        "/ingest/v1/batch",
        data=json.dumps({"batch": [track(1)]}),
        content_type="application/json",
        headers={"Authorization": header},
    )
    assert response.status_code == 401
    assert response.json()["field"] == "writeKey"


def test_a_lone_surrogate_in_a_single_event_call_is_accepted_then_rejected_by_field(
    client, write_key
):
    event = {"event": "Report Exported", "userId": "u1", "properties": {"plan": "x\udc00y"}}
    response = post(client, event, key=write_key, call="track")
    assert response.status_code == 200
    assert rejected() == [
        ("properties.plan", "properties.plan contains a lone surrogate (\\udc00): not Unicode text")
    ]
    assert "\\udc00" in RejectedEvent.objects.get().payload


# --- the HTTP API: event level ------------------------------------------------------------


def test_lone_surrogates_reject_their_event_naming_the_field_and_keep_the_rest(client, write_key):
    batch = [
        track(1),
        track(2, properties={"note": "a\ud800b"}),
        track(3, userId="u\udfff"),
        track(4, properties={"\ud83d": 1}),
        track(5),
    ]
    response = post(client, {"batch": batch}, key=write_key)
    assert response.status_code == 200
    assert stored_ids() == ["m-1", "m-5"]
    assert rejected() == [
        (
            "properties.\\ud83d",
            "properties.\\ud83d contains a lone surrogate (\\ud83d): not Unicode text",
        ),
        (
            "properties.note",
            "properties.note contains a lone surrogate (\\ud800): not Unicode text",
        ),
        ("userId", "userId contains a lone surrogate (\\udfff): not Unicode text"),
    ]
    for kept in RejectedEvent.objects.all():
        assert json.loads(kept.payload)["messageId"] in {"m-2", "m-3", "m-4"}


def test_nul_characters_reject_their_event_naming_the_field_on_every_database(client, write_key):
    batch = [track(1), track(2, userId="u\u0000x"), track(3, properties={"a": ["ok", "b\x00"]})]
    response = post(client, {"batch": batch}, key=write_key)
    assert response.status_code == 200
    assert stored_ids() == ["m-1"]
    assert rejected() == [
        (
            "properties.a[1]",
            "properties.a[1] contains a NUL character (\\u0000): not storable text",
        ),
        ("userId", "userId contains a NUL character (\\u0000): not storable text"),
    ]
    assert all("\\u0000" in kept.payload for kept in RejectedEvent.objects.all())


@pytest.mark.parametrize(
    ("sent_at", "timestamp", "field"),
    [
        ("9999-12-31T23:59:59Z", "2026-11-20T10:00:00Z", "sentAt"),
        ("0001-01-01T00:00:00Z", "2026-11-20T10:00:00Z", "sentAt"),
        (None, "9999-12-31T23:59:59Z", "timestamp"),
        (None, "0001-01-01T00:00:00Z", "timestamp"),
        ("2026-11-20T10:00:00Z", "0001-01-01T00:00:00+14:00", "timestamp"),
        ("2026-11-20T10:00:00Z", "9999-12-31T00:00:00Z", "timestamp"),
    ],
)
def test_dates_out_of_range_reject_the_event_naming_the_field_and_keep_the_batch(
    client, write_key, sent_at, timestamp, field
):
    bad = track(2, timestamp=timestamp)
    if sent_at:
        bad["sentAt"] = sent_at
    response = post(client, {"batch": [track(1), bad, track(3)]}, key=write_key)
    assert response.status_code == 200
    assert stored_ids() == ["m-1", "m-3"]
    assert rejected() == [
        (
            field,
            f"{field} must be between 1970-01-01 and 2100-01-01 (UTC, after clock-skew correction)",
        )
    ]


def test_a_batch_level_sent_at_out_of_range_rejects_only_the_events_it_corrects(client, write_key):
    untimed = {"type": "track", "event": "Report Exported", "userId": "u9", "messageId": "m-9"}
    body = {"batch": [track(1), untimed], "sentAt": "9999-01-01T00:00:00Z"}
    assert post(client, body, key=write_key).status_code == 200
    assert stored_ids() == ["m-9"]
    assert [field for field, _reason in rejected()] == ["sentAt"]


def test_original_timestamp_far_off_is_ignored_as_segment_does(client, write_key):
    post(client, {"batch": [track(1, originalTimestamp="9999-12-31T23:59:59Z")]}, key=write_key)
    assert stored_ids() == ["m-1"]


def test_nan_and_infinity_reject_their_event_naming_the_field(client, write_key):
    # Python's json reads NaN / Infinity (and numbers past 1.8e308 as infinity); neither
    # is JSON, SQLite's JSON check refuses them and PostgreSQL's jsonb too.
    body = (
        '{"batch": ['
        + json.dumps(track(1))
        + ', {"type": "track", "event": "E", "userId": "u2", "messageId": "m-2", '
        '"properties": {"score": NaN}}'
        + ', {"type": "track", "event": "E", "userId": "u3", "messageId": "m-3", '
        '"traits": {"x": [1, -Infinity]}}'
        + ', {"type": "track", "event": "E", "userId": "u4", "messageId": "m-4", '
        '"context": {"big": 1e999}}' + "]}"
    ).encode()
    assert post(client, body, key=write_key).status_code == 200
    assert stored_ids() == ["m-1"]
    limit = "must be a finite number (NaN and Infinity are not JSON)"
    assert rejected() == [
        ("context.big", f"context.big {limit}"),
        ("properties.score", f"properties.score {limit}"),
        ("traits.x[1]", f"traits.x[1] {limit}"),
    ]
    # Not dropped as duplicates: each is kept once, with its raw payload.
    assert all(kept.payload for kept in RejectedEvent.objects.all())


def test_previous_id_over_200_characters_is_rejected_naming_the_field(client, write_key):
    alias = {"type": "alias", "userId": "u1", "previousId": "p" * 201, "messageId": "m-a"}
    post(client, {"batch": [alias, track(1)]}, key=write_key)
    assert stored_ids() == ["m-1"]
    assert rejected() == [("previousId", "previousId is longer than 200 characters")]


def test_a_page_path_that_is_no_url_is_rejected_naming_the_field(client, write_key):
    page = {"type": "page", "userId": "u1", "messageId": "m-p", "properties": {"path": "//[x"}}
    post(client, {"batch": [page, track(1)]}, key=write_key)
    assert stored_ids() == ["m-1"]
    assert rejected() == [("properties.path", "properties.path is not a URL or a path")]


def _buyer(n):
    return {
        "type": "identify",
        "userId": f"u{n}",
        "messageId": f"id-{n}",
        "traits": {"email": f"ann{n}@acme-{n}.com"},
        "timestamp": "2026-11-20T09:00:00Z",
    }


def _checkout(n, **properties):
    return track(n, event="Checkout Completed", properties=properties)


def test_revenue_past_the_deal_column_is_rejected_naming_field_and_limit(client, write_key):
    batch = [
        _buyer(1),
        _checkout(1, revenue=1_000_000_000_000),
        _buyer(2),
        _checkout(2, revenue="NaN"),
        _buyer(3),
        _checkout(3, revenue=10**40),
        _buyer(4),
        _checkout(4, revenue=99, plan="team", seats=10**20),
        _buyer(5),
        _checkout(5, revenue=5000),
    ]
    assert post(client, {"batch": batch}, key=write_key).status_code == 200
    limit = "ARR of at most 999999999999.99 (the deal amount column)"
    assert rejected() == [
        ("properties.revenue", f"properties.revenue must give a finite {limit}"),
        ("properties.revenue", f"properties.revenue must give a finite {limit}"),
        ("properties.revenue", f"properties.revenue must give a finite {limit}"),
    ]
    assert stored_ids() == ["id-1", "id-2", "id-3", "id-4", "id-5", "m-4", "m-5"]
    assert sorted(Deal.objects.values_list("arr", flat=True)) == [1188, 60000]


def test_seats_past_the_deal_column_are_rejected_naming_field_and_limit(client, write_key):
    batch = [_buyer(1), _checkout(1, plan="team", seats=10**20), _buyer(2), _checkout(2)]
    post(client, {"batch": batch}, key=write_key)
    assert rejected() == [
        (
            "properties.seats",
            "properties.seats must give a finite ARR of at most 999999999999.99 "
            "(the deal amount column)",
        )
    ]
    assert Deal.objects.count() == 1


def test_a_usage_value_too_large_to_count_is_rejected_naming_the_field(client, write_key):
    batch = [
        track(1, event="API Call Made", properties={"count": 10**400}),
        track(2, event="API Call Made", properties={"count": "1e300"}),
        track(3, event="API Call Made", properties={"count": 12}),
    ]
    post(client, {"batch": batch}, key=write_key)
    assert stored_ids() == ["m-3"]
    assert rejected() == [
        ("properties.count", "properties.count must be a number between -1e15 and 1e15"),
        ("properties.count", "properties.count must be a number between -1e15 and 1e15"),
    ]


# --- event files --------------------------------------------------------------------------


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_nested_and_unreadable_jsonl_lines_are_rejected_and_the_rest_imported(tmp_path):
    lines = [
        json.dumps(track(1)),
        "[" * 50_000 + "]" * 50_000,
        json.dumps(track(3, properties={"deep": "here"})).replace('"here"', "[" * 70 + "]" * 70),
        '{"n": ' + "9" * 5000 + "}",
        json.dumps(track(5, properties={"s": "\ud800"})),
        '{"type": "track", "event": "E", "userId": "u\x00", "messageId": "m-6"',
        json.dumps(track(7)),
    ]
    path = _write(tmp_path, "events.jsonl", "\n".join(lines) + "\n")
    result = events_import_file(path=path)
    assert (result.received, result.stored, result.rejected) == (7, 2, 5)
    assert stored_ids() == ["m-1", "m-7"]
    by_line = dict(RejectedEvent.objects.values_list("line_number", "reason"))
    assert by_line[2] == "line nests objects and arrays deeper than 64 levels"
    assert by_line[3] == "line nests objects and arrays deeper than 64 levels"
    assert by_line[4].startswith("line is not valid JSON")
    assert by_line[5] == "properties.s contains a lone surrogate (\\ud800): not Unicode text"
    assert by_line[6].startswith("line is not valid JSON")
    # The raw NUL is kept visible, as its JSON escape (PostgreSQL text cannot hold it).
    assert "\\u0000" in RejectedEvent.objects.get(line_number=6).payload
    # A rerun keeps them once.
    events_import_file(path=path)
    assert RejectedEvent.objects.count() == 5


def test_a_csv_cell_over_the_field_size_limit_is_rejected_naming_the_limit(tmp_path):
    text = (
        "type,event,user_id,message_id,timestamp,properties\n"
        "track,Report Exported,u1,m-1,2026-11-20T10:00:00Z,\n"
        f'track,Report Exported,u2,m-2,2026-11-20T10:00:00Z,"{"x" * 140_000}"\n'
        "track,Report Exported,u3,m-3,2026-11-20T10:00:00Z,\n"
    )
    path = _write(tmp_path, "events.csv", text)
    result = events_import_file(path=path)
    assert (result.received, result.stored, result.rejected) == (3, 2, 1)
    assert stored_ids() == ["m-1", "m-3"]
    kept = RejectedEvent.objects.get()
    assert (kept.field, kept.line_number) == ("line", 3)
    assert kept.reason == "line has a cell over 131072 characters (the CSV cell limit)"


def test_bad_csv_json_columns_and_nul_cells_are_rejected_naming_the_column(tmp_path):
    deep = "[" * 70 + "]" * 70
    text = (
        "type,event,user_id,message_id,timestamp,properties\n"
        f'track,E,u1,m-1,2026-11-20T10:00:00Z,"{{""a"": {deep}}}"\n'
        f"track,E,u2,m-2,2026-11-20T10:00:00Z,{'9' * 5000}\n"
        "track,E,u\x003,m-3,2026-11-20T10:00:00Z,\n"
        "track,E,u4,m-4,2026-11-20T10:00:00Z,\n"
    )
    path = _write(tmp_path, "events.csv", text)
    result = events_import_file(path=path)
    assert (result.stored, result.rejected) == (1, 3)
    assert rejected() == [
        ("properties", "properties is not a JSON object"),
        ("properties", "properties nests objects and arrays deeper than 64 levels"),
        ("userId", "userId contains a NUL character (\\u0000): not storable text"),
    ]


def test_import_events_command_reports_rejected_lines_instead_of_crashing(tmp_path, capsys):
    path = _write(tmp_path, "events.jsonl", "[" * 50_000 + "\n" + json.dumps(track(1)) + "\n")
    call_command("import_events", str(path))
    assert f"{path}: 2 read, 1 stored, 0 duplicates, 1 rejected" in capsys.readouterr().out


# --- CRM files ------------------------------------------------------------------------------


@pytest.fixture
def acme():
    return AccountFactory(name="Acme", domain="acme.com")


DEAL_HEADER = "external_id,name,account,website,arr,stage,opened,closed\n"


def test_deal_amounts_past_the_column_are_kept_for_review_naming_the_limit(tmp_path, acme):
    text = DEAL_HEADER + (
        "D-1,Big,Acme,acme.com,1000000000000,won,2026-01-05,2026-02-10\n"
        "D-2,Nan,Acme,acme.com,NaN,won,2026-01-05,2026-02-10\n"
        "D-3,Huge,Acme,acme.com,1e40,won,2026-01-05,2026-02-10\n"
        "D-4,Fine,Acme,acme.com,999999999999.99,won,2026-01-05,2026-02-10\n"
    )
    result = deals_import_file(path=_write(tmp_path, "deals.csv", text))
    assert (result.created, result.unmatched_lines) == (1, [2, 3, 4])
    assert dict(ImportRow.objects.values_list("line_number", "reason")) == {
        2: "amount '1000000000000' is over the limit of 999999999999.99",
        3: "amount 'NaN' is not a number",
        4: "amount '1e40' is over the limit of 999999999999.99",
    }
    assert Deal.objects.get().arr == Decimal("999999999999.99")


def test_deal_dates_out_of_range_are_kept_for_review_naming_the_column(tmp_path, acme):
    text = DEAL_HEADER + (
        "D-1,Old,Acme,acme.com,10,won,0001-01-01,0001-01-02\n"
        "D-2,Future,Acme,acme.com,10,won,2026-01-01,9999-12-31\n"
        "D-3,Fine,Acme,acme.com,10,won,2026-01-01,2026-01-02\n"
    )
    result = deals_import_file(path=_write(tmp_path, "deals.csv", text))
    assert (result.created, result.unmatched_lines) == (1, [2, 3])
    assert dict(ImportRow.objects.values_list("line_number", "reason")) == {
        2: "opened date '0001-01-01' must be between 1970-01-01 and 2100-01-01",
        3: "closed date '9999-12-31' must be between 1970-01-01 and 2100-01-01",
    }


def test_a_crm_external_id_over_200_characters_is_kept_for_review(tmp_path, acme):
    text = DEAL_HEADER + f"{'X' * 201},Long,Acme,acme.com,10,open,2026-01-05,\n"
    result = deals_import_file(path=_write(tmp_path, "deals.csv", text))
    assert (result.created, result.unmatched_lines) == (0, [2])
    assert ImportRow.objects.get().reason == "external_id is longer than 200 characters"
    assert not Deal.objects.exists()


def test_nul_characters_in_crm_rows_are_kept_for_review_on_every_database(tmp_path, acme):
    deals = DEAL_HEADER + "D-1,Bad\x00name,Acme,acme.com,10,open,2026-01-05,\n"
    contacts = (
        "name,email,notes,account\nAnn,ann@acme.com,hi\x00there,Acme\nBob,bob@acme.com,,Acme\n"
    )
    deals_result = deals_import_file(path=_write(tmp_path, "deals.csv", deals))
    contacts_result = contacts_import_file(path=_write(tmp_path, "contacts.csv", contacts))
    assert (deals_result.created, deals_result.unmatched_lines) == (0, [2])
    assert (contacts_result.created, contacts_result.unmatched_lines) == (1, [2])
    kept = {row.kind: row for row in ImportRow.objects.all()}
    assert kept["deals"].reason == "name contains a NUL character (\\u0000): not storable text"
    assert kept["contacts"].reason == "notes contains a NUL character (\\u0000): not storable text"
    # Kept readable, with the NUL as its escape.
    assert kept["contacts"].row["notes"] == "hi\\u0000there"


@pytest.mark.parametrize("kind", ["deals", "contacts"])
def test_a_crm_cell_over_the_field_size_limit_is_kept_for_review(tmp_path, acme, kind):
    if kind == "deals":
        text = DEAL_HEADER + (
            f'D-1,"{"n" * 140_000}",Acme,acme.com,10,open,2026-01-05,\n'
            "D-2,Fine,Acme,acme.com,10,open,2026-01-05,\n"
        )
        result = deals_import_file(path=_write(tmp_path, "deals.csv", text))
    else:
        text = f'name,email,account\n"{"n" * 140_000}",ann@acme.com,Acme\nBob,bob@acme.com,Acme\n'
        result = contacts_import_file(path=_write(tmp_path, "contacts.csv", text))
    assert (result.rows, result.created, result.unmatched_lines) == (2, 1, [2])
    kept = ImportRow.objects.get()
    assert kept.reason == "line has a cell over 131072 characters (the CSV cell limit)"
    assert Account.objects.count() == 1


def test_a_cell_past_what_the_csv_parser_reads_is_rejected_on_its_own_line(tmp_path, acme):
    huge = "h" * 2_200_000
    events = _write(
        tmp_path,
        "events.csv",
        f"type,event,user_id,message_id\ntrack,E,u1,m-1\n{huge}\ntrack,E,u3,m-3\n",
    )
    result = events_import_file(path=events)
    assert (result.stored, result.rejected_lines) == (2, [3])
    deals = _write(tmp_path, "deals.csv", f"account\nNowhere\n{huge}\nAcme\n")
    result = deals_import_file(path=deals)
    assert (result.rows, result.created) == (3, 1)
    assert dict(ImportRow.objects.values_list("line_number", "reason")) == {
        2: "no account with name Nowhere",
        3: "line has a cell over 131072 characters (the CSV cell limit)",
    }


def test_a_damaged_gzip_file_is_a_command_error_naming_it(tmp_path):
    lines = "\n".join(json.dumps(track(n)) for n in range(500)).encode()
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(lines)[:-40])
    with pytest.raises(CommandError, match=r"^events\.jsonl\.gz cannot be read after line \d+"):
        call_command("import_events", str(path))


@pytest.mark.parametrize("header", ["Basic é", "Basic \ud800", "Basic \x00"])
def test_a_basic_auth_header_that_is_not_ascii_is_401(client, db, header):
    response = client.post(
        "/ingest/v1/batch",
        data=json.dumps({"batch": []}),
        content_type="application/json",
        headers={"Authorization": header},
    )
    assert response.status_code == 401
    assert response.json()["field"] == "writeKey"
