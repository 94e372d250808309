"""The PQL queue in a real browser: an AE works it with the keyboard, filters, closes an
item lost, loses a claim race, and the list refreshes itself without losing the filters
or the scroll."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scoring.models import QueueItem, Route
from scoring.services.queue import queue_item_claim
from tests.browser.test_login import _log_in
from tests.factories import TEST_PASSWORD, AccountFactory, UserFactory
from tests.scoring.factories import QueueItemFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ARTIFACTS = Path(__file__).parent / "artifacts"
State = QueueItem.State


def make_item(name: str, *, due_in: float, **fields) -> QueueItem:
    now = timezone.now()
    return QueueItemFactory(
        account=AccountFactory(name=name, domain=f"{name.lower()}.com"),
        route=Route.AE,
        created_at=now - timedelta(hours=1),
        due_at=now + timedelta(hours=due_in),
        reasons=["7 active users in 30 days", "hit the export limit", "viewed pricing"],
        **fields,
    )


def test_an_ae_works_the_queue_with_the_keyboard(page, ae):
    acme = make_item("Acme", due_in=-3, missing_buyer=True)
    globex = make_item("Globex", due_in=5)
    make_item("Initech", due_in=8)
    _log_in(page, ae.username, TEST_PASSWORD)

    expect(page).to_have_url(re.compile(r"/queue/$"))
    rows = page.get_by_test_id("queue-row")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).get_by_test_id("due")).to_contain_text("overdue by")
    expect(rows.nth(0).get_by_test_id("missing-buyer")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "queue.png", full_page=True)

    for key in "jjjk":  # the third row, then back up to the second
        page.keyboard.press(key)
    expect(rows.nth(1)).to_have_class(re.compile(r"\bis-selected\b"))
    page.keyboard.press("c")
    expect(rows.nth(1).get_by_test_id("claimed-by")).to_have_text("You")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bis-selected\b"))  # kept on the new row
    globex.refresh_from_db()
    assert (globex.state, globex.claimed_by) == (State.CLAIMED, ae)

    # Keys typed into the search box are text, not commands.
    page.get_by_label("Search").fill("jc")
    expect(rows).to_have_count(0)
    page.get_by_label("Search").fill("")
    expect(rows).to_have_count(3)

    page.get_by_label("Claimed", exact=True).select_option("me")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]claimed=me\b"))
    expect(rows.first.get_by_test_id("account-name")).to_have_text("Globex")

    row = rows.first
    row.get_by_text("More ▾").click()
    row.get_by_text("Mark lost…").click()
    expect(row.get_by_text("backs off for 30 days")).to_be_visible()
    row.get_by_label("Why was it lost? (required)").fill("Chose a competitor")
    row.get_by_role("button", name="Mark lost").click()
    expect(page.get_by_test_id("queue-flash")).to_contain_text(
        "Globex — lost: Chose a competitor. It has left the queue."
    )
    expect(rows).to_have_count(0)
    globex.refresh_from_db()
    assert (globex.state, globex.close_reason) == (State.LOST, "lost: Chose a competitor")

    page.goto("/queue/")
    page.keyboard.press("j")
    page.keyboard.press("Enter")  # opens the selected account's dossier
    expect(page).to_have_url(re.compile(rf"/queue/accounts/{acme.account_id}/$"))


def test_a_second_rep_cannot_claim_the_same_item(page, ae):
    item = make_item("Acme", due_in=5)
    bea = UserFactory(username="bea", first_name="Bea", last_name="Second", ae=True)
    _log_in(page, ae.username, TEST_PASSWORD)
    row = page.get_by_test_id("queue-row").first
    expect(row.get_by_test_id("claimed-by")).to_have_text("Unclaimed")

    queue_item_claim(item_id=item.pk, rep=bea)  # Bea is quicker
    row.get_by_role("button", name="Claim").click()

    expect(row.get_by_test_id("row-error")).to_have_text("Bea Second claimed this account first")
    expect(row.get_by_test_id("claimed-by")).to_have_text("Bea Second")
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)
    item.refresh_from_db()
    assert item.claimed_by == bea


def test_the_list_refreshes_itself_keeping_filters_and_scroll(page, ae):
    for n in range(20):
        make_item(f"Mine{n:02d}", due_in=10 + n, state=State.CLAIMED, claimed_by=ae)
    make_item("Free", due_in=1)
    _log_in(page, ae.username, TEST_PASSWORD)
    page.goto("/queue/?claimed=me")
    rows = page.get_by_test_id("queue-row")
    expect(rows).to_have_count(20)
    page.evaluate("window.scrollTo(0, 600)")
    # Only the interval is shortened (the page's default is 60 s); the code path is the same.
    page.get_by_test_id("queue-list").evaluate("el => el.dataset.refreshSeconds = '1'")

    make_item("Newmine", due_in=2, state=State.CLAIMED, claimed_by=ae)
    make_item("Newfree", due_in=2)

    expect(rows).to_have_count(21)
    expect(rows.first.get_by_test_id("account-name")).to_have_text("Newmine")
    expect(page.get_by_text("Newfree")).to_have_count(0)
    expect(page.get_by_label("Claimed", exact=True)).to_have_value("me")
    expect(page).to_have_url(re.compile(r"/queue/\?claimed=me$"))
    assert page.evaluate("window.scrollY") == 600
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # While a row's form is open the list waits, so nothing the rep types is lost.
    rows.nth(3).get_by_text("More ▾").click()
    rows.nth(3).get_by_text("Mark lost…").click()
    make_item("Later", due_in=3, state=State.CLAIMED, claimed_by=ae)
    page.wait_for_timeout(2500)
    expect(rows).to_have_count(21)
    rows.nth(3).get_by_text("More ▾").click()  # closes the menu
    expect(rows).to_have_count(22)
