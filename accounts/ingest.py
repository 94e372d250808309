"""Parse and validate Segment HTTP Tracking API requests (no database access).

Limits are Segment's: 32 KB per event, 500 KB per batch request (decompressed), 2,500
events per batch; and ours, so that whatever is accepted can be stored on SQLite and
PostgreSQL alike: 64 levels of nesting, text without NUL characters or lone surrogates,
finite numbers, timestamps between 1970 and 2100. A request that breaks a request-level
limit is refused whole (``RequestRejected``, a 400); an event that breaks the spec inside
a valid batch becomes an ``InvalidEvent`` kept for review while the rest are stored.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import math
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.utils import timezone
from django.utils.dateparse import parse_datetime

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
MAX_ID_LENGTH = 200
MAX_NAME_LENGTH = 500
# Nesting of objects and arrays, counted from the body (or the file line) down. Far above
# what any SDK sends, far below where Python's json or PostgreSQL's jsonb give up.
MAX_DEPTH = 64
# Timestamps are stored and rolled up per day; years 1 and 9999 overflow date arithmetic.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
TIME_RANGE = f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC, after clock-skew correction)"
EVENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")


class RequestRejected(Exception):
    """The whole request is refused; nothing from it is stored."""

    def __init__(self, *, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def as_json(self) -> dict:
        # "code" and "message" are what Segment's API answers and its SDKs read.
        code = "unauthorized" if self.status == 401 else "invalid_request"
        return {
            "success": False,
            "code": code,
            "message": self.message,
            "error": self.message,
            "field": self.field,
        }


@dataclass(frozen=True)
class InvalidEvent:
    reason: str
    field: str
    payload: str
    line_number: int | None = None


@dataclass
class Message:
    """One valid Segment message, normalised."""

    message_id: str
    type: str
    name: str
    user_id: str
    anonymous_id: str
    group_id: str
    previous_id: str
    timestamp: datetime
    received_at: datetime
    context_ip: str | None
    properties: dict
    traits: dict
    line_number: int | None = None
    extra: dict = field(default_factory=dict)
    # The event as it came, for a rejection decided after parsing (an amount past its
    # column, known only once the tracking plan is applied).
    source: dict | None = None

    @property
    def email(self) -> str:
        value = self.traits.get("email") or self.properties.get("email") or ""
        return value.strip().lower() if isinstance(value, str) else ""


def decode_body(body: bytes, content_encoding: str = "") -> bytes:
    """The request body, gunzipped when asked, never more than the batch limit."""
    if content_encoding.strip().lower() in ("gzip", "x-gzip"):
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            data = decompressor.decompress(body, MAX_REQUEST_BYTES + 1)
        except zlib.error:
            raise RequestRejected(
                status=400, field="body", message="body is not valid gzip"
            ) from None
        if decompressor.unconsumed_tail or len(data) > MAX_REQUEST_BYTES:
            raise _too_big()
        return data
    if len(body) > MAX_REQUEST_BYTES:
        raise _too_big()
    return body


def _too_big() -> RequestRejected:
    return RequestRejected(
        status=400,
        field="body",
        message=f"request body is over 500 KB ({MAX_REQUEST_BYTES} bytes, decompressed)",
    )


def load_json(data: bytes) -> dict:
    """The body as a JSON object. Decoded strictly first: ``json.loads`` on bytes lets
    encoded surrogates through, which no database can store."""
    encoding = json.detect_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        raise RequestRejected(
            status=400,
            field="body",
            message=f"body is not valid JSON: not valid {name} text at byte {exc.start}",
        ) from None
    try:
        payload = json.loads(text)
    except RecursionError:
        raise _too_deep("body") from None
    except ValueError as exc:
        # JSONDecodeError, and integers past Python's 4,300-digit conversion limit.
        raise RequestRejected(
            status=400, field="body", message=f"body is not valid JSON: {exc}"
        ) from None
    if not isinstance(payload, dict):
        raise RequestRejected(status=400, field="body", message="body must be a JSON object")
    if too_deep(payload):
        raise _too_deep("body")
    write_key = payload.get("writeKey")
    if isinstance(write_key, str) and (problem := _text_problem(write_key)):
        raise RequestRejected(status=401, field="writeKey", message=f"writeKey {problem}")
    return payload


def _too_deep(name: str) -> RequestRejected:
    return RequestRejected(status=400, field=name, message=too_deep_reason(name))


def too_deep_reason(name: str) -> str:
    return f"{name} nests objects and arrays deeper than {MAX_DEPTH} levels"


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON data nests objects and arrays deeper than ``limit`` levels; walked
    without recursion, so any depth is safe to ask about."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def printable(text: str) -> str:
    """``text`` with NUL characters and lone surrogates as their JSON escapes: storable
    in any database and still readable for review."""
    if text.isprintable() or not any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in text):
        return text
    return "".join(
        f"\\u{ord(c):04x}" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text
    )


def _text_problem(text: str) -> str | None:
    """Why a string cannot be stored, or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000): not storable text"
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate (\\u{ord(text[exc.start]):04x}): not Unicode text"
    return None


def _field_path(parent: str, key: str) -> str:
    name = printable(key)
    return f"{parent}.{name}" if parent else name


def value_problem(value, *, path: str = "") -> tuple[str, str] | None:
    """(field, reason) for the first part of JSON data that SQLite's JSON check or
    PostgreSQL's jsonb and text columns refuse: nesting past ``MAX_DEPTH``, NUL
    characters and lone surrogates (in keys too), NaN and Infinity. None if all is fine."""
    stack = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if problem := _text_problem(item):
                return _shorten(where), f"{_shorten(where)} {problem}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                name = _shorten(where)
                return name, f"{name} must be a finite number (NaN and Infinity are not JSON)"
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                name = _shorten(where) or "event"
                return name, too_deep_reason(name)
            if isinstance(item, dict):
                children = []
                for key, child in item.items():
                    child_path = _field_path(where, key)
                    if problem := _text_problem(key):
                        return _shorten(child_path), f"{_shorten(child_path)} {problem}"
                    children.append((child, child_path, depth + 1))
            else:
                children = [(c, f"{where}[{i}]", depth + 1) for i, c in enumerate(item)]
            # Reversed, so the first problem in document order is the one reported.
            stack.extend(reversed(children))
    return None


def _shorten(path: str) -> str:
    """A field path that fits the review tables (100 characters)."""
    return path if len(path) <= 100 else path[:97] + "..."


def check_request(*, call: str, payload: dict) -> None:
    """The request-level limits, checked before the API answers: a break refuses the
    whole request (``RequestRejected``). Event-level checks come with ``parse_request``."""
    if call == "batch":
        batch = payload.get("batch")
        if not isinstance(batch, list):
            raise RequestRejected(
                status=400, field="batch", message="batch must be a list of events"
            )
        if len(batch) > MAX_BATCH_EVENTS:
            raise RequestRejected(
                status=400,
                field="batch",
                message=f"batch has {len(batch)} events; the limit is {MAX_BATCH_EVENTS}",
            )
        return
    size = _size(payload)
    if size > MAX_EVENT_BYTES:
        raise RequestRejected(
            status=400,
            field="event",
            message=f"event is over 32 KB ({MAX_EVENT_BYTES} bytes): {size} bytes",
        )


def parse_request(
    *, call: str, payload: dict, received_at: datetime
) -> tuple[list[Message], list[InvalidEvent]]:
    """Split a decoded request into valid messages and invalid events.

    ``call`` is ``batch`` or one of the single-event calls (``track``, ``identify``…).
    """
    check_request(call=call, payload=payload)
    if call == "batch":
        batch = payload["batch"]
        context = payload.get("context") if isinstance(payload.get("context"), dict) else {}
        defaults = {
            "sentAt": payload.get("sentAt"),
            "context": context,
            # The batch's context goes into every event: checked once for all of them.
            "context_problem": value_problem(context, path="context"),
        }
        events = batch
    else:
        defaults = {"sentAt": None, "context": {}}
        events = [{**payload, "type": call}]

    messages, invalid = [], []
    for event in events:
        result = parse_event(event, received_at=received_at, defaults=defaults)
        (invalid if isinstance(result, InvalidEvent) else messages).append(result)
    return messages, invalid


def _size(event) -> int:
    return _measure(event)[0]


def _measure(event) -> tuple[int, bool]:
    """(size in bytes, whether it may hold something no database stores). The JSON text
    tells cheaply: a lone surrogate does not encode, a NUL is written ``\\u0000``, NaN
    and Infinity as themselves; only a suspect event is walked (``value_problem``)."""
    text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogatepass")), True
    return size, "\\u0000" in text or "NaN" in text or "Infinity" in text


def raw_payload(event) -> str:
    """The event as JSON text for review; lone surrogates as escapes, so it is storable."""
    try:
        text = json.dumps(event, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return printable(repr(event)) if not too_deep(event) else "(nested too deeply to show)"
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(event, sort_keys=True)
    return text


def _id(value) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


class _OutOfRange(Exception):
    """A readable date-time that Python cannot even move to UTC (year 1 at +14:00)."""


def _when(value) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime; None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.UTC)
    try:
        return parsed.astimezone(timezone.UTC)
    except OverflowError:
        raise _OutOfRange from None


def _in_range(when: datetime) -> bool:
    return EARLIEST <= when < LATEST


def parse_event(
    event, *, received_at: datetime, defaults: dict | None = None, line_number: int | None = None
) -> Message | InvalidEvent:
    """Validate one Segment message; every rejection names the field and the rule."""
    defaults = defaults or {"sentAt": None, "context": {}}

    def invalid(reason: str, field_name: str) -> InvalidEvent:
        return InvalidEvent(
            reason=reason, field=field_name, payload=raw_payload(event), line_number=line_number
        )

    if not isinstance(event, dict):
        return invalid("event must be a JSON object", "event")
    # Nesting is bounded before: per request (``load_json``), per file line (imports).
    size, suspect = _measure(event)
    problem = (value_problem(event) if suspect else None) or defaults.get("context_problem")
    if problem:
        return invalid(problem[1], problem[0])
    if size > MAX_EVENT_BYTES:
        # The reason stays the same text for every such event, so admins can count them.
        return invalid(f"event is over 32 KB ({MAX_EVENT_BYTES} bytes)", "event")

    event_type = event.get("type")
    if event_type not in EVENT_TYPES:
        return invalid(f"type must be one of {', '.join(EVENT_TYPES)}", "type")

    user_id, anonymous_id = _id(event.get("userId")), _id(event.get("anonymousId"))
    if not user_id and not anonymous_id:
        return invalid("userId or anonymousId is required", "userId")
    for name, value in (("userId", user_id), ("anonymousId", anonymous_id)):
        if len(value) > MAX_ID_LENGTH:
            return invalid(f"{name} is longer than {MAX_ID_LENGTH} characters", name)

    timestamp = received_at
    if event.get("timestamp") is not None:
        when = _timestamp(event, defaults=defaults, received_at=received_at)
        if isinstance(when, tuple):
            return invalid(*when)
        timestamp = when

    context = event.get("context") if isinstance(event.get("context"), dict) else {}
    context = {**defaults.get("context", {}), **context}
    properties = event.get("properties") if isinstance(event.get("properties"), dict) else {}
    traits = event.get("traits") if isinstance(event.get("traits"), dict) else {}
    if event_type == "identify" and not traits and isinstance(context.get("traits"), dict):
        traits = context["traits"]

    if event_type == "track":
        name = event.get("event")
        if not isinstance(name, str) or not name.strip():
            return invalid("event (the event name) is required for track", "event")
        name = name.strip()
    elif event_type in ("page", "screen"):
        name, name_field = _page_name(event_type, event, properties, context)
        if len(name) <= MAX_NAME_LENGTH and not _is_path(name):
            # The tracking plan matches pages by their URL's path: it must be one.
            return invalid(f"{name_field} is not a URL or a path", name_field)
    else:
        name = ""
    if len(name) > MAX_NAME_LENGTH:
        return invalid(f"event name or path is longer than {MAX_NAME_LENGTH} characters", "event")

    group_id = _id(event.get("groupId")) or _id(context.get("groupId"))
    if len(group_id) > MAX_ID_LENGTH:
        return invalid(f"groupId is longer than {MAX_ID_LENGTH} characters", "groupId")
    previous_id = _id(event.get("previousId"))
    if event_type == "alias" and not previous_id:
        return invalid("previousId is required for alias", "previousId")
    if len(previous_id) > MAX_ID_LENGTH:
        return invalid(f"previousId is longer than {MAX_ID_LENGTH} characters", "previousId")

    message_id = _id(event.get("messageId"))
    if len(message_id) > MAX_ID_LENGTH:
        return invalid(f"messageId is longer than {MAX_ID_LENGTH} characters", "messageId")
    if not message_id:
        # Derived, not random, so a client retrying the same message still dedupes.
        message_id = "derived-" + hashlib.sha256(raw_payload(event).encode()).hexdigest()[:40]

    return Message(
        message_id=message_id,
        type=event_type,
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        group_id=group_id,
        previous_id=previous_id,
        timestamp=timestamp,
        received_at=received_at,
        context_ip=_ip(context.get("ip")),
        properties=properties,
        traits=traits,
        line_number=line_number,
        source=event,
    )


def _page_name(event_type: str, event: dict, properties: dict, context: dict) -> tuple[str, str]:
    """(name, the field it came from) of a page or screen event."""
    if event_type == "screen":
        name = event.get("name")
        return (name if isinstance(name, str) else ""), "name"
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    for field_name, value in (
        ("properties.path", properties.get("path")),
        ("context.page.path", page.get("path")),
        ("name", event.get("name")),
    ):
        if value:
            return (value.strip() if isinstance(value, str) else ""), field_name
    return "", "name"


def _is_path(name: str) -> bool:
    try:
        urlsplit(name)
    except ValueError:
        return False
    return True


def _timestamp(event: dict, *, defaults: dict, received_at: datetime) -> datetime | tuple:
    """The event's timestamp, clock-skew corrected; (reason, field) when it cannot be."""
    out_of_range = "{} must be " + TIME_RANGE
    try:
        timestamp = _when(event.get("timestamp"))
    except _OutOfRange:
        return out_of_range.format("timestamp"), "timestamp"
    if timestamp is None:
        return "timestamp is not an ISO 8601 date-time", "timestamp"
    sent_at_raw = event.get("sentAt") or defaults.get("sentAt")
    if sent_at_raw is not None:
        try:
            sent_at = _when(sent_at_raw)
        except _OutOfRange:
            return out_of_range.format("sentAt"), "sentAt"
        if sent_at is None:
            return "sentAt is not an ISO 8601 date-time", "sentAt"
        if not _in_range(sent_at):
            return out_of_range.format("sentAt"), "sentAt"
        # Segment's clock-skew correction: the device clock may be wrong, but the gap
        # between timestamp and sentAt on that clock is right.
        try:
            timestamp = timestamp + (received_at - sent_at)
        except OverflowError:
            return out_of_range.format("timestamp"), "timestamp"
    if not _in_range(timestamp):
        return out_of_range.format("timestamp"), "timestamp"
    return timestamp


def _ip(value) -> str | None:
    return _parse_ip(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=4096)
def _parse_ip(value: str) -> str | None:
    # Cached: a batch carries the same few addresses hundreds of times.
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
