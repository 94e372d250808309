"""An AE opens a dossier from its URL, sees the charts drawn, logs a touch and its
response, adds the missing buyer as a contact and copies the play's first message."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from scoring.models import QueueItem, Touch
from tests.browser.test_login import _log_in
from tests.dossiers.test_dossier import build_account
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ARTIFACTS = Path(__file__).parent / "artifacts"


def test_ae_works_an_account_from_its_dossier(page, ae):
    account, item, *_ = build_account()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _log_in(page, ae.username, TEST_PASSWORD)
    page.goto(f"/queue/accounts/{account.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Insurance")

    # Both Plotly figures are drawn, with their data.
    usage = page.locator("#dossier-usage-chart")
    expect(usage.locator("svg.main-svg").first).to_be_visible()
    expect(page.locator("#dossier-score-chart svg.main-svg").first).to_be_visible()
    traces = page.evaluate("document.getElementById('dossier-usage-chart').data.length")
    assert traces == 3  # events, daily active users, the fitted trend
    assert page.evaluate("document.getElementById('dossier-usage-chart').data[1].y.length") == 90
    expect(page.get_by_test_id("verdict")).to_have_text("growing")
    expect(usage.locator(".scatterlayer .trace").first).to_be_visible()

    # Log the first touch: the SLA is met and the back-off clock starts.
    log = page.get_by_test_id("touch-log")
    form = page.get_by_test_id("touch-form")
    form.get_by_label("Channel").select_option("phone")
    form.get_by_label("Person").fill("Dana Boss")
    form.get_by_label("Note").fill("Walked through the Team plan")
    form.get_by_role("button", name="Log touch").click()
    expect(log.get_by_test_id("touches")).to_contain_text("Phone with Dana Boss")
    expect(log.get_by_test_id("sla")).to_contain_text("SLA met")
    expect(log.get_by_test_id("backoff")).to_contain_text("7 days after the first touch")
    expect(page.get_by_test_id("item-state")).to_have_text("Item touched")
    expect(page.get_by_test_id("timeline")).to_contain_text("Touch by phone — Dana Boss")

    # A missing field is named, in place.
    page.get_by_test_id("touch-form").get_by_role("button", name="Log touch").click()
    expect(page.get_by_test_id("touch-form")).to_contain_text("Person: say who was contacted.")

    # Their answer stops the clock.
    response_form = log.get_by_test_id("response-form")
    response_form.get_by_label("What they said").fill("Send a proposal")
    response_form.get_by_role("button", name="Record response").click()
    expect(log.get_by_test_id("response")).to_contain_text("Send a proposal")
    expect(log.get_by_test_id("backoff")).to_contain_text("the back-off clock stopped")
    item.refresh_from_db()
    assert item.state == QueueItem.State.TOUCHED and item.responded_at is not None
    assert Touch.objects.get(item=item).response_note == "Send a proposal"

    # The CFO never used the product: add her as a contact.
    people = page.get_by_test_id("people")
    people.get_by_text("Add a contact who never used the product").click()
    contact = page.get_by_test_id("contact-form")
    contact.get_by_label("Name").fill("Frida Finance")
    contact.get_by_label("Email").fill("frida@")
    contact.get_by_role("button", name="Add contact").click()
    expect(page.get_by_test_id("contact-form")).to_contain_text("Email: “frida@” is not")
    page.get_by_test_id("contact-form").get_by_label("Email").fill("frida@acme-ins.com")
    page.get_by_test_id("contact-form").get_by_label("Title").fill("CFO")
    page.get_by_test_id("contact-form").get_by_role("button", name="Add contact").click()
    expect(page.get_by_test_id("buyers")).to_contain_text("Frida Finance, CFO")

    # Copy the first message, filled with the account's numbers.
    message = page.get_by_test_id("play-message")
    expect(message).to_have_value("Hi, Acme Insurance has 9 active users.")
    button = page.get_by_test_id("copy-message")
    button.click()
    expect(button).to_have_text("Copied")
    expect(button).to_have_attribute("data-copied", "true")
    assert page.evaluate("navigator.clipboard.readText()") == message.input_value()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dossier.png"), full_page=True)
    # Everything happened in place: the page was never reloaded.
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
