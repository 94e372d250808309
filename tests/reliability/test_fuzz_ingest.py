"""Fuzzing the Segment HTTP ingestion API (issue 16, "Security"), on PostgreSQL.

Hypothesis generates Segment requests, from nearly valid to hostile (lone surrogates, NUL
characters, NaN, integers of hundreds of digits, years 1 and 9999, 70 levels of nesting,
broken gzip, random bytes), posts them to ``/ingest/v1/<call>`` and drains them as the
worker would. For every request:

- the API answers 200, 400 or 401: never a 5xx (a 503 here would be a value the database
  refused, disguised as an outage);
- a refused request is counted with a reason that names its field and the limit;
- an accepted one drains without an exception and without the drain's last resort ("could
  not be processed"): every event is stored, a duplicate of an earlier event of the
  request, or rejected with a reason that names its field and the rule it broke.

Each example runs in a savepoint rolled back afterwards, so examples do not see each
other's rows. Deterministic (``derandomize``); with test_fuzz_imports.py and
test_fuzz_enrichment.py, 6,750 cases in 2.5 to 4 minutes on 2 CPUs.
"""

import base64
import gzip
import json
import re
from collections import Counter
from datetime import datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.ingest import EVENT_TYPES
from accounts.models import Event, IncomingRequest, RejectedEvent, RejectedRequest
from accounts.services.incoming import incoming_drain
from tests.ingest_auth import basic

pytestmark = pytest.mark.django_db

CALLS = ("batch", *EVENT_TYPES)


def fuzz_settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        # The client and the key are made once per test; each example rolls its own
        # rows back (``isolated``), so sharing them across examples is what we want.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


class isolated:
    """A savepoint around one example, always rolled back."""

    def __enter__(self):
        self.atomic = transaction.atomic()
        self.atomic.__enter__()

    def __exit__(self, *exc):
        transaction.set_rollback(True)
        return self.atomic.__exit__(*exc)


# --- strategies ---------------------------------------------------------------------------

# Every code point, lone surrogates and NUL included (hypothesis leaves surrogates out
# of text unless asked).
ANY_CHAR = st.characters(exclude_categories=())
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\ud83d",
    "NaN",
    "Infinity",
    "-1e999",
    "1e308",
    "9" * 40,
    "\u2028",
    "\ufeff",
    "//[x",
    "http://[::1",
    "/pricing",
    "/Pricing/?plan=team#faq",
    "https://acme.com/security",
    "x" * 201,
    "y" * 501,
    "ann@acme.com",
    "ANN@EU.ACME.CO.UK",
    "jo@gmail.com",
    "@",
    "Checkout Completed",
]
text = st.one_of(
    st.text(max_size=10),
    st.text(ANY_CHAR, max_size=10),
    st.sampled_from(NASTY),
)
numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(),  # NaN and ±Infinity included
    st.sampled_from(
        [10**400, -(10**400), 10**15, 10**15 + 1, 10**12, 83_333_333_333.33, 1e308, -0.0]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)


def _nest(depth_and_leaf):
    depth, leaf = depth_and_leaf
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"n": value}
    return value


deep = st.tuples(st.integers(min_value=50, max_value=66), scalars).map(_nest)
anything = st.one_of(json_values, json_values, deep)

ids = st.one_of(st.sampled_from(["u1", "u2", "m1", "m2", " m1 "]), scalars)
DATE_EDGES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-12:00",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2099-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2026-11-20T10:00:00Z",
    "2026-11-20 10:00:00",
    "2026-02-30T10:00:00Z",
    "2026-11-20T10:00:00+99:99",
    "yesterday",
]
dates = st.one_of(
    st.sampled_from(DATE_EDGES),
    st.builds(
        lambda when, offset: when.isoformat() + offset,
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
        st.sampled_from(["Z", "", "+14:00", "-12:00", "+05:30"]),
    ),
    scalars,
)
PLAN_EVENTS = [
    "Report Exported",
    "Checkout Completed",
    "Order Refunded",
    "Plan Changed",
    "API Call Made",
    "Limit Reached",
    "Paywall Hit",
    "Integration Connected",
    "Demo Requested",
]
paths = st.one_of(st.sampled_from(["/pricing", "/checkout", "//[x", "http://[", "/"]), text)
properties = st.fixed_dictionaries(
    {},
    optional={
        "revenue": st.one_of(numbers, text),
        "count": st.one_of(numbers, text),
        "seats": st.one_of(numbers, text),
        "plan": st.one_of(st.sampled_from(["team", "business", "free", "TEAM "]), text),
        "billing_period": st.sampled_from(["month", "year", "annual", "fortnight"]),
        "currency": st.one_of(st.sampled_from(["EUR", "usd"]), text),
        "path": paths,
        "limit": text,
        "feature": st.one_of(text, numbers),
        "extra": anything,
    },
)
traits = st.fixed_dictionaries(
    {},
    optional={
        "email": st.one_of(st.sampled_from(["ann@acme.com", "bob@globex.co.uk"]), text),
        "name": text,
        "website": st.one_of(st.sampled_from(["acme.com", "http://[", "https://a.b"]), text),
        "employees": st.one_of(numbers, text),
        "plan": text,
        "isAdmin": scalars,
        "title": text,
        "extra": anything,
    },
)
context = st.fixed_dictionaries(
    {},
    optional={
        "ip": st.one_of(st.sampled_from(["203.0.113.9", "::1", "999.1.1.1"]), text),
        "groupId": ids,
        "page": st.fixed_dictionaries({}, optional={"path": paths}),
        "traits": traits,
        "extra": anything,
    },
)


def mostly(usual, unusual, one_in: int = 4):
    """``usual`` but one time in ``one_in`` ``unusual`` (``one_of`` would not weigh them,
    and hypothesis leans to its first branch)."""
    return st.sampled_from([True] + [False] * (one_in - 1)).flatmap(
        lambda odd: unusual if odd else usual
    )


# Mostly sensible values, so that most events get past the first checks and reach
# identity, the tracking plan and the deals; the rest is anything at all.
usual_ids = st.sampled_from(["u1", "u2", "u3", "anon-1"])
usual_dates = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda when: when.isoformat() + "Z"
)
required_fields = {
    "userId": mostly(usual_ids, ids),
    "event": mostly(st.sampled_from(PLAN_EVENTS), text),
    "timestamp": mostly(usual_dates, dates),
    "messageId": mostly(st.sampled_from(["m1", "m2", "m3", "m4", "m5", "m6"]), ids),
}
event_fields = {
    "anonymousId": ids,
    "groupId": st.one_of(st.sampled_from(["g1", "g2"]), ids),
    "previousId": st.one_of(usual_ids, ids),
    "sentAt": mostly(usual_dates, dates),
    "originalTimestamp": dates,
    "name": st.one_of(paths, text),
    "properties": mostly(properties, anything),
    "traits": mostly(traits, anything),
    "context": mostly(context, anything),
}
events = st.fixed_dictionaries(
    {
        "type": mostly(st.sampled_from(EVENT_TYPES), scalars, one_in=8),
        **required_fields,
    },
    optional=event_fields,
)
single_events = st.fixed_dictionaries(required_fields, optional=event_fields)
batches = st.fixed_dictionaries(
    {
        # Events, and now and then something that is not one.
        "batch": st.tuples(st.lists(events, max_size=8), st.lists(scalars, max_size=1)).map(
            lambda parts: parts[0] + parts[1]
        )
    },
    optional={
        "sentAt": mostly(usual_dates, dates),
        "context": mostly(context, anything),
        "writeKey": text,
    },
)

AUTH = ("basic", "basic", "basic", "basic", "body", "body", "none", "junk")


@st.composite
def requests(draw):
    """(call, body bytes, headers, the decoded body or None when sent as it is)."""
    call = draw(st.sampled_from(CALLS))
    body = draw(batches if call == "batch" else single_events)
    if call == "batch" and body["batch"] and draw(st.booleans()):
        # An SDK retrying inside one batch: the same event again, somewhere later.
        again = draw(st.sampled_from(body["batch"]))
        body["batch"].insert(draw(st.integers(0, len(body["batch"]))), again)
    auth = draw(st.sampled_from(AUTH))
    encoding = draw(st.sampled_from(["json", "json", "raw-utf8", "utf-16", "gzip"]))
    return call, body, auth, encoding


def _encode(body: dict, encoding: str) -> tuple[bytes, dict]:
    if encoding == "raw-utf8":
        # Surrogates as their (invalid) UTF-8 bytes, not as \ud800 escapes.
        return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass"), {}
    if encoding == "utf-16":
        return json.dumps(body, ensure_ascii=False).encode("utf-16-le", "surrogatepass"), {}
    data = json.dumps(body).encode()
    if encoding == "gzip":
        return gzip.compress(data), {"Content-Encoding": "gzip"}
    return data, {}


# --- what a rejection must say --------------------------------------------------------------

REQUEST_REASONS = {
    "body": [
        r"body is not valid JSON: .+",
        r"body must be a JSON object",
        r"body nests objects and arrays deeper than 64 levels",
        r"request body is over 500 KB \(512000 bytes(, decompressed)?\)",
        r"body is not valid gzip",
    ],
    "batch": [r"batch must be a list of events", r"batch has \d+ events; the limit is 2500"],
    "event": [r"event is over 32 KB \(32768 bytes\): \d+ bytes"],
    "writeKey": [
        r"a write key is required: HTTP Basic user name \(empty password\) or writeKey",
        r"the write key is unknown or revoked",
        r"writeKey contains a (NUL character|lone surrogate) .+",
    ],
}
FIELD_RULES = [
    r"{f} is longer than (200|500) characters",
    r"{f} is not an ISO 8601 date-time",
    r"{f} must be between 1970-01-01 and 2100-01-01 \(UTC, after clock-skew correction\)",
    r"{f} is not a URL or a path",
    r"{f} contains a NUL character \(\\u0000\): not storable text",
    r"{f} contains a lone surrogate \(\\u[0-9a-f]{{4}}\): not Unicode text",
    r"{f} must be a finite number \(NaN and Infinity are not JSON\)",
    r"{f} nests objects and arrays deeper than 64 levels",
    r"{f} must be a number between -1e15 and 1e15",
    r"{f} must give a finite ARR of at most 999999999999\.99 \(the deal amount column\)",
]
WHOLE_RULES = {
    "event": [
        r"event must be a JSON object",
        r"event is over 32 KB \(32768 bytes\)",
        r"event \(the event name\) is required for track",
        r"event name or path is longer than 500 characters",
    ],
    "type": [r"type must be one of track, page, screen, identify, group, alias"],
    "userId": [r"userId or anonymousId is required"],
    "previousId": [r"previousId is required for alias"],
}


def assert_names_field_and_rule(field: str, reason: str) -> None:
    """A rejected event's reason is one of the known rules, stated for its field."""
    assert field, reason
    rules = [rule.format(f=re.escape(field)) for rule in FIELD_RULES]
    rules += WHOLE_RULES.get(field, [])
    assert any(re.fullmatch(rule, reason) for rule in rules), (field, reason)


def _dedupe_key(event):
    """Segment's dedupe: the messageId, or the content when there is none."""
    if not isinstance(event, dict):
        return ("content", repr(event))
    value = event.get("messageId")
    if isinstance(value, bool) or value is None:
        value = ""
    elif isinstance(value, int | float):
        value = str(value)
    value = value.strip() if isinstance(value, str) else ""
    return ("id", value) if value else ("content", json.dumps(event, sort_keys=True))


def check_response(response, *, events_sent: list | None, seen: Counter) -> None:
    """The invariants of one request, checked on what a user and an admin would see."""
    status = response.status_code
    seen[f"HTTP {status}"] += 1
    assert status in (200, 400, 401), response.content[:300]
    answer = response.json()
    if status != 200:
        assert answer["success"] is False
        field, message = answer["field"], answer["message"]
        assert any(re.fullmatch(r, message) for r in REQUEST_REASONS[field]), answer
        refused = RejectedRequest.objects.get()
        assert (refused.status, refused.field, refused.reason) == (status, field, message[:300])
        assert not IncomingRequest.objects.exists()
        return
    assert answer == {"success": True}
    assert IncomingRequest.objects.count() == 1
    result = incoming_drain()
    assert not IncomingRequest.objects.exists()
    if events_sent is not None:
        assert result.received == len(events_sent)
        repeats = len(events_sent) - len({_dedupe_key(e) for e in events_sent})
        assert result.duplicates <= repeats, (result, events_sent)
    assert result.stored + result.duplicates + result.rejected == result.received
    assert Event.objects.count() == result.stored
    kept = list(RejectedEvent.objects.values_list("field", "reason", "payload"))
    assert len(kept) == result.rejected
    for field, reason, payload in kept:
        assert_names_field_and_rule(field, reason)
        assert payload
        seen[f"rejected: {field.split('.')[0].split('[')[0]}"] += 1
    seen["events stored"] += result.stored
    seen["duplicates"] += result.duplicates


def test_fuzzed_segment_requests_never_5xx_and_every_rejection_names_field_and_limit(
    client, write_key, facts
):
    seen: Counter = Counter()

    @fuzz_settings(examples=2000)
    @given(request=requests())
    def run(request):
        call, body, auth, encoding = request
        headers = {}
        if auth == "basic":
            headers["Authorization"] = basic(write_key)
        elif auth == "body":
            body = {**body, "writeKey": write_key}
        elif auth == "junk":
            headers["Authorization"] = "Basic " + base64.b64encode(b"\xff\xfe:").decode()
        data, extra = _encode(body, encoding)
        headers.update(extra)
        sent = body["batch"] if call == "batch" else [{**body, "type": call}]
        with isolated():
            response = client.post(
                f"/ingest/v1/{call}", data=data, content_type="application/json", headers=headers
            )
            check_response(response, events_sent=sent, seen=seen)
        seen["cases"] += 1

    run()
    facts("; ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    # The fuzzing reached every outcome, not only the front door.
    assert seen["HTTP 200"] and seen["HTTP 400"] and seen["HTTP 401"], seen
    assert seen["events stored"] and seen["duplicates"], seen
    for field in ("properties", "traits", "context", "timestamp", "sentAt", "userId"):
        assert seen[f"rejected: {field}"], (field, seen)


# Prebuilt once: bodies past the request limits, cheap to send, slow to generate.
BIG = [
    json.dumps({"batch": [{"type": "track"}] * 2501}).encode(),
    b'{"batch": [], "pad": "' + b"x" * 520_000 + b'"}',
    gzip.compress(b'{"batch": [], "pad": "' + b"x" * 600_000 + b'"}'),
    b"[" * 400_000,
    b'{"batch": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
    b'{"batch": [], "n": ' + b"9" * 5000 + b"}",
]


@st.composite
def raw_bodies(draw):
    """Bytes as they come over the wire: random, a valid body cut or mutated, or past
    the limits, with or without a gzip header."""
    kind = draw(st.sampled_from(["random", "cut", "mutated", "big", "nested"]))
    if kind == "random":
        data = draw(st.binary(max_size=300))
    elif kind == "big":
        data = draw(st.sampled_from(BIG))
    elif kind == "nested":
        depth = draw(st.integers(min_value=1, max_value=3000))
        opener = draw(st.sampled_from([b"[", b'{"a":']))
        closer = b"]" if opener == b"[" else b"}"
        data = b'{"batch": [' + opener * depth + b"1" + closer * depth + b"]}"
    else:
        body = draw(batches)
        data = json.dumps(body).encode()
        if kind == "cut":
            data = data[: draw(st.integers(min_value=0, max_value=len(data)))]
        else:
            for _ in range(draw(st.integers(min_value=1, max_value=4))):
                at = draw(st.integers(min_value=0, max_value=len(data)))
                data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at + 1 :]
    gzip_header = draw(st.sampled_from([None, None, "gzip", "x-gzip", "br"]))
    if gzip_header and draw(st.booleans()):
        data = gzip.compress(data)
    return data, gzip_header


def test_fuzzed_raw_bodies_never_5xx_and_every_refusal_names_field_and_limit(
    client, write_key, facts
):
    seen: Counter = Counter()

    @fuzz_settings(examples=900)
    @given(raw=raw_bodies(), call=st.sampled_from(CALLS))
    def run(raw, call):
        data, encoding = raw
        headers = {"Authorization": basic(write_key)}
        if encoding:
            headers["Content-Encoding"] = encoding
        with isolated():
            response = client.post(
                f"/ingest/v1/{call}", data=data, content_type="application/json", headers=headers
            )
            check_response(response, events_sent=None, seen=seen)
        seen["cases"] += 1

    run()
    facts("; ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    assert seen["HTTP 200"] and seen["HTTP 400"], seen
