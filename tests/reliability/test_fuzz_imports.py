"""Fuzzing the file imports (issue 16, "Security"), on PostgreSQL: product events as
Segment JSONL (gzip too) and CSV, CRM deals and contacts as CSV.

Hypothesis writes files from nearly valid to hostile (lone surrogates, NUL characters,
NaN, 70 levels of nesting, integers of thousands of digits, cells past the CSV cell
limit, broken quoting, bytes that are not UTF-8) and imports each one twice. For every
file:

- the import ends without an exception, or, for a file that cannot be imported at all
  (no usable header, not UTF-8), with the import's own error naming the file;
- every line is stored, a duplicate, or kept for review with a reason that names the
  field (or line, or column) and the limit it broke; nothing else is counted;
- what was stored rolls up (the rollup ``import_events`` runs afterwards) without error;
- the second import of the same file stores nothing and keeps nothing new.

Each example runs in a savepoint rolled back afterwards. Deterministic (``derandomize``).
"""

import csv
import gzip
import io
import json
import re
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Deal, Event, ImportRow, RejectedEvent
from accounts.services.crm_imports import (
    CrmImportError,
    contacts_import_file,
    deals_import_file,
)
from accounts.services.imports import EventImportError, events_import_file
from accounts.services.rollups import rollup_run_now
from tests.factories import AccountFactory
from tests.reliability.test_fuzz_ingest import (
    ANY_CHAR,
    NASTY,
    PLAN_EVENTS,
    assert_names_field_and_rule,
    context,
    events,
    fuzz_settings,
    isolated,
    json_values,
    mostly,
    numbers,
    properties,
    text,
    traits,
    usual_dates,
)

pytestmark = pytest.mark.django_db

# Long values are drawn as these tokens and written out in full (``_expand``), so that a
# failing example prints short.
LONG = "<long>"  # 140,000 characters: past the CSV cell limit (131,072), read whole
HUGE = "<huge>"  # 2,200,000 characters: past what the CSV parser reads, its own error
EXPANSIONS = {LONG: "c" * 140_000, HUGE: "h" * 2_200_000}


def _expand(text_in: str) -> str:
    for token, value in EXPANSIONS.items():
        text_in = text_in.replace(token, value)
    return text_in


LINE_RULES = [
    r"line is not valid JSON: .+",
    r"line nests objects and arrays deeper than 64 levels",
    r"line has a cell over 131072 characters \(the CSV cell limit\)",
]
COLUMN_RULES = [
    r"(properties|traits|context) is not a JSON object",
    r"(properties|traits|context) nests objects and arrays deeper than 64 levels",
]


def assert_event_rejection(field: str, reason: str) -> None:
    if field == "line":
        assert any(re.fullmatch(rule, reason, re.DOTALL) for rule in LINE_RULES), reason
    elif any(re.fullmatch(rule, reason) for rule in COLUMN_RULES):
        assert reason.startswith(field), (field, reason)
    else:
        assert_names_field_and_rule(field, reason)


def _non_blank_lines(path) -> int:
    """Lines of the file as Python reads text (\\n, \\r, \\r\\n end a line), blank ones left
    out: what the import reads."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as raw:
        text_in = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        return sum(1 for line in text_in if line.strip())


def check_event_import(path, seen: Counter, *, lines: int | None) -> None:
    """One events file imported twice; the invariants of the module docstring."""
    first = events_import_file(path=path)
    if lines is not None:
        assert first.received == lines
    assert first.stored + first.duplicates + first.rejected == first.received
    assert Event.objects.count() == first.stored
    kept = list(RejectedEvent.objects.values_list("field", "reason", "line_number", "payload"))
    assert len(kept) == first.rejected
    assert sorted(line for _f, _r, line, _p in kept) == sorted(first.rejected_lines)
    for field, reason, _line, payload in kept:
        assert_event_rejection(field, reason)
        assert payload
        seen[f"rejected: {field.split('.')[0].split('[')[0]}"] += 1
    rollup_run_now()
    again = events_import_file(path=path)
    assert (again.received, again.stored) == (first.received, 0)
    assert RejectedEvent.objects.count() == first.rejected
    seen["events stored"] += first.stored
    seen["duplicates"] += first.duplicates
    seen["files"] += 1


# --- JSONL --------------------------------------------------------------------------------


def _nested_line(depth: int) -> str:
    return "[" * depth + "]" * depth


jsonl_lines = st.one_of(
    events.map(json.dumps),
    events.map(json.dumps),
    events.map(json.dumps),
    # Not escaped: lone surrogates become invalid UTF-8 bytes in the file.
    events.map(lambda event: json.dumps(event, ensure_ascii=False)),
    json_values.map(json.dumps),
    st.text(ANY_CHAR, max_size=40),
    st.sampled_from(NASTY),
    st.integers(min_value=60, max_value=70).map(_nested_line),
    st.integers(min_value=900, max_value=60_000).map(_nested_line),
    st.just('{"n": ' + "9" * 5000 + "}"),
    st.just('{"type": "track", "userId": "u1", "event": "' + LONG + '"}'),
    st.just('{"type": "track", "event": "E", "userId": "u\x00", "messageId": "m9"'),
)


@st.composite
def jsonl_files(draw):
    lines = draw(st.lists(jsonl_lines, min_size=1, max_size=6))
    ending = draw(st.sampled_from(["\n", "\n", "\r\n", "\r", "\n\n"]))
    return ending.join(lines), draw(st.sampled_from(["plain", "plain", "gzip", "cut gzip"]))


def test_fuzzed_jsonl_files_import_without_errors_and_every_rejection_names_field_and_limit(
    tmp_path, facts
):
    AccountFactory(name="Acme", domain="acme.com")
    seen: Counter = Counter()

    @fuzz_settings(examples=750)
    @given(jsonl_files())
    def run(file):
        content, packing = file
        data = _expand(content).encode("utf-8", "surrogatepass")
        if packing == "plain":
            path = tmp_path / "events.jsonl"
            path.write_bytes(data)
        else:
            path = tmp_path / "events.jsonl.gz"
            packed = gzip.compress(data)
            path.write_bytes(packed[: len(packed) // 2] if packing == "cut gzip" else packed)
        with isolated():
            if packing == "cut gzip":
                with pytest.raises(EventImportError, match=r"^events\.jsonl\.gz cannot be read"):
                    events_import_file(path=path)
                seen["damaged files refused"] += 1
            else:
                check_event_import(path, seen, lines=_non_blank_lines(path))
        seen["cases"] += 1

    run()
    facts("; ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    assert seen["events stored"] and seen["duplicates"] and seen["damaged files refused"], seen
    for field in ("line", "properties", "timestamp", "userId"):
        assert seen[f"rejected: {field}"], (field, seen)


# --- events CSV -----------------------------------------------------------------------------

CSV_HEADERS = [
    "type",
    "event",
    "user_id",
    "anonymousId",
    "group_id",
    "message_id",
    "timestamp",
    "email",
    "name",
    "path",
    "previous_id",
    "properties",
    "traits",
    "context",
    "Unknown",
]
cells = st.one_of(
    text,
    text,
    st.sampled_from(["track", "page", "identify", "group", "alias", "Checkout Completed"]),
    st.sampled_from(["2026-11-20T10:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31"]),
    json_values.map(json.dumps),
    st.sampled_from(['{"revenue": 1e40}', '{"count": NaN}', '{"a": "\\u0000"}', "[1]"]),
    st.integers(min_value=60, max_value=70).map(lambda d: '{"a": ' + _nested_line(d) + "}"),
    st.sampled_from(['a "quoted" cell', "line\nbreak", "comma, cell", "\x00", LONG]),
)
EVENT_COLUMNS = {
    "type": st.sampled_from(["track", "track", "page", "identify", "group", "alias"]),
    "event": st.sampled_from(PLAN_EVENTS),
    "user_id": st.sampled_from(["u1", "u2", "u3"]),
    "message_id": st.sampled_from(["m1", "m2", "m3", "m4", "m5", "m6"]),
    "timestamp": usual_dates,
    "email": st.sampled_from(["ann@acme.com", "bob@globex.co.uk", "jo@gmail.com"]),
    "path": st.sampled_from(["/pricing", "/checkout", "/"]),
    "properties": properties.map(json.dumps),
    "traits": traits.map(json.dumps),
    "context": context.map(json.dumps),
}


@st.composite
def csv_files(draw, headers: list[str], usual: dict, unusual, core: tuple[str, ...]):
    """A CSV (as text, long cells as tokens) with a header drawn from ``headers`` (mostly
    with the ``core`` columns first); each cell mostly the column's ``usual`` value, else
    ``unusual``; rows now and then short, long or unreadable; written by Python's csv
    writer (valid quoting) or joined by hand (anything goes)."""
    header = draw(st.lists(st.sampled_from(headers), min_size=1, max_size=8, unique=True))
    if draw(mostly(st.just(True), st.just(False))):
        header = [*core, *(column for column in header if column not in core)]
    rows = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        row = [draw(mostly(usual.get(column, unusual), unusual)) for column in header]
        if draw(st.sampled_from([False] * 5 + [True])):
            row = row[: draw(st.integers(0, len(row)))] + draw(st.lists(unusual, max_size=2))
        rows.append(row)
    if draw(st.sampled_from([False] * 5 + [True])):
        rows.insert(draw(st.integers(0, len(rows))), [HUGE])
    if draw(st.booleans()):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()
    return "\n".join(",".join(row) for row in [header, *rows]) + "\n"


def test_fuzzed_event_csv_files_import_without_errors_and_every_rejection_names_field_and_limit(
    tmp_path, facts
):
    seen: Counter = Counter()

    @fuzz_settings(examples=550)
    @given(csv_files(CSV_HEADERS, EVENT_COLUMNS, cells, core=("type", "event", "user_id")))
    def run(content):
        path = tmp_path / "events.csv"
        path.write_bytes(_expand(content).encode("utf-8", "surrogatepass"))
        with isolated():
            check_event_import(path, seen, lines=None)
        seen["cases"] += 1

    run()
    facts("; ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    assert seen["events stored"], seen
    for field in ("line", "properties", "userId", "type"):
        assert seen[f"rejected: {field}"], (field, seen)


# --- CRM deals and contacts -------------------------------------------------------------------

DEAL_HEADERS = [
    "external_id",
    "Opportunity ID",
    "name",
    "Deal Name",
    "account",
    "Account Name",
    "website",
    "arr",
    "Amount",
    "currency",
    "stage",
    "Deal Stage",
    "source",
    "type",
    "opened",
    "Close Date",
    "closed",
    "owner_email",
    "Notes",
]
CONTACT_HEADERS = [
    "name",
    "First Name",
    "Last Name",
    "email",
    "title",
    "Job Title",
    "department",
    "seniority",
    "account",
    "Company Name",
    "website",
    "notes",
]
CRM_REASONS = [
    r"no account with .+",
    r"no website, email domain or account name to match",
    r"website '.*' has no company domain",
    r"amount '.*' is not a number",
    r"amount '.*' is over the limit of 999999999999\.99",
    r"(opened|closed) date '.*' is not YYYY-MM-DD, M/D/YYYY or D\.M\.YYYY",
    r"(opened|closed) date '.*' must be between 1970-01-01 and 2100-01-01",
    r"currency '.*' is not a 3-letter code",
    r"external_id is longer than 200 characters",
    r".+ contains a NUL character \(\\u0000\): not storable text",
    r"line has a cell over 131072 characters \(the CSV cell limit\)",
    r"email '.*' is not an email address",
    r"no email or name",
]
FILE_ERRORS = [
    r"deals\.csv has none of the columns .+",
    r"contacts\.csv has none of the columns .+",
    r"(deals|contacts)\.csv is not UTF-8 text( after line \d+)?: save it as CSV UTF-8",
]
crm_cells = st.one_of(
    text,
    st.sampled_from(["Acme", "acme", "Globex", "Nowhere Ltd", "acme.com", "https://www.acme.com"]),
    st.sampled_from(["ann@acme.com", "bob@globex.co.uk", "x@gmail.com", "not-an-email"]),
    numbers.map(str),
    st.sampled_from(["$1,200.50", "USD 9000", "1e40", "NaN", "-Infinity", "999999999999.99"]),
    st.sampled_from(["Closed Won", "closed lost", "open", "EUR", "usd", "upsell", "inbound"]),
    st.sampled_from(["2026-01-05", "1/31/2026", "31.1.2026", "0001-01-01", "9999-12-31"]),
    st.sampled_from(["X" * 201, "\x00", "a\x00b", LONG, "line\nbreak"]),
)
accounts = st.sampled_from(["Acme", "acme", "Globex", "Nowhere Ltd"])
websites = st.sampled_from(["acme.com", "https://www.acme.com/x", "globex.co.uk", "nowhere.org"])
amounts = st.sampled_from(["1200", "$1,200.50", "EUR 900", "0", "-50", "999999999999.99"])
days = st.sampled_from(["2026-01-05", "1/31/2026", "31.1.2026", "2025-12-01"])
CRM_COLUMNS = {
    "external_id": st.sampled_from(["D-1", "D-2", "D-3"]),
    "Opportunity ID": st.sampled_from(["D-1", "D-4"]),
    "name": st.sampled_from(["Pilot", "Expansion", "Ann Lee"]),
    "Deal Name": st.sampled_from(["Pilot", "Renewal"]),
    "account": accounts,
    "Account Name": accounts,
    "Company Name": accounts,
    "website": websites,
    "arr": amounts,
    "Amount": amounts,
    "currency": st.sampled_from(["USD", "EUR", "usd"]),
    "stage": st.sampled_from(["Closed Won", "closed lost", "open"]),
    "Deal Stage": st.sampled_from(["closedwon", "open"]),
    "opened": days,
    "closed": days,
    "Close Date": days,
    "email": st.sampled_from(["ann@acme.com", "bob@globex.co.uk", "x@gmail.com"]),
    "First Name": st.sampled_from(["Ann", "Bob"]),
    "Last Name": st.sampled_from(["Lee", "Ng"]),
    "title": st.sampled_from(["CTO", "Head of Data"]),
}


def check_crm_import(importer, path, kind: str, seen: Counter) -> None:
    try:
        first = importer(path=path)
    except CrmImportError as error:
        assert any(re.fullmatch(rule, str(error)) for rule in FILE_ERRORS), str(error)
        seen["files refused"] += 1
        return
    assert first.rows == first.created + first.updated + first.unmatched
    kept = list(ImportRow.objects.filter(kind=kind).values_list("reason", "line_number"))
    assert len(kept) == first.unmatched
    assert sorted(line for _r, line in kept) == sorted(first.unmatched_lines)
    for reason, _line in kept:
        assert any(re.fullmatch(rule, reason, re.DOTALL) for rule in CRM_REASONS), reason
        seen[f"kept: {reason.split(' ')[0]}"] += 1
    for arr, opened, closed in Deal.objects.values_list("arr", "opened_at", "closed_at"):
        assert abs(arr) <= Decimal("999999999999.99")
        assert 1970 <= opened.year < 2100 and (closed is None or 1970 <= closed.year < 2100)
    again = importer(path=path)
    assert (again.rows, again.created) == (first.rows, 0)
    assert ImportRow.objects.filter(kind=kind).count() == first.unmatched
    seen["created"] += first.created
    seen["files"] += 1


def _crm_test(tmp_path, facts, *, headers, importer, kind, examples, core):
    AccountFactory(name="Acme", domain="acme.com")
    AccountFactory(name="Globex", domain="globex.co.uk")
    seen: Counter = Counter()

    @fuzz_settings(examples=examples)
    @given(csv_files(headers, CRM_COLUMNS, crm_cells, core=core))
    def run(content):
        path = tmp_path / f"{kind}.csv"
        path.write_bytes(_expand(content).encode("utf-8", "surrogatepass"))
        with isolated():
            check_crm_import(importer, path, kind, seen)
        seen["cases"] += 1

    run()
    facts("; ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    assert seen["created"] and seen["files refused"], seen
    return seen


def test_fuzzed_crm_deal_files_import_without_errors_and_every_kept_row_names_its_limit(
    tmp_path, facts
):
    seen = _crm_test(
        tmp_path,
        facts,
        headers=DEAL_HEADERS,
        importer=deals_import_file,
        kind=ImportRow.Kind.DEALS,
        examples=600,
        core=("account", "arr"),
    )
    for word in ("amount", "line", "no"):
        assert seen[f"kept: {word}"], (word, seen)


def test_fuzzed_crm_contact_files_import_without_errors_and_every_kept_row_names_its_limit(
    tmp_path, facts
):
    seen = _crm_test(
        tmp_path,
        facts,
        headers=CONTACT_HEADERS,
        importer=contacts_import_file,
        kind=ImportRow.Kind.CONTACTS,
        examples=450,
        core=("email", "account"),
    )
    assert seen["kept: email"] and seen["kept: no"], seen
