"""CRM imports: deals and contacts from CSV exports (the documented layout, Salesforce
and HubSpot headers), matched to accounts by domain, then by exact name, never guessed.

Files are read row by row and written in chunks, with one query per chunk for each
lookup (domains, names, existing rows, owners), so memory stays bounded however long the
file. A row that matches no account, or cannot be read, is kept as an ``ImportRow`` with
its line number and reason. Reruns of the same file update what they created. The
layouts, aliases and rules are documented in docs/crm_imports.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.domains import company_domain, email_domain, registrable_domain
from accounts.ingest import EARLIEST, LATEST, printable
from accounts.models import Account, AccountDomain, Contact, Deal, ImportRow, ProductUser
from accounts.services.imports import csv_row_storable, csv_rows
from pls_portal.models import User
from pls_portal.services import JobProgress

logger = logging.getLogger(__name__)

CHUNK = 500
_ARR = Deal._meta.get_field("arr")
# The largest amount the deal amount column holds: 999999999999.99.
ARR_LIMIT = Decimal(10) ** (_ARR.max_digits - _ARR.decimal_places) - Decimal(10) ** (
    -_ARR.decimal_places
)
EXTERNAL_ID_LENGTH = Deal._meta.get_field("external_id").max_length
# Set by ``_rows`` on a row that cannot be imported as it is (a cell too long, a NUL).
PROBLEM = "_problem"

# Normalised header (lower case, "_" as space, single spaces) → canonical field.
DEAL_ALIASES = {
    "external id": "external_id",
    "opportunity id": "external_id",
    "record id": "external_id",
    "deal id": "external_id",
    "name": "name",
    "opportunity name": "name",
    "deal name": "name",
    "account": "account",
    "account name": "account",
    "associated company": "account",
    "company name": "account",
    "website": "website",
    "arr": "arr",
    "amount": "arr",
    "currency": "currency",
    "opportunity currency": "currency",
    "stage": "stage",
    "deal stage": "stage",
    "source": "source",
    "lead source": "source",
    "motion": "motion",
    "type": "type",
    "opened": "opened",
    "created date": "opened",
    "create date": "opened",
    "closed": "closed",
    "close date": "closed",
    "owner email": "owner_email",
}
CONTACT_ALIASES = {
    "name": "name",
    "first name": "first_name",
    "last name": "last_name",
    "email": "email",
    "title": "title",
    "job title": "title",
    "department": "department",
    "seniority": "seniority",
    "account": "account",
    "account name": "account",
    "company name": "account",
    "associated company": "account",
    "website": "website",
    "notes": "notes",
}

STAGES = {"closed won": "won", "closedwon": "won", "won": "won"}
STAGES |= {"closed lost": "lost", "closedlost": "lost", "lost": "lost"}
# Lead source keywords, checked in this order; no keyword gives the default, outbound.
SOURCE_KEYWORDS = (
    (Deal.Source.INBOUND, ("inbound", "web", "website", "demo", "contact")),
    (Deal.Source.OUTBOUND, ("outbound", "cold", "sdr", "prospect")),
    (Deal.Source.EXPANSION, ("expansion", "upsell", "existing")),
    (Deal.Source.PQL, ("pql", "product")),
)
DEFAULT_SOURCE = Deal.Source.OUTBOUND
# Currency symbols, thousands separators and a leading or trailing ISO code ("USD 1,200").
_AMOUNT_NOISE = re.compile(r"[\s,$€£¥]|^[A-Z]{3}(?=[\s\d$€£¥-])|(?<=[\d\s])[A-Z]{3}$")


class CrmImportError(Exception):
    """The file as a whole cannot be imported; the message says why."""


@dataclass
class CrmImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unmatched: int = 0
    unmatched_lines: list[int] = field(default_factory=list)
    other_currency: int = 0


class _RowProblem(Exception):
    """One row cannot be read; kept as an ImportRow with this reason."""


# --- reading ---------------------------------------------------------------------------


def _header(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).lower()


def _rows(path: Path, aliases: dict, raw) -> Iterator[tuple[int, dict, dict]]:
    """(line number, canonical fields, raw row) for each non-empty row of the file. A row
    that cannot be imported as it is carries the reason as ``fields[PROBLEM]``, and its
    raw row is kept storable (NUL characters as their escape)."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    try:
        headers = reader.fieldnames or []
    except UnicodeDecodeError as exc:
        raise CrmImportError(f"{path.name} is not UTF-8 text: save it as CSV UTF-8") from exc
    except csv.Error as exc:
        raise CrmImportError(f"{path.name}: the header row cannot be read ({exc})") from exc
    columns = {h: aliases.get(_header(h)) for h in headers if h is not None}
    try:
        for line, row, unreadable in csv_rows(reader):
            if unreadable:
                yield line, {PROBLEM: unreadable}, csv_row_storable(row)
                continue
            if not any((v or "").strip() for k, v in row.items() if k is not None):
                continue
            fields: dict[str, str] = {}
            for header, canonical in columns.items():
                value = (row.get(header) or "").strip()
                # The first non-empty column wins when two headers alias one field.
                if canonical and value and canonical not in fields:
                    fields[canonical] = value
            if nul := next((k for k, v in row.items() if k and v and "\x00" in v), None):
                reason = f"{printable(nul)} contains a NUL character (\\u0000): not storable text"
                fields = {PROBLEM: reason}
            yield line, fields, csv_row_storable(row)
    except UnicodeDecodeError as exc:
        raise CrmImportError(
            f"{path.name} is not UTF-8 text after line {reader.line_num}: save it as CSV UTF-8"
        ) from exc


def _chunks(path: Path, aliases: dict, progress: JobProgress | None):
    """The file's rows in chunks of ``CHUNK``; ``progress`` counts bytes on disk."""
    size = path.stat().st_size
    with path.open("rb") as raw:
        if progress is not None:
            progress.set_total(size)
        reported = 0
        chunk: list[tuple[int, dict, dict]] = []
        for item in _rows(path, aliases, raw):
            chunk.append(item)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
                if progress is not None:
                    progress.advance(raw.tell() - reported, message=f"Importing {path.name}")
                    reported = raw.tell()
        if chunk:
            yield chunk
        if progress is not None:
            # The exhausted text reader has closed the file: the rest is its size.
            progress.advance(size - reported, message=f"Importing {path.name}")


def _check_headers(path: Path, aliases: dict, wanted: set[str]) -> None:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as text:
        try:
            headers = next(csv.reader(text), [])
        except csv.Error as exc:
            raise CrmImportError(f"{path.name}: the header row cannot be read ({exc})") from exc
    found = {aliases.get(_header(h)) for h in headers}
    if not found & wanted:
        raise CrmImportError(
            f"{path.name} has none of the columns {', '.join(sorted(wanted))} "
            "(layouts in docs/crm_imports.md)"
        )


def _amount(value: str) -> Decimal:
    text = _AMOUNT_NOISE.sub("", value)
    if not text:
        return Decimal("0.00")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise _RowProblem(f"amount '{value[:40]}' is not a number")
    if abs(amount) > ARR_LIMIT:
        raise _RowProblem(f"amount '{value[:40]}' is over the limit of {ARR_LIMIT}")
    return amount.quantize(Decimal("0.01"))


def _date(value: str, column: str) -> date | None:
    text = value.strip()
    if not text:
        return None
    day = None
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text[:10])
        elif m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T].*)?", text):
            day = date(int(m[3]), int(m[1]), int(m[2]))
        elif m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T].*)?", text):
            day = date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        pass
    if day is None:
        raise _RowProblem(f"{column} date '{text[:40]}' is not YYYY-MM-DD, M/D/YYYY or D.M.YYYY")
    if not EARLIEST.date() <= day < LATEST.date():
        raise _RowProblem(
            f"{column} date '{text[:40]}' must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
        )
    return day


def _moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.get_current_timezone())


def deal_source(lead_source: str) -> str:
    text = lead_source.lower()
    for source, words in SOURCE_KEYWORDS:
        if any(word in text for word in words):
            return source
    return DEFAULT_SOURCE


# --- matching --------------------------------------------------------------------------


def _survivors(account_ids: set[int]) -> dict[int, int]:
    """Each account id → the account it was (finally) merged into, or itself."""
    parent: dict[int, int | None] = {}
    pending = set(account_ids)
    while pending:
        rows = dict(Account.objects.filter(pk__in=pending).values_list("pk", "merged_into_id"))
        parent.update(rows)
        pending = {m for m in rows.values() if m and m not in parent}
    result = {}
    for pk in account_ids:
        current, seen = pk, set()
        while parent.get(current) and current not in seen:
            seen.add(current)
            current = parent[current]
        result[pk] = current
    return result


class _Matcher:
    """Accounts for one chunk's domains and names, in two queries plus merges."""

    def __init__(self, domains: set[str], names: set[str]) -> None:
        by_domain = dict(
            AccountDomain.objects.filter(domain__in=domains).values_list("domain", "account_id")
        )
        named: dict[str, set[int]] = {}
        for lname, pk in (
            Account.objects.annotate(lname=Lower("name"))
            .filter(lname__in=names)
            .values_list("lname", "pk")
        ):
            named.setdefault(lname, set()).add(pk)
        survivors = _survivors(set(by_domain.values()) | {pk for s in named.values() for pk in s})
        self.by_domain = {d: survivors[pk] for d, pk in by_domain.items()}
        self.by_name = {n: {survivors[pk] for pk in pks} for n, pks in named.items()}

    def match(self, domains: list[tuple[str, str]], name: str) -> int:
        """The account id for the first domain that has one, else the one account with
        this exact name; ``_RowProblem`` saying what was tried otherwise."""
        for _column, domain in domains:
            if domain in self.by_domain:
                return self.by_domain[domain]
        tried = [f"domain {d}" for _c, d in domains]
        if name:
            accounts = self.by_name.get(name.lower(), set())
            if len(accounts) == 1:
                return next(iter(accounts))
            if len(accounts) > 1:
                tried.append(f"name {name} ({len(accounts)} accounts have it: not guessed)")
                raise _RowProblem("no account with " + " or ".join(tried))
            tried.append(f"name {name}")
        if not tried:
            raise _RowProblem("no website, email domain or account name to match")
        raise _RowProblem("no account with " + " or ".join(tried))


def _keep(kind: str, path: Path, chunk, problems: dict[int, str], result) -> None:
    """Replace the review rows of this chunk's lines (a rerun must not pile them up)."""
    lines = [line for line, _f, _r in chunk]
    ImportRow.objects.filter(kind=kind, file_name=path.name, line_number__in=lines).delete()
    ImportRow.objects.bulk_create(
        ImportRow(kind=kind, file_name=path.name, line_number=line, reason=reason[:300], row=raw)
        for line, _f, raw in chunk
        if (reason := problems.get(line))
    )
    for line in sorted(problems):
        logger.info("crm import row kept kind=%s file=%s line=%s", kind, path.name, line)
    result.unmatched += len(problems)
    result.unmatched_lines.extend(sorted(problems))


# --- deals -----------------------------------------------------------------------------


def _derived_external_id(fields: dict) -> str:
    key = "\x1f".join(
        fields.get(k, "").strip().lower() for k in ("name", "account", "website", "opened")
    )
    return "csv:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _check_row(fields: dict) -> None:
    if PROBLEM in fields:
        raise _RowProblem(fields[PROBLEM])
    if len(fields.get("external_id", "")) > EXTERNAL_ID_LENGTH:
        raise _RowProblem(f"external_id is longer than {EXTERNAL_ID_LENGTH} characters")


def _deal_values(fields: dict) -> dict:
    stage = STAGES.get(fields.get("stage", "").lower(), Deal.Stage.OPEN)
    opened = _date(fields.get("opened", ""), "opened")
    closed = _date(fields.get("closed", ""), "closed")
    currency = (fields.get("currency") or settings.PLS_CURRENCY).upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise _RowProblem(f"currency '{currency[:20]}' is not a 3-letter code")
    kind = fields.get("type", "").lower()
    lead = fields.get("source", "")
    source = deal_source(lead) if lead or "existing" not in kind else Deal.Source.EXPANSION
    if "downgrade" in kind:
        change = Deal.Change.DOWNGRADE
    elif "existing" in kind or "upgrade" in kind or "upsell" in kind:
        change = Deal.Change.UPGRADE
    else:
        change = Deal.Change.NEW
    values = {
        "name": fields.get("name", "")[:200],
        "motion": Deal.Motion.SALES_ASSISTED,
        "source": source,
        "stage": stage,
        "change": change,
        "arr": _amount(fields.get("arr", "")),
        "currency": currency,
        "closed_at": None,
    }
    if opened is not None:
        values["opened_at"] = _moment(opened)
    if stage != Deal.Stage.OPEN:
        # A closed deal without a close date closed when it opened (or, with neither
        # date, when it was imported).
        day = closed or opened
        values["closed_at"] = _moment(day) if day else timezone.now()
    return values


def deals_import_file(*, path: Path, progress: JobProgress | None = None) -> CrmImportResult:
    """Import a CSV of deals; rows matching no account are kept for review."""
    _check_headers(path, DEAL_ALIASES, {"account", "website"})
    result = CrmImportResult()
    owner_accounts: set[int] = set()
    for chunk in _chunks(path, DEAL_ALIASES, progress):
        result.rows += len(chunk)
        domains = {registrable_domain(f["website"]) for _l, f, _r in chunk if f.get("website")} - {
            None
        }
        names = {f["account"].lower() for _l, f, _r in chunk if f.get("account")}
        owner_emails = {f["owner_email"].lower() for _l, f, _r in chunk if f.get("owner_email")}
        ids = {f.get("external_id") or _derived_external_id(f) for _l, f, _r in chunk}
        matcher = _Matcher(domains, names)
        owners: dict[str, int] = {}
        for email, pk in (
            User.objects.annotate(lemail=Lower("email"))
            .filter(lemail__in=owner_emails)
            .order_by("-pk")
            .values_list("lemail", "pk")
        ):
            owners[email] = pk
        existing = {d.external_id: d for d in Deal.objects.filter(external_id__in=ids)}
        problems: dict[int, str] = {}
        creates: dict[str, Deal] = {}
        updates: dict[str, Deal] = {}
        for line, fields, _raw in chunk:
            try:
                _check_row(fields)
                website = fields.get("website", "")
                domain = registrable_domain(website) if website else None
                if website and domain is None:
                    raise _RowProblem(f"website '{website[:60]}' has no company domain")
                values = _deal_values(fields)
                values["account_id"] = matcher.match(
                    [("website", domain)] if domain else [], fields.get("account", "")
                )
            except _RowProblem as problem:
                problems[line] = str(problem)
                continue
            owner_id = owners.get(fields.get("owner_email", "").lower())
            if owner_id:
                values["owner_id"] = owner_id
            external_id = fields.get("external_id") or _derived_external_id(fields)
            deal = creates.get(external_id) or updates.get(external_id) or existing.get(external_id)
            if deal is None:
                values.setdefault("opened_at", values["closed_at"] or timezone.now())
                deal = Deal(external_id=external_id, **values)
                creates[external_id] = deal
                result.created += 1
            else:
                for name, value in values.items():
                    setattr(deal, name, value)
                if deal.pk:
                    updates[external_id] = deal
                result.updated += 1
            if values["currency"] != settings.PLS_CURRENCY:
                result.other_currency += 1
            if deal.stage == Deal.Stage.WON and deal.owner_id:
                owner_accounts.add(deal.account_id)
        with transaction.atomic():
            _keep(ImportRow.Kind.DEALS, path, chunk, problems, result)
            Deal.objects.bulk_create(creates.values())
            now = timezone.now()
            for deal in updates.values():
                deal.updated_at = now
            Deal.objects.bulk_update(
                updates.values(),
                fields=[
                    "account",
                    "name",
                    "motion",
                    "source",
                    "stage",
                    "change",
                    "arr",
                    "currency",
                    "opened_at",
                    "closed_at",
                    "owner",
                    "updated_at",
                ],
            )
    _owners_refresh(owner_accounts)
    return result


def _owners_refresh(account_ids: set[int]) -> None:
    """Account owner = owner of its latest won sales deal, as ``deal_close`` keeps it."""
    latest = Deal.objects.filter(
        account=OuterRef("pk"),
        stage=Deal.Stage.WON,
        motion=Deal.Motion.SALES_ASSISTED,
        owner__isnull=False,
    ).order_by("-closed_at", "-pk")
    ordered = sorted(account_ids)
    for start in range(0, len(ordered), CHUNK):
        Account.objects.filter(pk__in=ordered[start : start + CHUNK]).filter(Exists(latest)).update(
            owner=Subquery(latest.values("owner")[:1])
        )


# --- contacts --------------------------------------------------------------------------

CONTACT_FIELDS = {"name": 200, "title": 200, "department": 100, "seniority": 50}


def contacts_import_file(*, path: Path, progress: JobProgress | None = None) -> CrmImportResult:
    """Import a CSV of contacts; rows matching no account are kept for review."""
    _check_headers(path, CONTACT_ALIASES, {"email", "account", "website"})
    result = CrmImportResult()
    for chunk in _chunks(path, CONTACT_ALIASES, progress):
        result.rows += len(chunk)
        emails = {f["email"].lower() for _l, f, _r in chunk if f.get("email")}
        domains = {company_domain(e) for e in emails} | {
            registrable_domain(f["website"]) for _l, f, _r in chunk if f.get("website")
        }
        names = {f["account"].lower() for _l, f, _r in chunk if f.get("account")}
        matcher = _Matcher(domains - {None}, names)
        users: dict[str, list[tuple[int, int | None]]] = {}
        for email, pk, account_id in (
            ProductUser.objects.annotate(lemail=Lower("email"))
            .filter(lemail__in=emails)
            .order_by("pk")
            .values_list("lemail", "pk", "account_id")
        ):
            users.setdefault(email, []).append((pk, account_id))
        problems: dict[int, str] = {}
        matched: list[tuple[int, dict]] = []
        for line, fields, _raw in chunk:
            try:
                matched.append((line, _contact_values(fields, matcher)))
            except _RowProblem as problem:
                problems[line] = str(problem)
        accounts = {values["account_id"] for _l, values in matched}
        existing: dict[tuple[int, str], Contact] = {}
        person_names = {v["name"].lower() for _l, v in matched if not v["email"]}
        for contact in (
            Contact.objects.annotate(lemail=Lower("email"), lname=Lower("name"))
            .filter(account_id__in=accounts)
            .filter(Q(lemail__in=emails) | Q(email="", lname__in=person_names))
            .order_by("pk")
        ):
            key = contact.email.lower() or f"name:{contact.name.lower()}"
            existing.setdefault((contact.account_id, key), contact)
        creates: dict[tuple, Contact] = {}
        updates: dict[tuple, Contact] = {}
        for _line, values in matched:
            key = (values["account_id"], values["email"] or f"name:{values['name'].lower()}")
            candidates = users.get(values["email"], [])
            on_account = [pk for pk, acc in candidates if acc == values["account_id"]]
            product_user = (on_account or [pk for pk, _a in candidates] or [None])[0]
            contact = creates.get(key) or updates.get(key) or existing.get(key)
            if contact is None:
                contact = Contact(source=Contact.Source.CRM, **values)
                creates[key] = contact
                result.created += 1
            else:
                # An export without a column (no seniority in Salesforce) keeps what we have.
                for name, value in values.items():
                    if value:
                        setattr(contact, name, value)
                if contact.pk:
                    updates[key] = contact
                result.updated += 1
            if product_user:
                contact.product_user_id = product_user
        with transaction.atomic():
            _keep(ImportRow.Kind.CONTACTS, path, chunk, problems, result)
            Contact.objects.bulk_create(creates.values())
            Contact.objects.bulk_update(
                updates.values(), fields=[*CONTACT_FIELDS, "email", "notes", "product_user"]
            )
    return result


def _contact_values(fields: dict, matcher: _Matcher) -> dict:
    if PROBLEM in fields:
        raise _RowProblem(fields[PROBLEM])
    email = fields.get("email", "").lower()
    if email and (len(email) > 254 or email_domain(email) is None):
        raise _RowProblem(f"email '{email[:60]}' is not an email address")
    name = fields.get("name") or " ".join(
        part for part in (fields.get("first_name"), fields.get("last_name")) if part
    )
    if not email and not name:
        raise _RowProblem("no email or name")
    domains = []
    if email and (domain := company_domain(email)):
        domains.append(("email", domain))
    if website := fields.get("website", ""):
        domain = registrable_domain(website)
        if domain is None:
            raise _RowProblem(f"website '{website[:60]}' has no company domain")
        domains.append(("website", domain))
    values = {k: fields.get(k, name if k == "name" else "")[:n] for k, n in CONTACT_FIELDS.items()}
    values |= {"email": email, "notes": fields.get("notes", "")}
    values["account_id"] = matcher.match(domains, fields.get("account", ""))
    return values
