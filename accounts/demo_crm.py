"""The commercial part of the demo: a firmographics file, a CRM deal export (outbound and
inbound deals), CRM contacts for some accounts (none for others, so "missing buyer"
shows), and an IP-range file — each written as the CSV a customer would have and loaded
through the real import services, then enrichment and ARR potential.

Deterministic (fixed seed, accounts taken in domain order) and idempotent: the imports
upsert by domain, external id and (account, email)."""

from __future__ import annotations

import csv
import random
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from accounts.models import Account
from accounts.services.crm_imports import contacts_import_file, deals_import_file
from accounts.services.enrichment import (
    accounts_enrich,
    firmographics_import_file,
    ip_ranges_import_file,
)

SEED = 1204
INDUSTRIES = ("Software", "Financial services", "Retail", "Healthcare", "Manufacturing", "Media")
COUNTRIES = ("United States", "United Kingdom", "Germany", "France", "Canada", "Netherlands")
TITLES = ("CFO", "VP Engineering", "Head of Operations", "Director of IT", "CTO", "COO")
FIRST = ("Alex", "Brook", "Casey", "Drew", "Emery", "Flynn", "Gray", "Harper", "Indy", "Jules")
LAST = ("Adler", "Brandt", "Costa", "Dunn", "Ellis", "Frey", "Gomez", "Hale", "Ivers", "Jansen")


@dataclass(frozen=True)
class DemoCrmResult:
    firmographics: int
    deals: int
    contacts: int
    ip_ranges: int
    enriched: int


def _write(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def demo_crm_seed(*, today: date | None = None) -> DemoCrmResult:
    today = today or date.today()
    rng = random.Random(SEED)  # noqa: S311 (demo data)
    accounts = list(
        Account.objects.filter(merged_into__isnull=True).exclude(domain="").order_by("domain")
    )
    firmographics, deals, contacts = [], [], []
    for n, account in enumerate(accounts):
        # Every draw happens whatever the account holds, so a rerun (after enrichment
        # filled fields) makes the very same files.
        has_facts = rng.random() < 0.7
        employees = int(rng.lognormvariate(4.3, 1.4)) + 1
        industry, country = rng.choice(INDUSTRIES), rng.choice(COUNTRIES)
        revenue_per_head = rng.randint(80, 250) * 1000
        if has_facts:
            firmographics.append(
                [account.domain, account.name, employees, industry, country,
                 employees * revenue_per_head]
            )  # fmt: skip
        if rng.random() < 0.36:
            won = rng.random() < 0.5
            opened = today - timedelta(days=rng.randint(20, 200))
            closed = opened + timedelta(days=rng.randint(10, 60)) if rng.random() < 0.7 else None
            stage = ("Closed Won" if won else "Closed Lost") if closed else "Negotiation"
            deals.append(
                [
                    f"DEMO-OPP-{n:04d}",
                    f"{account.name} — annual plan",
                    account.name,
                    f"https://www.{account.domain}",
                    rng.choice((12_000, 24_000, 36_000, 60_000, 90_000)),
                    stage,
                    rng.choice(("Outbound prospecting", "Inbound - website", "Demo request")),
                    opened.isoformat(),
                    closed.isoformat() if closed and closed <= today else "",
                ]
            )
        # Known buyers for some accounts only: the others show "missing buyer".
        if rng.random() < 0.3:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            contacts.append(
                [
                    f"{first} {last}",
                    f"{first.lower()}.{last.lower()}@{account.domain}",
                    rng.choice(TITLES),
                    "",
                    "",
                    account.name,
                    account.domain,
                    "From the CRM",
                ]
            )
    # Documentation address blocks (RFC 5737 / RFC 3849): never real companies' addresses.
    ip_ranges = (
        [
            [f"203.0.113.{16 * i}/28", accounts[i * 7].domain, accounts[i * 7].name]
            for i in range(min(4, len(accounts) // 7))
        ]
        + [["2001:db8:a::/48", accounts[0].domain, accounts[0].name]]
        if accounts
        else []
    )

    with tempfile.TemporaryDirectory(prefix="pls-demo-crm-") as tmp:
        folder = Path(tmp)
        firmo = firmographics_import_file(
            path=_write(
                folder / "firmographics.csv",
                ["domain", "company name", "employees", "industry", "country", "annual revenue"],
                firmographics,
            )
        )
        crm_deals = deals_import_file(
            path=_write(
                folder / "crm-deals.csv",
                [
                    "Opportunity ID",
                    "Opportunity Name",
                    "Account Name",
                    "Website",
                    "Amount",
                    "Stage",
                    "Lead Source",
                    "Created Date",
                    "Close Date",
                ],
                deals,
            )
        )
        crm_contacts = contacts_import_file(
            path=_write(
                folder / "crm-contacts.csv",
                [
                    "name",
                    "email",
                    "title",
                    "department",
                    "seniority",
                    "account",
                    "website",
                    "notes",
                ],
                contacts,
            )
        )
        ranges = ip_ranges_import_file(
            path=_write(folder / "ip-ranges.csv", ["cidr", "domain", "company"], ip_ranges)
        )
    enriched = accounts_enrich()  # recomputes ARR potential too
    return DemoCrmResult(
        firmographics=firmo.read,
        deals=crm_deals.rows,
        contacts=crm_contacts.rows,
        ip_ranges=ranges.read,
        enriched=enriched,
    )
