"""Enrichment writes: firmographics and IP-range imports, and filling accounts' company
facts from the configured provider (``accounts.enrichment.get_provider``).

Imports are idempotent upserts (by registrable domain, by network); a row that cannot
be read is kept as an ``ImportRow`` with its line number and a reason naming the column,
never guessed. Rerunning a file replaces that file's kept rows, so the review list shows
the problems of its latest import once.
"""

from __future__ import annotations

import csv
import ipaddress
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from accounts.domains import registrable_domain
from accounts.enrichment import get_provider, network_bounds
from accounts.models import Account, Firmographic, ImportRow, IPRange
from accounts.services.arr import accounts_arr_recompute
from accounts.services.identity import account_set_fields
from accounts.services.imports import CSV_CELL_REASON, csv_row_storable, csv_rows
from pls_portal.cache import generation_bump
from pls_portal.services import JobProgress

logger = logging.getLogger(__name__)

CHUNK = 2000
MAX_EMPLOYEES = 2**31 - 1
MAX_REVENUE = Decimal("1e14")  # Firmographic.annual_revenue: 16 digits, 2 decimals.
# A reason (ImportRow.reason, 300 characters) quotes at most this much of a cell, so that
# the column and the limit always fit: a character may take 10 in Python's repr.
SHOWN = 20

# Header (lower-cased, spaces and hyphens as underscores) → Firmographic field.
FIRMOGRAPHIC_COLUMNS = {
    "domain": "domain",
    "company_name": "company_name",
    "company": "company_name",
    "name": "company_name",
    "employees": "employees",
    "industry": "industry",
    "country": "country",
    "annual_revenue": "annual_revenue",
    "revenue": "annual_revenue",
}
IP_RANGE_COLUMNS = {"cidr": "cidr", "network": "cidr", "domain": "domain", "company": "company"}
ENRICHED_FIELDS = ("name", "employees", "industry", "country", "annual_revenue")


class ImportFileError(Exception):
    """The file as a whole cannot be imported (e.g. a required column is missing)."""


@dataclass
class ImportResult:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_lines: list[int] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (
            f"{self.read} read, {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected"
        )


class _BadRow(Exception):
    """A row that cannot be imported: kept for review with this reason."""


class _BadCell(_BadRow):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column


def _header(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _count_rows(path: Path) -> int:
    with path.open("rb") as raw:
        return max(sum(1 for _ in raw) - 1, 0)


def _shown(value: str) -> str:
    return repr(value if len(value) <= SHOWN else value[:SHOWN] + "…")


def _rows(
    path: Path, columns: dict[str, str], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str] | None, dict]]:
    """(line number, {field: stripped value}, storable raw row) for each non-blank CSV
    row; the values are None for a row with a cell past the CSV cell limit."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as text:
        reader = csv.DictReader(text)
        try:
            headers = reader.fieldnames or []
        except csv.Error as exc:
            raise ImportFileError(f"{path.name}: the header row cannot be read ({exc})") from exc
        mapping = {h: columns[_header(h)] for h in headers if _header(h) in columns}
        missing = [c for c in required if c not in mapping.values()]
        if missing:
            raise ImportFileError(f"{path.name}: missing column {', '.join(missing)}")
        for number, raw, unreadable in csv_rows(reader):
            if unreadable:
                yield number, None, csv_row_storable(raw)
                continue
            values = {target: (raw.get(header) or "").strip() for header, target in mapping.items()}
            if not any(values.values()):
                continue
            yield number, values, csv_row_storable(raw)


def _domain(value: str, column: str = "domain") -> str:
    domain = registrable_domain(value) if value else None
    if not domain:
        raise _BadCell(column, f"{_shown(value)} is not a company domain" if value else "is empty")
    return domain


def _text(values: dict[str, str], name: str, column: str, length: int) -> str:
    value = values.get(name, "")
    if "\x00" in value:
        raise _BadCell(column, "contains a NUL character (\\u0000): not storable text")
    return value[:length]


def _employees(value: str) -> int | None:
    if not value:
        return None
    try:
        number = Decimal(value.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise _BadCell("employees", f"{_shown(value)} is not a whole number") from None
    # NaN and Infinity first: comparing sNaN raises.
    if (
        not number.is_finite()
        or number != number.to_integral_value()
        or not 0 <= number <= MAX_EMPLOYEES
    ):
        raise _BadCell(
            "employees", f"{_shown(value)} is not a whole number from 0 to {MAX_EMPLOYEES}"
        )
    return int(number)


def _revenue(value: str) -> Decimal | None:
    if not value:
        return None
    cleaned = value.replace(",", "").replace("_", "").replace(" ", "").lstrip("$€£")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        amount = Decimal("NaN")
    if amount.is_nan():  # and comparing NaN raises
        raise _BadCell("annual revenue", f"{_shown(value)} is not an amount")
    if Decimal(0) <= amount < MAX_REVENUE:
        # Rounded within the limit only (1e40 has no cents to round to), and checked
        # again: 99999999999999.995 rounds up to it.
        amount = amount.quantize(Decimal("0.01"))
    if not Decimal(0) <= amount < MAX_REVENUE:
        raise _BadCell("annual revenue", f"{_shown(value)} is not between 0 and 10^14")
    return amount


def _reject(*, kind: str, path: Path, number: int, reason: str, row: dict) -> ImportRow:
    return ImportRow(kind=kind, file_name=str(path), line_number=number, reason=reason, row=row)


def _import(
    *,
    path: Path,
    kind: str,
    columns: dict[str, str],
    required: tuple[str, ...],
    parse,
    store,
    progress: JobProgress | None,
) -> ImportResult:
    """Shared reading loop: parse rows, keep bad ones, hand good ones to ``store`` in
    chunks (one transaction per chunk)."""
    result = ImportResult()
    if progress is not None:
        progress.set_total(_count_rows(path))
    good: dict = {}
    bad: list[ImportRow] = []
    replaced = False

    def flush(rows_seen: int) -> None:
        nonlocal replaced
        with transaction.atomic():
            if not replaced:
                # With the first chunk, once the header is read: a file refused as a
                # whole leaves the rows its earlier import kept.
                ImportRow.objects.filter(kind=kind, file_name=str(path)).delete()
                replaced = True
            if good:
                store(good, result)
            ImportRow.objects.bulk_create(bad)
        good.clear()
        bad.clear()
        if progress is not None:
            progress.advance(rows_seen, message=f"Importing {path.name}")

    seen = 0
    for number, values, raw in _rows(path, columns, required):
        result.read += 1
        seen += 1
        try:
            if values is None:
                raise _BadRow(CSV_CELL_REASON)
            key, record = parse(values)
        except _BadRow as exc:
            result.rejected += 1
            result.rejected_lines.append(number)
            bad.append(_reject(kind=kind, path=path, number=number, reason=str(exc), row=raw))
        else:
            # A later line for the same key wins, as it would in a second import.
            good[key] = record
        if len(good) + len(bad) >= CHUNK:
            flush(seen)
            seen = 0
    flush(seen)
    logger.info("import kind=%s path=%s %s", kind, path, result.summary)
    return result


# --- Firmographics ---------------------------------------------------------------------


def _firmographic(values: dict[str, str]) -> tuple[str, dict]:
    domain = _domain(values.get("domain", ""))
    record = {
        "company_name": _text(values, "company_name", "company name", 200),
        "employees": _employees(values.get("employees", "")),
        "industry": _text(values, "industry", "industry", 100),
        "country": _text(values, "country", "country", 100),
        "annual_revenue": _revenue(values.get("annual_revenue", "")),
    }
    return domain, record


def _store_firmographics(records: dict[str, dict], result: ImportResult) -> None:
    """Upsert by domain. A blank cell leaves the stored value: a file with fewer columns
    never erases what an earlier one said."""
    existing = {f.domain: f for f in Firmographic.objects.filter(domain__in=list(records))}
    create, update = [], []
    for domain, record in records.items():
        facts = {k: v for k, v in record.items() if v not in (None, "")}
        row = existing.get(domain)
        if row is None:
            create.append(Firmographic(domain=domain, **facts))
            continue
        if any(getattr(row, k) != v for k, v in facts.items()):
            for k, v in facts.items():
                setattr(row, k, v)
            update.append(row)
        else:
            result.unchanged += 1
    Firmographic.objects.bulk_create(create)
    Firmographic.objects.bulk_update(
        update, ["company_name", "employees", "industry", "country", "annual_revenue"]
    )
    result.created += len(create)
    result.updated += len(update)


def firmographics_import_file(*, path: Path, progress: JobProgress | None = None) -> ImportResult:
    """Import a firmographics CSV: domain, company name (or company, company_name, name),
    employees, industry, country, annual revenue (or annual_revenue, revenue)."""
    return _import(
        path=path,
        kind=ImportRow.Kind.FIRMOGRAPHICS,
        columns=FIRMOGRAPHIC_COLUMNS,
        required=("domain",),
        parse=_firmographic,
        store=_store_firmographics,
        progress=progress,
    )


# --- IP ranges -------------------------------------------------------------------------


def _ip_range(values: dict[str, str]) -> tuple[str, dict]:
    cidr = values.get("cidr", "")
    if not cidr:
        raise _BadCell("cidr", "is empty")
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        network = None
    # A zone index (fe80::%eth0) names a link of one host, not a company's network.
    if network is None or "%" in cidr:
        raise _BadCell("cidr", f"{_shown(cidr)} is not a network")
    first, last = network_bounds(network)
    record = {
        "first": first,
        "last": last,
        "domain": _domain(values.get("domain", "")),
        "company": _text(values, "company", "company", 200),
    }
    return str(network), record


def _store_ip_ranges(records: dict[str, dict], result: ImportResult) -> None:
    existing = {r.network: r for r in IPRange.objects.filter(network__in=list(records))}
    create, update = [], []
    for network, record in records.items():
        row = existing.get(network)
        if row is None:
            create.append(IPRange(network=network, **record))
        elif any(getattr(row, k) != v for k, v in record.items()):
            for k, v in record.items():
                setattr(row, k, v)
            update.append(row)
        else:
            result.unchanged += 1
    IPRange.objects.bulk_create(create)
    IPRange.objects.bulk_update(update, ["first", "last", "domain", "company"])
    if create or update:  # bulk writes send no signal: cached pages see new ranges now
        generation_bump()
    result.created += len(create)
    result.updated += len(update)


def ip_ranges_import_file(*, path: Path, progress: JobProgress | None = None) -> ImportResult:
    """Import a reverse-IP CSV ``cidr,domain,company`` (IPv4 and IPv6; host bits are
    ignored, so 203.0.113.7/24 is stored as 203.0.113.0/24)."""
    return _import(
        path=path,
        kind=ImportRow.Kind.IP_RANGES,
        columns=IP_RANGE_COLUMNS,
        required=("cidr", "domain"),
        parse=_ip_range,
        store=_store_ip_ranges,
        progress=progress,
    )


# --- Enriching accounts ----------------------------------------------------------------


def accounts_enrich(
    *, account_ids: Iterable[int] | None = None, progress: JobProgress | None = None
) -> int:
    """Fill accounts' company facts from the provider, in bulk. Enrichment never
    overwrites a value an admin or a group call set (``account_set_fields``); it fills
    blanks and replaces values guessed from the email domain. Then the accounts' ARR
    potential is recomputed. Returns how many accounts changed."""
    provider = get_provider()
    accounts = Account.objects.filter(merged_into__isnull=True).exclude(domain="").order_by("pk")
    if account_ids is not None:
        account_ids = list(account_ids)
        accounts = accounts.filter(pk__in=account_ids)
    ids = list(accounts.values_list("pk", flat=True))
    if progress is not None:
        progress.set_total(len(ids))
    changed_total = 0
    for start in range(0, len(ids), CHUNK):
        chunk = list(Account.objects.filter(pk__in=ids[start : start + CHUNK]))
        facts = provider.companies_for_domains({a.domain.lower() for a in chunk})
        changed = []
        for account in chunk:
            company = facts.get(account.domain.lower())
            if company is None:
                continue
            values = {
                "name": company.name[:200],
                "employees": company.employees,
                "industry": company.industry[:100],
                "country": company.country[:100],
                "annual_revenue": company.annual_revenue,
            }
            if account_set_fields(account, values, source=Account.Source.ENRICHMENT):
                changed.append(account)
        Account.objects.bulk_update(changed, [*ENRICHED_FIELDS, "field_sources"])
        changed_total += len(changed)
        if progress is not None:
            progress.advance(len(chunk), message=f"{changed_total} accounts enriched")
    accounts_arr_recompute(account_ids=account_ids)
    logger.info("accounts enriched changed=%s of=%s", changed_total, len(ids))
    return changed_total
