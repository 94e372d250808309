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
import zlib
from collections.abc import Iterator
from pathlib import Path

from django.utils import timezone

from accounts.ingest import (
    MAX_EVENT_BYTES,
    InvalidEvent,
    Message,
    parse_event,
    printable,
    too_deep,
    too_deep_reason,
)
from accounts.services.ingestion import IngestResult, events_ingest
from pls_portal.services import JobProgress

CHUNK = 2000


class EventImportError(Exception):
    """The file cannot be read (on): the message names it and says why. Lines read
    before the damage are imported."""


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

# The CSV cell limit is Python's default, but its parser's error on a longer cell loses
# the rest of the line. The parser may read 16 times that, so such a line is read whole
# and rejected, by line number, by our own check; past that the parser's error rejects
# it. (``field_size_limit`` is process-wide; raising it only lets longer cells be read.)
CSV_CELL_LIMIT = 131_072
CSV_CELL_REASON = f"line has a cell over {CSV_CELL_LIMIT} characters (the CSV cell limit)"
csv.field_size_limit(max(csv.field_size_limit(), 16 * CSV_CELL_LIMIT))


def csv_rows(reader: csv.DictReader) -> Iterator[tuple[int, dict, str | None]]:
    """(line number, row, why it cannot be imported or None) for each row of a CSV
    reader; a row with a cell over ``CSV_CELL_LIMIT`` comes with its long cells cut to
    32 KB, for review."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            # The DictReader's own line_num is not moved on by a row that failed.
            yield reader.reader.line_num, {}, CSV_CELL_REASON
            continue
        long_cells = {
            k: v[:MAX_EVENT_BYTES] + f"… ({len(v)} characters)"
            for k, v in row.items()
            if isinstance(v, str) and len(v) > CSV_CELL_LIMIT
        }
        if long_cells:
            yield reader.line_num, {**row, **long_cells}, CSV_CELL_REASON
        else:
            yield reader.line_num, row, None


def csv_row_storable(row: dict) -> dict:
    """A raw CSV row for ``ImportRow.row``: jsonb holds no NUL, so NULs become their
    escape; cells past the header are kept under ``_extra``."""
    kept = {
        printable(k): printable(v) if isinstance(v, str) else v
        for k, v in row.items()
        if k is not None
    }
    if row.get(None):
        kept["_extra"] = [printable(v) for v in row[None]]
    return kept


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
        reason = None
        try:
            record = json.loads(line)
        except RecursionError:
            reason = too_deep_reason("line")
        except ValueError as exc:
            # JSONDecodeError, and integers past Python's 4,300-digit conversion limit.
            reason = f"line is not valid JSON: {getattr(exc, 'msg', exc)}"
        else:
            if too_deep(record):
                reason = too_deep_reason("line")
        if reason is None:
            yield number, record
            continue
        yield (
            number,
            InvalidEvent(
                reason=reason,
                field="line",
                payload=line.rstrip("\r\n")[:MAX_EVENT_BYTES],
                line_number=number,
            ),
        )


def _csv_records(text, name: str) -> Iterator[tuple[int, object | InvalidEvent]]:
    reader = csv.DictReader(text)
    try:
        fieldnames = reader.fieldnames or []
    except csv.Error as exc:
        raise EventImportError(f"{name}: the header row cannot be read ({exc})") from exc
    headers = {h: h.strip().lower() for h in fieldnames}
    for number, row, unreadable in csv_rows(reader):
        event, problem = ({}, (unreadable, "line")) if unreadable else _csv_event(row, headers)
        if problem:
            yield (
                number,
                InvalidEvent(
                    reason=problem[0], field=problem[1], payload=json.dumps(row), line_number=number
                ),
            )
        else:
            yield number, event


def _csv_event(row: dict, headers: dict) -> tuple[dict, tuple[str, str] | None]:
    """A CSV row as a Segment message, or (reason, column) of the cell that stops it."""
    event: dict = {}
    for header, value in row.items():
        if header is None or value in (None, ""):
            continue
        column = headers.get(header, "")
        if column in CSV_JSON_COLUMNS:
            parsed, problem = _json_column(column, value)
            if problem:
                return event, problem
            event[column] = parsed
        elif column == "email":
            event.setdefault("traits", {})["email"] = value.strip()
        elif column == "path":
            event.setdefault("properties", {})["path"] = value.strip()
        elif column in CSV_COLUMNS:
            event[CSV_COLUMNS[column]] = value.strip()
    event.setdefault("type", "track")
    return event, None


def _json_column(column: str, value: str) -> tuple[dict | None, tuple[str, str] | None]:
    """A JSON column's object, or (reason, column) when the cell is not one we can store."""
    try:
        parsed = json.loads(value)
    except RecursionError:
        return None, (too_deep_reason(column), column)
    except ValueError:
        return None, (f"{column} is not a JSON object", column)
    if not isinstance(parsed, dict):
        return None, (f"{column} is not a JSON object", column)
    if too_deep(parsed):
        return None, (too_deep_reason(column), column)
    return parsed, None


def events_import_file(*, path: Path, progress: JobProgress | None = None) -> IngestResult:
    """Import one file; ``progress`` counts bytes of the file on disk."""
    total = IngestResult()
    with path.open("rb", buffering=0) as raw:
        counter = _CountingReader(raw)
        if progress is not None:
            progress.set_total(path.stat().st_size)
        text = _open_text(path, counter)
        is_csv = path.name.removesuffix(".gz").lower().endswith(".csv")
        records = _csv_records(text, path.name) if is_csv else _jsonl_records(text)
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
        number = 0
        try:
            for number, record in records:
                if isinstance(record, InvalidEvent):
                    invalid.append(record)
                else:
                    parsed = parse_event(record, received_at=received_at, line_number=number)
                    (invalid if isinstance(parsed, InvalidEvent) else messages).append(parsed)
                if len(messages) + len(invalid) >= CHUNK:
                    flush()
                    received_at = timezone.now()
        except (OSError, EOFError, zlib.error) as exc:
            # A damaged gzip file: what was read is imported, the rest is named.
            flush()
            raise EventImportError(
                f"{path.name} cannot be read after line {number}: {exc}"
            ) from exc
        flush()
    return total
