"""Parse and validate Segment HTTP Tracking API requests (no database access).

Limits are Segment's: 32 KB per event, 500 KB per batch request (decompressed), 2,500
events per batch. A request that breaks a request-level limit is refused whole
(``RequestRejected``, a 400); an event that breaks the spec inside a valid batch becomes
an ``InvalidEvent`` kept for review while the rest are stored.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
MAX_ID_LENGTH = 200
MAX_NAME_LENGTH = 500
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
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRejected(
            status=400, field="body", message=f"body is not valid JSON: {exc}"
        ) from None
    if not isinstance(payload, dict):
        raise RequestRejected(status=400, field="body", message="body must be a JSON object")
    return payload


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
        defaults = {
            "sentAt": payload.get("sentAt"),
            "context": payload.get("context") if isinstance(payload.get("context"), dict) else {},
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
    return len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())


def _raw(event) -> str:
    try:
        return json.dumps(event, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(event)


def _id(value) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


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
    return parsed.astimezone(timezone.UTC)


def parse_event(
    event, *, received_at: datetime, defaults: dict | None = None, line_number: int | None = None
) -> Message | InvalidEvent:
    """Validate one Segment message; every rejection names the field and the rule."""
    defaults = defaults or {"sentAt": None, "context": {}}

    def invalid(reason: str, field_name: str) -> InvalidEvent:
        return InvalidEvent(
            reason=reason, field=field_name, payload=_raw(event), line_number=line_number
        )

    if not isinstance(event, dict):
        return invalid("event must be a JSON object", "event")
    size = _size(event)
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
        timestamp = _when(event.get("timestamp"))
        if timestamp is None:
            return invalid("timestamp is not an ISO 8601 date-time", "timestamp")
        sent_at_raw = event.get("sentAt") or defaults.get("sentAt")
        if sent_at_raw is not None:
            sent_at = _when(sent_at_raw)
            if sent_at is None:
                return invalid("sentAt is not an ISO 8601 date-time", "sentAt")
            # Segment's clock-skew correction: the device clock may be wrong, but the
            # gap between timestamp and sentAt on that clock is right.
            timestamp = timestamp + (received_at - sent_at)

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
    elif event_type == "page":
        page = context.get("page") if isinstance(context.get("page"), dict) else {}
        name = properties.get("path") or page.get("path") or event.get("name") or ""
        name = name.strip() if isinstance(name, str) else ""
    elif event_type == "screen":
        name = event.get("name") if isinstance(event.get("name"), str) else ""
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

    message_id = _id(event.get("messageId"))
    if len(message_id) > MAX_ID_LENGTH:
        return invalid(f"messageId is longer than {MAX_ID_LENGTH} characters", "messageId")
    if not message_id:
        # Derived, not random, so a client retrying the same message still dedupes.
        message_id = "derived-" + hashlib.sha256(_raw(event).encode()).hexdigest()[:40]

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
    )


def _ip(value) -> str | None:
    return _parse_ip(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=4096)
def _parse_ip(value: str) -> str | None:
    # Cached: a batch carries the same few addresses hundreds of times.
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
