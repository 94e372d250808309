"""Drill 4: importing the same 100k-event file twice (``manage.py import_events``, as an
operator re-running a job would) stores nothing the second time: not one new or changed
row in any table. The file is what a product export looks like: identify, group, track and
page calls of 2,000 people in 250 companies over 30 days, and a few malformed lines."""

from __future__ import annotations

import json
import random
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.reliability.support import fetch, manage

EVENTS = 100_000
COMPANIES = 250
PEOPLE = 8  # per company
MALFORMED = 10  # lines no importer can take: kept for review the first time
# Rewritten on every run by design: the import's own Job row and the rollup's task lock.
BOOKKEEPING = {"pls_portal_job", "pls_portal_tasklock"}

TRACKED = [
    ("Project Created", 30), ("Report Exported", 20), ("Dashboard Shared", 12),
    ("Automation Created", 6), ("API Key Created", 2), ("Integration Connected", 2),
    ("API Call Made", 14), ("Invite Sent", 3), ("Export Limit Reached", 2),
    ("Paywall Hit", 2), ("SSO Setup Attempted", 1), ("Admin Changed", 1),
    ("Checkout Started", 1), ("Signed In", 10),
]  # fmt: skip
PAGES = ["/pricing", "/security", "/terms", "/app/home", "/app/projects"]
TITLES = ["CTO", "Head of Data", "Engineer", "Analyst", "VP Sales", "Designer"]


def write_events_file(path: Path, *, seed: int = 16) -> int:
    """The file: every person identifies (and each company is grouped) before its first
    event; message ids are unique and derived, as a product's export gives them."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    names = [name for name, weight in TRACKED for _ in range(weight)]
    malformed_at = set(rng.sample(range(1000, EVENTS - MALFORMED), MALFORMED))
    seen: set[str] = set()
    grouped: set[int] = set()
    written = 0
    with path.open("w") as out:
        for number in range(EVENTS - MALFORMED):
            if number in malformed_at:
                out.write('{"type": "track", "userId": "broken", "event": \n')  # cut short
                written += 1
            company, person = rng.randrange(COMPANIES), rng.randrange(PEOPLE)
            user = f"c{company}-p{person}"
            when = start + timedelta(seconds=30 * 86400 * number // EVENTS)
            base = {"userId": user, "timestamp": when.isoformat(), "messageId": f"replay-{number}"}
            if user not in seen:
                seen.add(user)
                message = {
                    "type": "identify",
                    "traits": {
                        "email": f"p{person}@company{company}.io",
                        "name": f"Person {person} of {company}",
                        "title": rng.choice(TITLES),
                    },
                }
            elif company not in grouped:
                grouped.add(company)
                message = {
                    "type": "group",
                    "groupId": f"ws-{company}",
                    "traits": {"name": f"Company {company}", "employees": 20 + company},
                }
            elif rng.random() < 0.15:
                message = {"type": "page", "name": "", "properties": {"path": rng.choice(PAGES)}}
            else:
                event = rng.choice(names)
                properties = {"count": rng.randrange(1, 50)} if event == "API Call Made" else {}
                message = {"type": "track", "event": event, "properties": properties}
            out.write(json.dumps(base | message) + "\n")
            written += 1
    return written


def _tables(url: str) -> list[str]:
    return [
        name
        for (name,) in fetch(
            url,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        )
    ]


def _snapshot(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of all its rows (bookkeeping left out)."""
    snapshot = {}
    for table in _tables(url):
        if table in BOOKKEEPING:
            continue
        count, digest = fetch(
            url,
            f"SELECT count(*), md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '')) "  # noqa: S608
            f'FROM "{table}" t',
        )[0]
        snapshot[table] = (count, digest)
    return snapshot


def _summary(output: str) -> dict[str, int]:
    found = re.search(
        r"(\d+) read, (\d+) stored, (\d+) duplicates, (\d+) rejected", output, re.MULTILINE
    )
    assert found, f"import_events printed no summary:\n{output[-2000:]}"
    names = ("read", "stored", "duplicates", "rejected")
    return dict(zip(names, map(int, found.groups()), strict=True))


@pytest.fixture
def replay_db(pg, db_prefix, migrated_template):
    name = f"{db_prefix}_replay"
    url = pg.create(name, template=migrated_template)
    yield url
    pg.drop(name)


def test_replaying_a_100k_event_file_stores_nothing_new(replay_db, tmp_path, facts):
    path = tmp_path / "events.jsonl"
    lines = write_events_file(path)
    assert lines == EVENTS

    started = time.monotonic()
    first = _summary(manage(replay_db, "import_events", str(path)))
    facts(f"first import {first} in {time.monotonic() - started:.0f} s")
    assert first["read"] == EVENTS
    assert first["rejected"] == MALFORMED, first
    assert first["stored"] == EVENTS - MALFORMED, first
    before = _snapshot(replay_db)
    assert before["accounts_event"][0] == EVENTS - MALFORMED
    assert before["accounts_account"][0] == COMPANIES

    started = time.monotonic()
    second = _summary(manage(replay_db, "import_events", str(path)))
    facts(f"replay {second} in {time.monotonic() - started:.0f} s")
    after = _snapshot(replay_db)

    assert (second["stored"], second["duplicates"]) == (0, EVENTS - MALFORMED), second
    new_rows = {t: after[t][0] - before[t][0] for t in after if after[t][0] != before[t][0]}
    changed = sorted(t for t in after if t not in new_rows and after[t][1] != before[t][1])
    assert not new_rows and not changed, (
        f"replaying the file ({second}) wrote to the database: new rows "
        f"{new_rows or 'none'}; tables with changed rows: {changed or 'none'}"
    )
