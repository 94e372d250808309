"""Close → feedback → report in a real browser: an AE closes a queue item won, is offered
the feedback form in place of the row, gives it, and a PM finds it in the monthly
report, drills down to the entry and tags it."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from feedback.models import Feedback
from scoring.models import QueueItem, Route
from tests.browser.test_login import _log_in
from tests.factories import TEST_PASSWORD, AccountFactory
from tests.scoring.factories import QueueItemFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ARTIFACTS = Path(__file__).parent / "artifacts"


def test_an_ae_closes_won_gives_feedback_and_a_pm_sees_it_in_the_report(page, ae, pm):
    now = timezone.now()
    item = QueueItemFactory(
        account=AccountFactory(name="Acme", domain="acme.com"),
        route=Route.AE,
        state=QueueItem.State.CLAIMED,
        claimed_by=ae,
        claimed_at=now,
        created_at=now - timedelta(days=18),
        due_at=now + timedelta(hours=5),
        reasons=["7 active users in 30 days", "hit the export limit", "viewed pricing"],
    )
    _log_in(page, ae.username, TEST_PASSWORD)

    row = page.get_by_test_id("queue-row").filter(has_text="Acme")
    row.get_by_text("More ▾").click()
    row.get_by_text("Mark won…").click()
    row.get_by_label("ARR (USD), required").fill("36000")
    row.get_by_role("button", name="Mark won").click()
    flash = page.get_by_test_id("queue-flash")
    expect(flash).to_contain_text("Acme — won: $36,000 ARR. It has left the queue.")

    flash.get_by_role("link", name="Give feedback now").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Post-deal feedback: Acme")
    expect(page.get_by_test_id("deal-arr")).to_have_text("36,000 USD ARR")
    expect(page.get_by_test_id("deal-motion")).to_contain_text("Sales-assisted")
    expect(page.get_by_test_id("days-to-close")).to_contain_text("18 days")
    expect(page.get_by_label("Signal that triggered it")).to_have_value("7 active users in 30 days")
    page.get_by_label("Price too high").check()
    page.get_by_label("Security or compliance").check()
    page.get_by_label("Export (Report Exported)").check()
    page.get_by_label("Invoicing or a purchase order").check()
    page.get_by_label("What would they have needed to buy without sales?").fill(
        "Pay by invoice from the checkout."
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "feedback_form.png", full_page=True)
    page.get_by_role("button", name="Save feedback").click()

    expect(page.get_by_role("status")).to_contain_text("Feedback on Acme saved.")
    expect(page.get_by_test_id("nothing-due")).to_be_visible()
    assert Feedback.objects.get(item=item).author == ae
    page.goto("/queue/")
    expect(page.get_by_test_id("feedback-reminder")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()

    _log_in(page, pm.username, TEST_PASSWORD)
    expect(page).to_have_url(re.compile(r"/reports/$"))
    page.get_by_label("Month").fill(f"{now:%Y-%m}")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("report-month")).to_have_text(f"{now:%B %Y}")
    objections = page.get_by_test_id("report-objections")
    price = objections.locator("tr[data-key=price]")
    expect(price.get_by_test_id("count")).to_have_text("1")
    expect(price.get_by_test_id("change")).to_have_text("new")
    expect(objections.locator(".js-plotly-plot")).to_be_visible()
    won = page.locator("tr[data-figure=won]")
    expect(won.locator("td").first).to_have_text("1")
    page.screenshot(path=ARTIFACTS / "report.png", full_page=True)

    price.get_by_role("link", name="Price too high").click()
    entries = page.get_by_test_id("entry-row")
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("Pay by invoice from the checkout.")
    entries.first.get_by_test_id("entry-account").click()
    expect(page.get_by_test_id("objections")).to_contain_text("Price too high")
    page.get_by_label("Tags").fill("invoicing, security")
    page.get_by_role("button", name="Save tags").click()
    tags = page.get_by_test_id("tags").locator(".badge.tag")
    expect(tags).to_have_text(["invoicing", "security"])
