"""Fuzzing the enrichment imports (issue 16, "Security"), on PostgreSQL: firmographics and
reverse-IP ranges as CSV.

Hypothesis writes files from nearly valid to hostile (NUL characters, lone surrogates
written as bytes that are not UTF-8, NaN and sNaN, amounts of forty digits, networks with
zone indexes, cells past the CSV cell limit, broken quoting) and imports each one twice:
through the service, then through its management command (``import_firmographics``,
``import_ip_ranges``; these imports have no upload page), as an admin running it again
would. For every file:

- the import ends without an exception, or, for a file that cannot be imported at all
  (a required column missing), with the import's own error naming the file and the
  column, and nothing written;
- every row is stored or kept for review (``ImportRow``) with a reason that names the
  column and the limit it broke; the counts reported are the rows stored and kept;
- what was stored fits its columns (a registrable domain, employees and revenue in
  range, a network whose ends are its own) and is used without error: accounts are
  enriched from the firmographics, anonymous visitors placed in the ranges;
- the admin's pages listing the rows kept for review and the rows stored answer 200;
- the second import stores nothing new and keeps the same rows, not a second copy.

Each example runs in a savepoint rolled back afterwards. Deterministic (``derandomize``).
"""

import io
import ipaddress
import re
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from accounts.domains import registrable_domain
from accounts.enrichment import network_bounds
from accounts.models import Firmographic, ImportRow, IPRange
from accounts.selectors_reverse_ip import anonymous_visitors_by_company
from accounts.services.enrichment import (
    MAX_EMPLOYEES,
    MAX_REVENUE,
    ImportFileError,
    accounts_enrich,
    firmographics_import_file,
    ip_ranges_import_file,
)
from pls_portal.models import Job
from tests.factories import AccountFactory, EventFactory
from tests.reliability.test_fuzz_imports import LONG, _expand, csv_files
from tests.reliability.test_fuzz_ingest import fuzz_settings, isolated, numbers, text

pytestmark = pytest.mark.django_db

# --- what a rejection must say --------------------------------------------------------------

# A cell's value is quoted as Python's repr does it, cut short when long.
VALUE = r"""('([^'\\]|\\.)*'|"([^"\\]|\\.)*")"""
REASONS = {
    "domain": [r"is empty", VALUE + r" is not a company domain"],
    "employees": [
        VALUE + r" is not a whole number",
        VALUE + rf" is not a whole number from 0 to {MAX_EMPLOYEES}",
    ],
    "annual revenue": [VALUE + r" is not an amount", VALUE + r" is not between 0 and 10\^14"],
    "cidr": [r"is empty", VALUE + r" is not a network"],
}
for column in ("company name", "industry", "country", "company"):
    REASONS[column] = [r"contains a NUL character \(\\u0000\): not storable text"]
CELL_LIMIT_REASON = r"line has a cell over 131072 characters \(the CSV cell limit\)"
FILE_ERRORS = [
    r"firmographics\.csv: missing column domain",
    r"ip_ranges\.csv: missing column (cidr|domain|cidr, domain)",
    r"(firmographics|ip_ranges)\.csv: the header row cannot be read \(.+\)",
]
REASON_LENGTH = ImportRow._meta.get_field("reason").max_length
REVIEW_PAGE = "/admin/accounts/importrow/"


def assert_names_column_and_limit(reason: str) -> str:
    """A kept row's reason is one of the known rules, stated for its column; returns the
    column."""
    assert len(reason) <= REASON_LENGTH, reason
    if re.fullmatch(CELL_LIMIT_REASON, reason):
        return "line"
    column, _, rule = reason.partition(": ")
    assert column in REASONS, reason
    assert any(re.fullmatch(pattern, rule) for pattern in REASONS[column]), reason
    return column


def assert_storable(value) -> None:
    """No NUL anywhere (PostgreSQL refuses it in text and jsonb; SQLite would keep it)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert_storable(key)
            assert_storable(item)
    elif isinstance(value, list):
        for item in value:
            assert_storable(item)
    elif isinstance(value, str):
        assert "\x00" not in value, value


# --- strategies -----------------------------------------------------------------------------

DOMAINS = [
    "acme.com",
    "https://www.acme.co.uk/about",
    "globex.com",
    "WWW.Initech.COM",
    "eu.initech.com",
    "münchen.de",
]
COMPANIES = ["Acme", "Acme Ltd", "Globex, Inc.", 'The "Best" Co', "Initech"]
enrichment_cells = st.one_of(
    text,
    text,
    numbers.map(str),
    st.sampled_from(
        [
            "NaN",
            "sNaN",
            "-NaN",
            "Infinity",
            "-Infinity",
            "-1",
            "1.5",
            "1e3",
            "2147483647",
            "2147483648",
            "99999999999999.99",
            "99999999999999.995",
            "1e14",
            "1e40",
            "1e-40",
            "9" * 40,
            "$",
            "€ 1 200",
            "0x10",
            "١٢٣",
        ]
    ),
    st.sampled_from(
        [
            "localhost",
            "127.0.0.1",
            "co.uk",
            "github.io",
            "http://[::1",
            "-acme.com",
            "a" * 64 + ".com",
            "xn--mnchen-3ya.de",
            "acme\x00.com",
            "ann@acme.com",
        ]
    ),
    st.sampled_from(
        [
            "999.1.1.0/24",
            "1.2.3.4/33",
            "1.2.3.4/24/8",
            "2001:db8::/129",
            "::/0",
            "0.0.0.0/0",
            "fe80::%eth0/64",
            "fe80::%" + "x" * 60 + "/64",
            "::ffff:203.0.113.0/120",
        ]
    ),
    st.sampled_from(
        ["X" * 201, "Y" * 301, "\x00", "a\x00b", LONG, "line\nbreak", 'a "q" cell', "a, b"]
    ),
)
domains = st.sampled_from(DOMAINS)
companies = st.sampled_from(COMPANIES)
employees = st.sampled_from(["1,200", "50", "0", "2147483647", "10_000", " 7 "])
revenues = st.sampled_from(["$5,000,000", "100", "99999999999.99", "€ 1 200", "1e13", "0"])
FIRMOGRAPHIC_HEADERS = [
    "domain",
    "Domain",
    "company_name",
    "Company",
    "name",
    "employees",
    "Employees",
    "industry",
    "country",
    "annual_revenue",
    "Annual Revenue",
    "revenue",
    "Notes",
    "website",
]
FIRMOGRAPHIC_COLUMNS = {
    "domain": domains,
    "Domain": domains,
    "company_name": companies,
    "Company": companies,
    "name": companies,
    "employees": employees,
    "Employees": employees,
    "industry": st.sampled_from(["Software", "Manufacturing", "Energy"]),
    "country": st.sampled_from(["US", "UK", "Deutschland"]),
    "annual_revenue": revenues,
    "Annual Revenue": revenues,
    "revenue": revenues,
}
networks = st.sampled_from(
    [
        "203.0.113.7/24",
        "203.0.113.128/25",
        "198.51.100.0/24",
        "2001:db8::/32",
        "10.0.0.0/8",
        "192.0.2.1",
    ]
)
IP_RANGE_HEADERS = ["cidr", "CIDR", "network", "domain", "Domain", "company", "Notes"]
IP_RANGE_COLUMNS = {
    "cidr": networks,
    "CIDR": networks,
    "network": networks,
    "domain": domains,
    "Domain": domains,
    "company": companies,
}


# --- the checks -----------------------------------------------------------------------------


def check_firmographics_stored() -> None:
    for row in Firmographic.objects.all():
        assert row.domain == registrable_domain(row.domain), row.domain
        assert row.employees is None or 0 <= row.employees <= MAX_EMPLOYEES
        assert row.annual_revenue is None or 0 <= row.annual_revenue < MAX_REVENUE
        assert len(row.company_name) <= 200 and len(row.industry) <= 100
        assert len(row.country) <= 100
        for value in (row.domain, row.company_name, row.industry, row.country):
            assert_storable(value)
    accounts_enrich()


def check_ip_ranges_stored() -> None:
    for row in IPRange.objects.all():
        network = ipaddress.ip_network(row.network)
        assert str(network) == row.network and len(row.network) <= 50, row.network
        assert (row.first, row.last) == network_bounds(network), row.network
        assert row.domain == registrable_domain(row.domain), row.domain
        assert len(row.company) <= 200
        assert_storable(row.company)
    anonymous_visitors_by_company(days=30)


def check_import(importer, command, path, kind, model, seen, *, pages) -> None:
    """One file imported by the service, then again by its command; the invariants of the
    module docstring. ``pages``: the admin's client and the page listing what is stored,
    or None when the admin does not look this time."""
    out, err = io.StringIO(), io.StringIO()
    try:
        first = importer(path=path)
    except ImportFileError as error:
        assert any(re.fullmatch(rule, str(error)) for rule in FILE_ERRORS), str(error)
        assert not ImportRow.objects.exists() and not model.objects.exists()
        with pytest.raises(CommandError, match=re.escape(str(error))):
            call_command(command, str(path), stdout=out, stderr=err)
        assert Job.objects.get().state == Job.State.FAILED
        assert not ImportRow.objects.exists() and not model.objects.exists()
        seen["files refused"] += 1
        return
    kept = list(ImportRow.objects.filter(kind=kind).values_list("reason", "line_number", "row"))
    assert len(kept) == first.rejected == len(first.rejected_lines), (first, kept)
    assert sorted(line for _r, line, _row in kept) == sorted(first.rejected_lines)
    for reason, _line, row in kept:
        seen[f"kept: {assert_names_column_and_limit(reason)}"] += 1
        assert_storable(row)
    # A fresh database: every key stored is new. A later line for a key replaces an
    # earlier one in the same file (as a second import would), so rows read may outnumber
    # rows stored and kept.
    assert (first.updated, first.unchanged) == (0, 0), first
    assert model.objects.count() == first.created, first
    assert first.created + first.rejected <= first.read, first
    if kind == ImportRow.Kind.FIRMOGRAPHICS:
        check_firmographics_stored()
    else:
        check_ip_ranges_stored()
    if pages is not None:
        client, stored_page = pages
        for shown, url in ((first.rejected, REVIEW_PAGE), (first.created, stored_page)):
            if shown:
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)
                seen["pages shown"] += 1

    call_command(command, str(path), stdout=out, stderr=err)
    summary = (
        f"{path}: {first.read} read, 0 created, 0 updated, {first.created} unchanged, "
        f"{first.rejected} rejected"
    )
    printed = out.getvalue().splitlines()
    assert printed[0] == summary, (printed, first)
    assert len(printed) == (2 if first.rejected else 1), printed
    if first.rejected:
        assert printed[1].startswith(f"  rejected lines: {first.rejected_lines[0]}"), printed
    job = Job.objects.get()
    assert (job.state, job.result["rejected_lines"]) == (Job.State.DONE, first.rejected_lines)
    assert model.objects.count() == first.created
    assert ImportRow.objects.filter(kind=kind).count() == first.rejected
    seen["stored"] += first.created
    seen["superseded"] += first.read - first.created - first.rejected
    seen["files"] += 1


def _fuzz(tmp_path, facts, client, *, name, importer, command, kind, model, page, files):
    seen: Counter = Counter()

    # The admin pages are the slowest step: the admin looks after half of the imports.
    @fuzz_settings(examples=750)
    @given(files, st.booleans())
    def run(content, look):
        path = tmp_path / name
        path.write_bytes(_expand(content).encode("utf-8", "surrogatepass"))
        with isolated():
            pages = (client, page) if look else None
            check_import(importer, command, path, kind, model, seen, pages=pages)
        seen["cases"] += 1

    run()
    facts("; ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    assert seen["stored"] and seen["superseded"] and seen["files refused"], seen
    assert seen["kept: line"], seen
    return seen


def test_fuzzed_firmographics_files_import_without_errors_and_every_kept_row_names_its_limit(
    tmp_path, facts, client, admin_user
):
    for domain in ("acme.com", "acme.co.uk", "globex.com", "initech.com"):
        AccountFactory(name=domain.split(".")[0], domain=domain)
    client.force_login(admin_user)
    seen = _fuzz(
        tmp_path,
        facts,
        client,
        name="firmographics.csv",
        importer=firmographics_import_file,
        command="import_firmographics",
        kind=ImportRow.Kind.FIRMOGRAPHICS,
        model=Firmographic,
        page="/admin/accounts/firmographic/",
        files=csv_files(
            FIRMOGRAPHIC_HEADERS, FIRMOGRAPHIC_COLUMNS, enrichment_cells, core=("domain",)
        ),
    )
    for column in ("domain", "employees", "annual revenue", "company name"):
        assert seen[f"kept: {column}"], (column, seen)


def test_fuzzed_ip_range_files_import_without_errors_and_every_kept_row_names_its_limit(
    tmp_path, facts, client, admin_user
):
    when = timezone.now()
    for ip, visitor in [("203.0.113.5", "a1"), ("2001:db8::1", "g1"), ("10.1.2.3", "x1")]:
        EventFactory(user=None, account=None, anonymous_id=visitor, context_ip=ip, timestamp=when)
    client.force_login(admin_user)
    seen = _fuzz(
        tmp_path,
        facts,
        client,
        name="ip_ranges.csv",
        importer=ip_ranges_import_file,
        command="import_ip_ranges",
        kind=ImportRow.Kind.IP_RANGES,
        model=IPRange,
        page="/admin/accounts/iprange/",
        files=csv_files(
            IP_RANGE_HEADERS, IP_RANGE_COLUMNS, enrichment_cells, core=("cidr", "domain")
        ),
    )
    for column in ("cidr", "domain", "company"):
        assert seen[f"kept: {column}"], (column, seen)


@pytest.mark.parametrize(
    "refused",
    [
        ("company,employees\nAcme,5\n", r"firmographics\.csv: missing column domain"),
        ("domain," + "h" * 2_200_000 + "\nacme.com\n", r"the header row cannot be read"),
    ],
    ids=["no domain column", "header past the CSV parser's limit"],
)
def test_a_refused_file_changes_nothing_and_keeps_the_rows_its_earlier_import_kept(
    tmp_path, refused
):
    content, error = refused
    path = tmp_path / "firmographics.csv"
    path.write_text("domain,employees\nacme.com,lots\n")
    assert firmographics_import_file(path=path).rejected == 1
    path.write_text(content)
    with pytest.raises(ImportFileError, match=error):
        firmographics_import_file(path=path)
    assert ImportRow.objects.get().reason == "employees: 'lots' is not a whole number"
    assert not Firmographic.objects.exists()
