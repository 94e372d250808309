import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.enrichment import CompanyFacts, ImportedTablesProvider, get_provider, ip_key
from accounts.models import (
    AccountUserDay,
    Firmographic,
    ImportRow,
    IPRange,
    Plan,
)
from accounts.selectors_reverse_ip import anonymous_visitors_by_company
from accounts.services.arr import accounts_arr_recompute, arr_potential
from accounts.services.enrichment import (
    accounts_enrich,
    firmographics_import_file,
    ip_ranges_import_file,
)
from tests.factories import AccountFactory, EventFactory, ProductUserFactory

pytestmark = pytest.mark.django_db


class StaticProvider:
    """Another implementation of the provider interface: a fixed answer for one domain."""

    def company_for_domain(self, domain):
        return self.companies_for_domains([domain]).get(domain)

    def companies_for_domains(self, domains):
        facts = CompanyFacts(domain="initech.com", name="Initech", employees=4200)
        return {d: facts for d in domains if d == "initech.com"}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# The rejections the fuzzing found (tests/reliability/test_fuzz_enrichment.py, PostgreSQL
# only), pinned here for both databases.
CELL_LIMIT_REASON = "line has a cell over 131072 characters (the CSV cell limit)"
NUL_REASON = "contains a NUL character (\\u0000): not storable text"


def kept_reasons(kind="firmographics"):
    return dict(ImportRow.objects.filter(kind=kind).values_list("line_number", "reason"))


# --- firmographics import --------------------------------------------------------------


def test_firmographics_import_reads_aliases_and_keeps_bad_rows_with_line_number(tmp_path):
    path = write(
        tmp_path,
        "firmo.csv",
        "Domain,Company,Employees,Industry,Country,Revenue\n"
        'https://www.acme.co.uk/about,Acme Ltd,"1,200",Manufacturing,UK,"$5,000,000"\n'
        "initech.com,Initech,lots,Software,US,100\n"
        "globex.com,Globex,300,Energy,US,abc\n",
    )
    result = firmographics_import_file(path=path)

    assert (result.read, result.created, result.rejected) == (3, 1, 2)
    acme = Firmographic.objects.get()
    assert acme.domain == "acme.co.uk"
    assert acme.company_name == "Acme Ltd"
    assert acme.employees == 1200
    assert acme.annual_revenue == Decimal("5000000.00")
    rows = {r.line_number: r for r in ImportRow.objects.filter(kind="firmographics")}
    assert set(rows) == {3, 4}
    assert rows[3].reason.startswith("employees:")
    assert rows[4].reason.startswith("annual revenue:")
    assert rows[3].row["Domain"] == "initech.com"


def test_firmographics_import_twice_is_idempotent_and_updates_changed_rows(tmp_path):
    first = write(tmp_path, "a.csv", "domain,company_name,employees\nacme.com,Acme,10\nx.com,,\n")
    firmographics_import_file(path=first)
    again = firmographics_import_file(path=first)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert Firmographic.objects.count() == 2

    second = write(tmp_path, "b.csv", "domain,name,annual_revenue\nacme.com,Acme Inc,\n")
    result = firmographics_import_file(path=second)
    acme = Firmographic.objects.get(domain="acme.com")
    assert result.updated == 1
    # A blank cell leaves what the earlier file said.
    assert (acme.company_name, acme.employees) == ("Acme Inc", 10)


def test_firmographics_import_rerun_keeps_one_copy_of_each_bad_row(tmp_path):
    path = write(tmp_path, "a.csv", "domain,employees\nnot a domain,5\n")
    firmographics_import_file(path=path)
    firmographics_import_file(path=path)
    row = ImportRow.objects.get()
    assert (row.line_number, row.reason.split(":")[0]) == (2, "domain")


def test_import_firmographics_command_refuses_missing_file_and_missing_column(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_firmographics", str(tmp_path / "nope.csv"))
    path = write(tmp_path, "a.csv", "company,employees\nAcme,5\n")
    with pytest.raises(CommandError, match="missing column domain"):
        call_command("import_firmographics", str(path))


def test_a_nul_character_in_a_firmographics_text_cell_is_kept_for_review_naming_it(tmp_path):
    path = write(
        tmp_path,
        "firmo.csv",
        "domain,company_name,industry,country\n"
        "acme.com,Ac\x00me,Manufacturing,US\n"
        "globex.com,Globex,Ener\x00gy,US\n"
        "initech.com,Initech,Software,U\x00S\n"
        "hooli.com,Hooli,Software,US\n",
    )
    result = firmographics_import_file(path=path)

    assert (result.read, result.created, result.rejected) == (4, 1, 3)
    assert kept_reasons() == {
        2: f"company name: {NUL_REASON}",
        3: f"industry: {NUL_REASON}",
        4: f"country: {NUL_REASON}",
    }
    hooli = Firmographic.objects.get()
    assert (hooli.domain, hooli.company_name, hooli.industry) == ("hooli.com", "Hooli", "Software")


def test_a_row_kept_for_review_keeps_its_nul_characters_as_their_escape(tmp_path):
    path = write(
        tmp_path,
        "firmo.csv",
        "domain,employees,notes\n"
        "acme\x00.com,10,fine\n"
        "globex.com,lots,see\x00here\n"
        "initech.com,many,,past\x00the header\n"
        "hooli.com,40,\x00\n",
    )
    result = firmographics_import_file(path=path)

    assert (result.read, result.created, result.rejected_lines) == (4, 1, [2, 3, 4])
    assert kept_reasons() == {
        2: "domain: 'acme\\x00.com' is not a company domain",
        3: "employees: 'lots' is not a whole number",
        4: "employees: 'many' is not a whole number",
    }
    # PostgreSQL's jsonb holds no NUL: the review list shows its escape, and the cells
    # past the header are kept too.
    assert {r.line_number: r.row for r in ImportRow.objects.all()} == {
        2: {"domain": "acme\\u0000.com", "employees": "10", "notes": "fine"},
        3: {"domain": "globex.com", "employees": "lots", "notes": "see\\u0000here"},
        4: {
            "domain": "initech.com",
            "employees": "many",
            "notes": "",
            "_extra": ["past\\u0000the header"],
        },
    }
    assert Firmographic.objects.get().employees == 40


@pytest.mark.parametrize(
    ("importer", "text"),
    [
        (
            firmographics_import_file,
            "domain,company_name\n"
            f'acme.com,"{"n" * 140_000}"\n'
            f"{'h' * 2_200_000}\n"
            "globex.com,Globex\n",
        ),
        (
            ip_ranges_import_file,
            "cidr,domain,company\n"
            f'203.0.113.0/24,acme.com,"{"n" * 140_000}"\n'
            f"{'h' * 2_200_000}\n"
            "198.51.100.0/24,globex.com,Globex\n",
        ),
    ],
    ids=["firmographics", "ip ranges"],
)
def test_a_row_with_a_cell_over_the_csv_cell_limit_is_kept_for_review(tmp_path, importer, text):
    result = importer(path=write(tmp_path, "data.csv", text))

    assert (result.read, result.created, result.rejected_lines) == (3, 1, [2, 3])
    kind = "firmographics" if importer is firmographics_import_file else "ip_ranges"
    assert kept_reasons(kind) == {2: CELL_LIMIT_REASON, 3: CELL_LIMIT_REASON}
    # The row is kept for review with its long cell cut short, saying how long it was.
    kept = ImportRow.objects.get(line_number=2).row
    assert kept["domain"] == "acme.com"
    assert kept["company_name" if kind == "firmographics" else "company"].endswith(
        "… (140000 characters)"
    )
    model = Firmographic if kind == "firmographics" else IPRange
    assert list(model.objects.values_list("domain", flat=True)) == ["globex.com"]


def test_a_long_bad_value_is_quoted_short_so_the_reason_names_the_column_and_limit(tmp_path):
    wide, quoted = "\U000e0001", "\\U000e0001"  # Python's repr writes it in 10
    path = write(
        tmp_path,
        "firmo.csv",
        "domain,employees,annual_revenue\n"
        f"{'d' * 5000}.com,10,\n"
        f"acme.com,{'9' * 5000},\n"
        f"globex.com,{wide * 5000},\n"
        f"initech.com,,{'1' * 5000}x\n",
    )
    result = firmographics_import_file(path=path)

    assert (result.created, result.rejected_lines) == (0, [2, 3, 4, 5])
    reasons = kept_reasons()
    assert reasons == {
        2: f"domain: '{'d' * 20}…' is not a company domain",
        3: f"employees: '{'9' * 20}…' is not a whole number from 0 to 2147483647",
        4: f"employees: '{quoted * 20}…' is not a whole number",
        5: f"annual revenue: '{'1' * 20}…' is not an amount",
    }
    assert max(len(reason) for reason in reasons.values()) <= 300


def test_nan_infinity_and_amounts_past_the_columns_are_kept_for_review_naming_the_limit(
    tmp_path,
):
    path = write(
        tmp_path,
        "firmo.csv",
        "domain,employees,annual_revenue\n"
        "acme.com,,NaN\n"
        "globex.com,sNaN,\n"
        "initech.com,Infinity,\n"
        "hooli.com,,1e40\n"
        "umbrella.com,,99999999999999.995\n"
        "stark.com,2147483647,12000000.50\n",
    )
    result = firmographics_import_file(path=path)

    assert (result.read, result.created, result.rejected_lines) == (6, 1, [2, 3, 4, 5, 6])
    assert kept_reasons() == {
        2: "annual revenue: 'NaN' is not an amount",
        3: "employees: 'sNaN' is not a whole number from 0 to 2147483647",
        4: "employees: 'Infinity' is not a whole number from 0 to 2147483647",
        5: "annual revenue: '1e40' is not between 0 and 10^14",
        # Rounded to cents it would be 10^14, which the column cannot hold.
        6: "annual revenue: '99999999999999.995' is not between 0 and 10^14",
    }
    stark = Firmographic.objects.get()
    assert (stark.domain, stark.employees, stark.annual_revenue) == (
        "stark.com",
        2147483647,
        Decimal("12000000.50"),
    )


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("company,employees\nAcme,5\n", "firmo.csv: missing column domain"),
        ("domain," + "h" * 2_200_000 + "\nacme.com\n", "firmo.csv: the header row cannot be read"),
    ],
    ids=["no domain column", "header past the CSV parser's limit"],
)
def test_a_refused_file_keeps_the_rows_its_earlier_import_kept(tmp_path, content, error):
    path = write(tmp_path, "firmo.csv", "domain,employees\nacme.com,lots\nglobex.com,5\n")
    call_command("import_firmographics", str(path))
    write(tmp_path, "firmo.csv", content)

    with pytest.raises(CommandError, match=f"^{re.escape(error)}"):
        call_command("import_firmographics", str(path))

    assert kept_reasons() == {2: "employees: 'lots' is not a whole number"}
    assert list(Firmographic.objects.values_list("domain", "employees")) == [("globex.com", 5)]


# --- enrichment ------------------------------------------------------------------------


def test_enrichment_fills_blank_and_domain_guessed_fields_but_not_admin_or_group_ones():
    Firmographic.objects.create(
        domain="acme.com",
        company_name="Acme Corporation",
        employees=800,
        industry="Manufacturing",
        country="US",
        annual_revenue=Decimal("9000000"),
    )
    account = AccountFactory(
        name="Acme",
        domain="acme.com",
        industry="Rockets",
        employees=42,
        field_sources={"name": "domain", "industry": "admin", "employees": "group"},
    )
    untouched = AccountFactory(name="Other", domain="other.com")

    changed = accounts_enrich()

    account.refresh_from_db()
    assert changed == 1
    assert account.name == "Acme Corporation"
    assert account.industry == "Rockets"
    assert account.employees == 42
    assert (account.country, account.annual_revenue) == ("US", Decimal("9000000.00"))
    assert account.field_sources == {
        "name": "enrichment",
        "industry": "admin",
        "employees": "group",
        "country": "enrichment",
        "annual_revenue": "enrichment",
    }
    # ARR potential recomputed from the employees that stayed (42 → 5 seats on Team).
    assert account.arr_potential == Decimal("720.00")
    untouched.refresh_from_db()
    assert untouched.name == "Other"
    assert accounts_enrich() == 0


def test_provider_setting_swaps_the_provider(settings):
    assert isinstance(get_provider(), ImportedTablesProvider)
    settings.PLS_ENRICHMENT_PROVIDER = "tests.accounts.test_enrichment.StaticProvider"
    account = AccountFactory(name="Initech", domain="initech.com")

    assert isinstance(get_provider(), StaticProvider)
    assert accounts_enrich(account_ids=[account.pk]) == 1
    account.refresh_from_db()
    assert account.employees == 4200


def test_enrich_accounts_command_reports_and_refuses_unknown_account(capsys):
    with pytest.raises(CommandError, match="No such account: 999999"):
        call_command("enrich_accounts", "--account", "999999")
    Firmographic.objects.create(domain="acme.com", company_name="Acme", employees=50)
    AccountFactory(name="acme", domain="acme.com")
    call_command("enrich_accounts")
    assert "1 accounts enriched" in capsys.readouterr().out


# --- reverse IP ------------------------------------------------------------------------


def anonymous_event(ip, anonymous_id, *, at=None):
    return EventFactory(
        user=None,
        account=None,
        anonymous_id=anonymous_id,
        context_ip=ip,
        type="page",
        name="/pricing",
        timestamp=at or timezone.now(),
    )


def test_ip_ranges_import_normalises_networks_and_keeps_bad_rows(tmp_path):
    path = write(
        tmp_path,
        "ranges.csv",
        "cidr,domain,company\n"
        "203.0.113.7/24,acme.com,Acme\n"
        "2001:db8:abcd::/48,www.globex.com,Globex\n"
        "999.1.1.0/24,bad.com,Bad\n"
        "198.51.100.0/24,,Nobody\n",
    )
    result = ip_ranges_import_file(path=path)

    assert (result.created, result.rejected) == (2, 2)
    v4 = IPRange.objects.get(network="203.0.113.0/24")
    assert (v4.first, v4.last) == (ip_key("203.0.113.0"), ip_key("203.0.113.255"))
    assert v4.first == "00000000000000000000ffffcb007100"
    assert IPRange.objects.get(domain="globex.com").last == ip_key(
        "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff"
    )
    reasons = dict(ImportRow.objects.filter(kind="ip_ranges").values_list("line_number", "reason"))
    assert reasons[4].startswith("cidr:") and reasons[5].startswith("domain:")
    assert ip_ranges_import_file(path=path).created == 0


def test_a_nul_character_in_an_ip_range_company_is_kept_for_review_naming_it(tmp_path):
    path = write(
        tmp_path,
        "ranges.csv",
        "cidr,domain,company\n203.0.113.0/24,acme.com,Ac\x00me\n198.51.100.0/24,globex.com,Globex\n",
    )
    result = ip_ranges_import_file(path=path)

    assert (result.read, result.created, result.rejected_lines) == (2, 1, [2])
    kept = ImportRow.objects.get(kind="ip_ranges")
    assert kept.reason == f"company: {NUL_REASON}"
    assert kept.row["company"] == "Ac\\u0000me"
    assert list(IPRange.objects.values_list("network", "company")) == [
        ("198.51.100.0/24", "Globex")
    ]


def test_an_ipv6_network_with_a_zone_index_is_kept_for_review(tmp_path):
    path = write(
        tmp_path,
        "ranges.csv",
        "cidr,domain,company\n"
        "fe80::1%eth0/64,acme.com,Acme\n"
        f"fe80::%{'x' * 60}/64,acme.com,Acme\n"
        "fe80::1/64,globex.com,Globex\n",
    )
    result = ip_ranges_import_file(path=path)

    assert (result.created, result.rejected_lines) == (1, [2, 3])
    assert kept_reasons("ip_ranges") == {
        2: "cidr: 'fe80::1%eth0/64' is not a network",
        3: f"cidr: 'fe80::%{'x' * 13}…' is not a network",
    }
    # A link-local network without a zone is a network like any other.
    assert list(IPRange.objects.values_list("network", "domain")) == [("fe80::/64", "globex.com")]


def test_anonymous_visitors_counted_per_company_on_ipv4_and_ipv6(tmp_path):
    ip_ranges_import_file(
        path=write(
            tmp_path,
            "r.csv",
            "cidr,domain,company\n"
            "203.0.113.0/24,acme.com,Acme\n"
            "203.0.113.128/25,acme-labs.com,Acme Labs\n"
            "2001:db8::/32,globex.com,Globex\n",
        )
    )
    acme = AccountFactory(name="Acme", domain="acme.com")
    anonymous_event("203.0.113.5", "a1")
    anonymous_event("203.0.113.5", "a1")
    anonymous_event("203.0.113.9", "a1")  # same visitor, another address
    anonymous_event("203.0.113.10", "a2")
    anonymous_event("203.0.113.200", "b1")  # the narrower range wins
    anonymous_event("2001:db8::1", "g1")
    anonymous_event("::ffff:203.0.113.6", "a3")  # IPv4-mapped is the IPv4 address
    anonymous_event("198.51.100.1", "x1")  # in no range
    anonymous_event("203.0.113.5", "old", at=timezone.now() - timedelta(days=31))
    EventFactory(context_ip="203.0.113.5")  # identified: not anonymous

    counts = {v.domain: v for v in anonymous_visitors_by_company(days=30)}

    assert set(counts) == {"acme.com", "acme-labs.com", "globex.com"}
    assert (counts["acme.com"].visitors, counts["acme.com"].events) == (3, 5)
    assert counts["acme.com"].account == acme
    assert counts["acme.com"].company == "Acme"
    assert (counts["acme-labs.com"].visitors, counts["acme-labs.com"].account) == (1, None)
    assert counts["globex.com"].visitors == 1
    assert anonymous_visitors_by_company(days=40)[0].visitors == 4

    only_acme = anonymous_visitors_by_company(account_id=acme.pk)
    assert [(v.domain, v.visitors, v.events) for v in only_acme] == [("acme.com", 3, 5)]
    labs = AccountFactory(name="Acme Labs", domain="acme-labs.com")
    assert [(v.domain, v.visitors) for v in anonymous_visitors_by_company(account_id=labs.pk)] == [
        ("acme-labs.com", 1)
    ]


def test_a_dossier_of_a_company_without_ip_ranges_reads_no_events(
    tmp_path, django_assert_max_num_queries
):
    IPRange.objects.create(
        network="10.0.0.0/8",
        first=ip_key("10.0.0.0"),
        last=ip_key("10.255.255.255"),
        domain="acme.com",
    )
    anonymous_event("10.0.0.1", "v1")
    other = AccountFactory(name="Initech", domain="initech.com")
    with django_assert_max_num_queries(2):  # its domains and the ranges; no event scan
        assert anonymous_visitors_by_company(account_id=other.pk) == []


def test_anonymous_visitors_aggregate_in_sql(tmp_path, django_assert_max_num_queries):
    IPRange.objects.create(
        network="10.0.0.0/8",
        first=ip_key("10.0.0.0"),
        last=ip_key("10.255.255.255"),
        domain="acme.com",
    )
    for n in range(30):
        anonymous_event(f"10.0.0.{n % 3}", f"v{n % 5}")
    with django_assert_max_num_queries(3):
        result = anonymous_visitors_by_company()
    assert (result[0].visitors, result[0].events) == (5, 30)


# --- ARR potential ---------------------------------------------------------------------


def plans():
    return list(Plan.objects.all())


def test_arr_potential_from_employees_only_prices_the_next_paid_plan():
    account = AccountFactory(name="Big", domain="big.com", employees=500)
    account.plan = Plan.objects.get(key="free")

    arr, inputs = arr_potential(account, active_users_30d=0, plans=plans())

    # 10 % of 500 = 50 seats × Team $12 × 12.
    assert arr == Decimal("7200.00")
    assert inputs["employees"] == 500
    assert inputs["likely_seats"] == 50
    assert (inputs["current_plan"], inputs["plan"]) == ("free", "team")
    assert inputs["price_per_seat_year"] == "144.00"


def test_arr_potential_caps_employee_seats():
    account = AccountFactory(name="Huge", domain="huge.com", employees=200_000)
    _, inputs = arr_potential(account, active_users_30d=0, plans=plans())
    assert inputs["employee_seats"] == 1000


def test_arr_potential_from_active_users_only():
    account = AccountFactory(name="Busy", domain="busy.com")
    account.plan = Plan.objects.get(key="team")

    arr, inputs = arr_potential(account, active_users_30d=12, plans=plans())

    assert arr == Decimal("3600.00")  # 12 seats × Business $25 × 12
    assert (inputs["employees"], inputs["likely_seats"], inputs["plan"]) == (None, 12, "business")


def test_arr_potential_on_the_top_plan_uses_that_plan():
    account = AccountFactory(name="Top", domain="top.com", employees=100)
    account.plan = Plan.objects.get(key="enterprise")
    arr, inputs = arr_potential(account, active_users_30d=3, plans=plans())
    assert arr == Decimal("5400.00")  # 10 seats × $45 × 12
    assert inputs["plan"] == "enterprise"


def test_arr_recompute_reads_active_users_from_rollup_and_writes_only_changes():
    account = AccountFactory(name="Team", domain="team.com", employees=20)
    today = timezone.now().date()
    for _ in range(4):
        user = ProductUserFactory(account=account)
        AccountUserDay.objects.create(account=account, user=user, day=today, events=1)
        AccountUserDay.objects.create(account=account, user=user, day=today - timedelta(days=2))
    stale = ProductUserFactory(account=account)
    AccountUserDay.objects.create(account=account, user=stale, day=today - timedelta(days=40))

    assert accounts_arr_recompute(account_ids=[account.pk]) == 1
    account.refresh_from_db()
    assert account.arr_potential_inputs["active_users_30d"] == 4
    assert account.arr_potential == Decimal("576.00")  # max(4, 2) seats × $144
    assert accounts_arr_recompute() == 0
