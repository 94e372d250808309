"""Each role logs in through the real login page and lands on its own page."""

import re

import pytest
from playwright.sync_api import expect

from pls_portal.services import job_advance, job_finish, job_start
from tests.factories import TEST_PASSWORD, JobFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LANDING = {
    "ae": ("/queue/", "PQL queue", "AE"),
    "sdr": ("/queue/", "PQL queue", "SDR"),
    "pm": ("/reports/", "Monthly PM report", "PM"),
    "admin": ("/rules/", "PQL rules", "Admin"),
}


def _log_in(page, username, password):
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize("role", LANDING)
def test_each_role_logs_in_and_lands_on_its_page(page, users, role):
    path, heading, badge = LANDING[role]
    _log_in(page, users[role].username, TEST_PASSWORD)
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_test_id("role")).to_have_text(badge)
    # The stylesheet is served and applied (the top bar is dark, not unstyled white).
    assert page.eval_on_selector(".topbar", "el => getComputedStyle(el).backgroundColor") == (
        "rgb(17, 24, 39)"
    )
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are logged out")


def test_five_wrong_passwords_show_the_lockout(page, ae):
    for attempt in range(1, 5):
        _log_in(page, ae.username, f"wrong-{attempt}")
        expect(page.get_by_role("alert")).to_contain_text(
            "Please enter a correct username and password"
        )
    _log_in(page, ae.username, "wrong-5")
    expect(page.get_by_role("heading", level=1)).to_have_text("Login locked")
    expect(page.get_by_test_id("lockout")).to_contain_text("Too many failed login attempts.")
    _log_in(page, ae.username, TEST_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Login locked")


def test_job_progress_bar_follows_the_job_without_a_reload(page, admin_user):
    job = JobFactory(created_by=admin_user)
    _log_in(page, admin_user.username, TEST_PASSWORD)
    page.goto(f"/jobs/{job.pk}/")
    progress = page.get_by_test_id("job-progress")
    expect(progress).to_contain_text("Queued")

    job_start(job_id=job.pk, total=8)
    job_advance(job_id=job.pk, done=2, message="Removing sessions")
    expect(progress).to_contain_text("2 of 8 (25 %)")
    expect(progress).to_contain_text("Removing sessions")

    job_finish(job_id=job.pk, message="Removed 8 rows")
    expect(progress).to_have_attribute("data-state", "done")
    expect(progress).to_contain_text("Removed 8 rows")
    assert page.eval_on_selector("progress", "el => el.value") == 100
    # The page was never reloaded: the same document followed the job through htmx.
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
