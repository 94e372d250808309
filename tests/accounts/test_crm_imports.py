"""CRM imports: deals and contacts from documented, Salesforce and HubSpot CSVs."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, Contact, Deal, ImportRow
from accounts.services.crm_imports import contacts_import_file, deal_source, deals_import_file
from pls_portal.models import Job
from tests.factories import AccountFactory, ProductUserFactory, UserFactory

pytestmark = pytest.mark.django_db

DOCUMENTED_DEALS = """\
external_id,name,account,website,arr,currency,stage,source,motion,opened,closed,owner_email
D-1,Brightloom expansion,Brightloom,https://www.brightloom.co.uk/pricing,"$12,000.50",USD,\
Closed Won,Website demo request,sales_assisted,2026-01-05,2026-02-10,ava@vendor.test
D-2,Quillfeather pilot,Quillfeather,,8000,USD,open,cold outreach,,2026-03-01,,
D-3,Nowhere deal,Nowhere Ltd,nowhere.example.org,500,USD,won,,,2026-01-01,,
D-4,Euro deal,Brightloom,brightloom.co.uk,9000,EUR,Closed Lost,upsell,,2026-01-02,2026-01-20,
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def brightloom():
    return AccountFactory(name="Brightloom", domain="brightloom.co.uk")


@pytest.fixture
def quillfeather():
    return AccountFactory(name="Quillfeather", domain="quillfeather.io")


def test_documented_layout_matches_by_website_then_name_and_keeps_the_rest(
    tmp_path, brightloom, quillfeather
):
    owner = UserFactory(username="ava", email="Ava@vendor.test")
    path = _write(tmp_path, "deals.csv", DOCUMENTED_DEALS)
    result = deals_import_file(path=path)
    assert (result.rows, result.created, result.updated) == (4, 3, 0)
    assert (result.unmatched, result.unmatched_lines, result.other_currency) == (1, [4], 1)

    won = Deal.objects.get(external_id="D-1")
    assert won.account == brightloom  # www.brightloom.co.uk → brightloom.co.uk
    assert (won.stage, won.source, won.motion) == ("won", "inbound", "sales_assisted")
    assert won.arr == Decimal("12000.50")
    assert (won.opened_at.date().isoformat(), won.closed_at.date().isoformat()) == (
        "2026-01-05",
        "2026-02-10",
    )
    assert won.owner == owner
    pilot = Deal.objects.get(external_id="D-2")
    assert (pilot.account, pilot.stage, pilot.source, pilot.closed_at) == (
        quillfeather,
        "open",
        "outbound",
        None,
    )
    euro = Deal.objects.get(external_id="D-4")
    assert (euro.currency, euro.in_metrics, euro.stage, euro.source) == (
        "EUR",
        False,
        "lost",
        "expansion",
    )

    kept = ImportRow.objects.get()
    assert (kept.kind, kept.file_name, kept.line_number) == ("deals", "deals.csv", 4)
    assert kept.reason == "no account with domain example.org or name Nowhere Ltd"
    assert kept.row["name"] == "Nowhere deal"
    assert not Deal.objects.filter(name="Nowhere deal").exists()
    # The won sales deal's owner owns the account.
    brightloom.refresh_from_db()
    assert brightloom.owner == owner


def test_importing_twice_updates_instead_of_duplicating(tmp_path, brightloom, quillfeather):
    path = _write(tmp_path, "deals.csv", DOCUMENTED_DEALS)
    deals_import_file(path=path)
    again = deals_import_file(path=path)
    assert (again.rows, again.created, again.updated, again.unmatched) == (4, 0, 3, 1)
    assert Deal.objects.count() == 3
    assert ImportRow.objects.count() == 1


def test_salesforce_opportunity_report(tmp_path, brightloom):
    text = (
        "Opportunity ID,Opportunity Name,Account Name,Website,Amount,Opportunity Currency,"
        "Stage,Close Date,Created Date,Lead Source,Type\n"
        "006A1,Brightloom renewal,brightloom,,"
        '"$5,000",USD,Closed Won,3/15/2026,1/20/2026,Existing Customer - Upsell,'
        "Existing Business\n"
        "006A2,Brightloom new team,BRIGHTLOOM,,2500,USD,Prospecting,4/30/2026,2/1/2026,"
        "Product Qualified Lead,New Business\n"
    )
    result = deals_import_file(path=_write(tmp_path, "sf.csv", text))
    assert (result.created, result.unmatched) == (2, 0)
    renewal = Deal.objects.get(external_id="006A1")
    assert (renewal.account, renewal.stage, renewal.source, renewal.change) == (
        brightloom,
        "won",
        "expansion",
        "upgrade",
    )
    assert renewal.closed_at.date().isoformat() == "2026-03-15"
    assert renewal.opened_at.date().isoformat() == "2026-01-20"
    new = Deal.objects.get(external_id="006A2")
    assert (new.stage, new.source, new.change, new.closed_at) == ("open", "pql", "new", None)


def test_hubspot_deals_export_with_derived_ids_is_idempotent(tmp_path, quillfeather):
    text = (
        "Deal Name,Associated Company,Amount,Deal Stage,Close Date,Create Date\n"
        "Quill seats,Quillfeather,1200,closedwon,,14.02.2026\n"
        "Quill upsell,Quillfeather,300,appointmentscheduled,,15.02.2026\n"
    )
    path = _write(tmp_path, "hubspot.csv", text)
    first = deals_import_file(path=path)
    second = deals_import_file(path=path)
    assert (first.created, second.created, second.updated) == (2, 0, 2)
    seats = Deal.objects.get(name="Quill seats")
    assert seats.external_id.startswith("csv:")
    # Closed without a close date: closed when it opened.
    assert seats.closed_at.date().isoformat() == "2026-02-14"
    assert seats.source == "outbound"  # no lead source: the documented default
    assert Deal.objects.get(name="Quill upsell").stage == "open"


def test_ambiguous_names_are_kept_not_guessed(tmp_path):
    AccountFactory(name="Twin Oaks", domain="twinoaks.com")
    AccountFactory(name="Twin Oaks", domain="twinoaks.net")
    text = "name,account,arr\nOak deal,Twin Oaks,100\n"
    result = deals_import_file(path=_write(tmp_path, "deals.csv", text))
    assert (result.created, result.unmatched_lines) == (0, [2])
    assert "2 accounts have it: not guessed" in ImportRow.objects.get().reason


def test_merged_account_domain_resolves_to_the_survivor(tmp_path, brightloom):
    old = AccountFactory(name="Brightloom Old", domain="oldloom.com", merged_into=brightloom)
    text = "external_id,name,website,arr\nM-1,Merged,oldloom.com,10\n"
    deals_import_file(path=_write(tmp_path, "deals.csv", text))
    assert Deal.objects.get(external_id="M-1").account == brightloom
    assert not old.deals.exists()


def test_unreadable_amount_or_date_is_kept_naming_the_column(tmp_path, brightloom):
    text = (
        "external_id,name,account,arr,opened\n"
        "B-1,Bad amount,Brightloom,twelve,2026-01-01\n"
        "B-2,Bad date,Brightloom,100,2026-13-45\n"
    )
    result = deals_import_file(path=_write(tmp_path, "deals.csv", text))
    assert (result.created, result.unmatched_lines) == (0, [2, 3])
    reasons = dict(ImportRow.objects.values_list("line_number", "reason"))
    assert reasons[2] == "amount 'twelve' is not a number"
    assert reasons[3].startswith("opened date '2026-13-45'")


@pytest.mark.parametrize(
    ("lead", "source"),
    [
        ("Inbound call", "inbound"),
        ("Web", "inbound"),
        ("Contact us form", "inbound"),
        ("SDR sequence", "outbound"),
        ("Prospecting list", "outbound"),
        ("Expansion", "expansion"),
        ("pql", "pql"),
        ("Partner referral", "outbound"),
    ],
)
def test_lead_source_mapping(lead, source):
    assert deal_source(lead) == source


def test_import_deals_command_prints_a_summary_and_records_a_done_job(
    tmp_path, capsys, brightloom, quillfeather
):
    path = _write(tmp_path, "deals.csv", DOCUMENTED_DEALS)
    call_command("import_deals", str(path))
    out = capsys.readouterr().out
    assert (
        "deals.csv: 4 rows, 3 created, 0 updated, 1 unmatched "
        "(line 4: kept for review), 1 in another currency"
    ) in out
    job = Job.objects.get()
    assert (job.kind, job.state, job.result["created"]) == ("import_deals", "done", 3)


def test_import_commands_name_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match=r"nope\.csv"):
        call_command("import_deals", str(tmp_path / "nope.csv"))
    with pytest.raises(CommandError, match=r"nope\.csv"):
        call_command("import_contacts", str(tmp_path / "nope.csv"))


def test_a_file_without_account_columns_is_refused(tmp_path):
    path = _write(tmp_path, "odd.csv", "foo,bar\n1,2\n")
    with pytest.raises(CommandError, match="has none of the columns account, website"):
        call_command("import_deals", str(path))
    assert Job.objects.get().state == "failed"


# --- contacts --------------------------------------------------------------------------


def test_contacts_documented_layout_matches_email_domain_then_website_then_name(
    tmp_path, brightloom, quillfeather
):
    text = (
        "name,email,title,department,seniority,account,website,notes\n"
        "Mira Vance,mira@eu.brightloom.co.uk,CFO,Finance,C-level,,,Met at a fair\n"
        "Tobias Reed,tobias.reed@gmail.com,Engineer,,,,quillfeather.io,\n"
        "Ines Ko,ines@koconsulting.net,Buyer,,,Quillfeather,,\n"
        "Lost Person,lost@unknownco.net,,,,Unknown Co,,\n"
    )
    result = contacts_import_file(path=_write(tmp_path, "contacts.csv", text))
    assert (result.rows, result.created, result.unmatched_lines) == (4, 3, [5])
    mira = Contact.objects.get(email="mira@eu.brightloom.co.uk")
    assert (mira.account, mira.source, mira.title, mira.notes) == (
        brightloom,
        "crm",
        "CFO",
        "Met at a fair",
    )
    assert Contact.objects.get(name="Tobias Reed").account == quillfeather
    assert Contact.objects.get(name="Ines Ko").account == quillfeather
    kept = ImportRow.objects.get()
    assert (kept.kind, kept.line_number) == ("contacts", 5)
    assert kept.reason == "no account with domain unknownco.net or name Unknown Co"


def test_salesforce_contacts_are_idempotent_by_account_and_email(tmp_path, brightloom):
    text = (
        "First Name,Last Name,Email,Title,Department,Account Name\n"
        "Lena,Park,Lena.Park@brightloom.co.uk,VP Ops,Operations,Brightloom\n"
    )
    path = _write(tmp_path, "sf_contacts.csv", text)
    contacts_import_file(path=path)
    path.write_text(text.replace("VP Ops", "COO"), encoding="utf-8")
    again = contacts_import_file(path=path)
    assert (again.created, again.updated) == (0, 1)
    contact = Contact.objects.get()
    assert (contact.name, contact.email, contact.title) == (
        "Lena Park",
        "lena.park@brightloom.co.uk",
        "COO",
    )


def test_hubspot_contacts_link_an_existing_product_user(tmp_path, quillfeather, capsys):
    user = ProductUserFactory(account=quillfeather, email="sam@quillfeather.io")
    text = (
        "First Name,Last Name,Email,Job Title,Company Name,Associated Company\n"
        "Sam,Hale,SAM@quillfeather.io,Head of Data,,Quillfeather\n"
    )
    path = _write(tmp_path, "hs_contacts.csv", text)
    call_command("import_contacts", str(path))
    out = capsys.readouterr().out
    assert "hs_contacts.csv: 1 rows, 1 created, 0 updated, 0 unmatched" in out
    contact = Contact.objects.get()
    assert (contact.product_user, contact.title, contact.account) == (
        user,
        "Head of Data",
        quillfeather,
    )
    job = Job.objects.get()
    assert (job.kind, job.state) == ("import_contacts", "done")


def test_bad_email_is_kept_naming_the_column(tmp_path, brightloom):
    text = "name,email,account\nNo At,not-an-email,Brightloom\n"
    result = contacts_import_file(path=_write(tmp_path, "c.csv", text))
    assert result.unmatched_lines == [2]
    assert ImportRow.objects.get().reason == "email 'not-an-email' is not an email address"
    assert not Account.objects.get(pk=brightloom.pk).contacts.exists()
