"""File import of product events: Segment-format JSONL (``.gz`` too) and a CSV layout.

Every line goes through the same validation, dedupe and identity path as the HTTP API
(``parse_event`` then ``events_ingest``), in chunks, so memory stays bounded however
long the file and a malformed line never stops the rest. The CSV layout is documented
in docs/ingestion.md.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

from django.utils import timezone

from accounts.ingest import MAX_EVENT_BYTES, InvalidEvent, Message, parse_event
from accounts.services.ingestion import IngestResult, events_ingest
from pls_portal.services import JobProgress

CHUNK = 2000

# CSV header → Segment field. Headers are matched case-insensitively.
CSV_COLUMNS = {
    "type": "type",
    "event": "event",
    "user_id": "userId",
    "userid": "userId",
    "anonymous_id": "anonymousId",
    "anonymousid": "anonymousId",
    "group_id": "groupId",
    "groupid": "groupId",
    "message_id": "messageId",
    "messageid": "messageId",
    "timestamp": "timestamp",
    "name": "name",
    "previous_id": "previousId",
    "previousid": "previousId",
}
CSV_JSON_COLUMNS = ("properties", "traits", "context")


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from the file on disk, for a progress bar in bytes."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.position += n or 0
        return n


def _open_text(path: Path, counter: _CountingReader):
    stream = io.BufferedReader(counter, buffer_size=1 << 16)
    if path.suffix == ".gz":
        stream = gzip.GzipFile(fileobj=stream)
    return io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")


def _jsonl_records(text) -> Iterator[tuple[int, object | InvalidEvent]]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_EVENT_BYTES * 4:
            yield (
                number,
                InvalidEvent(
                    reason=f"event is over 32 KB ({MAX_EVENT_BYTES} bytes)",
                    field="event",
                    payload=line[:MAX_EVENT_BYTES],
                    line_number=number,
                ),
            )
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield (
                number,
                InvalidEvent(
                    reason=f"line is not valid JSON: {exc.msg}",
                    field="line",
                    payload=line.rstrip("\r\n")[:MAX_EVENT_BYTES],
                    line_number=number,
                ),
            )


def _csv_records(text) -> Iterator[tuple[int, object | InvalidEvent]]:
    reader = csv.DictReader(text)
    headers = {h: h.strip().lower() for h in reader.fieldnames or []}
    for row in reader:
        number = reader.line_num
        event: dict = {}
        problem = None
        for header, value in row.items():
            if header is None or value in (None, ""):
                continue
            column = headers.get(header, "")
            if column in CSV_JSON_COLUMNS:
                try:
                    parsed = json.loads(value)
                except json.JSONDecodeError:
                    problem = (f"{column} is not a JSON object", column)
                    break
                if not isinstance(parsed, dict):
                    problem = (f"{column} is not a JSON object", column)
                    break
                event[column] = parsed
            elif column == "email":
                event.setdefault("traits", {})["email"] = value.strip()
            elif column == "path":
                event.setdefault("properties", {})["path"] = value.strip()
            elif column in CSV_COLUMNS:
                event[CSV_COLUMNS[column]] = value.strip()
        event.setdefault("type", "track")
        if problem:
            yield (
                number,
                InvalidEvent(
                    reason=problem[0], field=problem[1], payload=json.dumps(row), line_number=number
                ),
            )
        else:
            yield number, event


def events_import_file(*, path: Path, progress: JobProgress | None = None) -> IngestResult:
    """Import one file; ``progress`` counts bytes of the file on disk."""
    total = IngestResult()
    with path.open("rb", buffering=0) as raw:
        counter = _CountingReader(raw)
        if progress is not None:
            progress.set_total(path.stat().st_size)
        text = _open_text(path, counter)
        is_csv = path.name.removesuffix(".gz").lower().endswith(".csv")
        records = _csv_records(text) if is_csv else _jsonl_records(text)
        messages: list[Message] = []
        invalid: list[InvalidEvent] = []
        reported = 0

        def flush() -> None:
            nonlocal reported
            if messages or invalid:
                total.add(
                    events_ingest(
                        messages=messages,
                        invalid=invalid,
                        source="file",
                        file_name=str(path),
                        received_at=timezone.now(),
                    )
                )
                messages.clear()
                invalid.clear()
            if progress is not None:
                progress.advance(counter.position - reported, message=f"Importing {path.name}")
                reported = counter.position

        received_at = timezone.now()
        for number, record in records:
            if isinstance(record, InvalidEvent):
                invalid.append(record)
            else:
                parsed = parse_event(record, received_at=received_at, line_number=number)
                (invalid if isinstance(parsed, InvalidEvent) else messages).append(parsed)
            if len(messages) + len(invalid) >= CHUNK:
                flush()
                received_at = timezone.now()
        flush()
    return total
