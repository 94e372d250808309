"""A PM drafts a rule change, edits a rule inline, backtests it (a Job run by a real
worker, followed by the in-page progress bar) and proposes it; an admin activates it
with a confirmation, and the full rescore Job re-routes the account."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scoring.models import AccountScore, QueueItem, Route, RuleSet
from scoring.services.run import scoring_run
from tests.browser.test_login import _log_in
from tests.factories import TEST_PASSWORD, AccountFactory, ProductUserFactory
from tests.pls_portal.test_celery_worker import celery_worker_process  # noqa: F401
from tests.scoring.factories import AccountDayFactory, AccountUserDayFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _busy_enterprise_account():
    """High value (1,000 employees, $50k ARR potential) and engagement just above the
    cut-off: 8 active users, active 12 of the last 14 days — an AE PQL under v1."""
    account = AccountFactory(
        name="Borealis Freight", domain="borealis.example", employees=1000, arr_potential=50_000
    )
    today = timezone.now().date()
    users = [ProductUserFactory(account=account) for _ in range(8)]
    for back in range(12):
        day = today - timedelta(days=back)
        AccountDayFactory(account=account, day=day, events=20, active_users=8)
        for user in users:
            AccountUserDayFactory(account=account, user=user, day=day, events=2)
    return account


def test_draft_backtest_propose_activate(page, pm, admin_user, celery_worker_process):  # noqa: F811
    account = _busy_enterprise_account()
    scoring_run(full=True)
    item = QueueItem.objects.get(account=account)
    assert item.route == Route.AE

    _log_in(page, pm.username, TEST_PASSWORD)
    page.goto("/rules/")
    page.get_by_role("button", name="Clone into a draft").click()
    expect(page.get_by_test_id("rule-set-state")).to_have_text("Draft")

    row = page.get_by_test_id("rule-row").filter(has_text="Active days of the last 14")
    row.get_by_role("button", name="Edit").click()
    form_row = page.get_by_test_id("rule-form-row")
    form_row.get_by_label("Points").fill("-40")
    form_row.get_by_role("button", name="Save").click()
    edited = page.get_by_test_id("rule-row").filter(has_text="Active days of the last 14")
    expect(edited.get_by_test_id("rule-points")).to_have_text("-40")

    page.get_by_test_id("backtest").click()
    status = page.get_by_test_id("backtest-status")
    expect(status).to_have_attribute("data-state", "done", timeout=90_000)
    expect(page.get_by_test_id("backtest-routes")).to_be_visible()
    page.get_by_role("link", name="←").first.click()

    page.get_by_test_id("propose").click()
    expect(page.get_by_test_id("rule-set-state")).to_have_text("Proposed")
    draft_url = page.url
    page.get_by_role("button", name="Log out").click()

    _log_in(page, admin_user.username, TEST_PASSWORD)
    page.goto(draft_url)
    page.get_by_test_id("activate").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Activate v2")
    page.get_by_test_id("confirm-activate").click()
    progress = page.get_by_test_id("job-progress")
    expect(progress).to_have_attribute("data-state", "done", timeout=90_000)
    expect(page.get_by_test_id("job-message")).to_contain_text("accounts scored")

    assert RuleSet.objects.get(state="active").version == 2
    score = AccountScore.objects.get(account=account)
    assert score.route == Route.NURTURE, score.route_reason
    item.refresh_from_db()
    assert item.state == QueueItem.State.NOT_QUALIFIED
