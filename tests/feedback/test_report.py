"""The monthly PM report: a crafted month's figures and their change against the three
months before, the month picker's validation, drill-down, CSV export, the monthly
freeze and its email (once), PM-only access and constant queries."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from feedback.demo import demo_feedback_seed
from feedback.models import FeedbackTag, ReportSnapshot
from feedback.selectors_feedback import my_work
from feedback.selectors_report import last_complete_month, month_add, report_figures
from feedback.services import FeedbackError, report_freeze, report_freeze_previous_month
from feedback.tasks import report_freeze_run
from scoring.models import QueueItem
from tests.factories import AccountFactory, UserFactory
from tests.feedback.test_feedback import crafted, give, text

State = QueueItem.State
REPORT = reverse("feedback:report")
ENTRIES = reverse("feedback:report_entries")
EXPORT = reverse("feedback:report_export")

# The month under test: the last complete one (the page's default), and the three before.
MONTH = last_complete_month(timezone.now().date())
PREVIOUS = [month_add(MONTH, -i) for i in (1, 2, 3)]


def at(month, day: int = 10, hour: int = 12) -> datetime:
    return datetime(month.year, month.month, day, hour, tzinfo=UTC)


def row(rows: list[dict], key: str) -> dict:
    return next(r for r in rows if r["key"] == key)


def summary(figures: dict, key: str) -> dict:
    return next(r for r in figures["summary"] if r["key"] == key)


@pytest.fixture
def month(ae):
    """A crafted month: 3 won (ARR 10k, 20k, 30k; 10, 20 and 40 days from PQL) and
    2 lost from the queue, 4 of them with feedback; a disqualification and two back-offs;
    the three months before with fewer objections."""
    won = [
        crafted(f"Won {n}", rep=ae, closed_at=at(MONTH, 3 + n), arr=arr, pql_days=days)
        for n, (arr, days) in enumerate(((10_000, 10), (20_000, 20), (30_000, 40)))
    ]
    lost = [
        crafted(f"Lost {n}", rep=ae, state=State.LOST, closed_at=at(MONTH, 20 + n))
        for n in range(2)
    ]
    give(won[0], rep=ae, objections=["price"], features=["export", "api"], blockers=["invoicing"])
    give(won[1], rep=ae, objections=["price", "timing"], features=["export"], blockers=["nothing"])
    give(won[2], rep=ae, objections=[], features=[], blockers=["invoicing", "security-review"])
    give(lost[0], rep=ae, objections=["price", "chose-competitor"], blockers=["card-limit"])
    crafted(
        "Agency", rep=ae, state=State.DISQUALIFIED, closed_at=at(MONTH, 5),
        reason="disqualified: Agency evaluating for a client",
    )  # fmt: skip
    for n in range(2):
        crafted(
            f"Quiet {n}", rep=ae, state=State.BACKED_OFF, closed_at=at(MONTH, 7 + n),
            reason="backed off: no response 7 days after the first touch",
        )  # fmt: skip
    # Before: price once in each of the two months before (mean 2/3), timing once three
    # months before; a win each month before.
    for i, previous in enumerate(PREVIOUS):
        item = crafted(f"Before {i}", rep=ae, closed_at=at(previous, 15), arr=12_000, pql_days=30)
        give(item, rep=ae, objections=["price"] if i < 2 else ["timing"], blockers=["invoicing"])
    crafted("Before lost", rep=ae, state=State.LOST, closed_at=at(PREVIOUS[0], 16))
    # Outside the four months: never counted.
    long_ago = crafted("Long ago", rep=ae, closed_at=at(month_add(MONTH, -4)))
    give(long_ago, rep=ae, objections=["price"])
    return {"won": won, "lost": lost}


# --- the figures --------------------------------------------------------------------------


def test_the_figures_of_a_crafted_month_against_the_three_before(month):
    figures = report_figures(month=MONTH)

    assert figures["month"] == f"{MONTH:%Y-%m}"
    assert (figures["closed"], figures["feedback"]) == (5, 4)
    assert summary(figures, "won")["values"] == [3, 1, 1, 1]
    assert summary(figures, "won")["change"] == 2.0
    assert summary(figures, "lost")["values"] == [2, 1, 0, 0]
    assert summary(figures, "lost")["change"] == pytest.approx(1.7)
    assert summary(figures, "feedback")["values"] == [4, 1, 1, 1]
    assert summary(figures, "coverage")["values"] == [80.0, 50.0, 100.0, 100.0]
    assert summary(figures, "won_arr")["values"] == [60_000.0, 12_000.0, 12_000.0, 12_000.0]
    assert summary(figures, "days_to_close")["values"] == [20.0, 30.0, 30.0, 30.0]
    assert summary(figures, "days_to_close")["change"] == -10.0
    assert summary(figures, "deals_won")["values"] == [3, 1, 1, 1]

    price = row(figures["objections"], "price")
    assert (price["counts"], price["previous_mean"], price["change"]) == ([3, 1, 1, 0], 0.7, 2.3)
    timing = row(figures["objections"], "timing")
    assert (timing["counts"], timing["change"]) == ([1, 0, 0, 1], 0.7)
    assert [r["key"] for r in figures["objections"]] == ["price", "timing", "chose-competitor"]
    assert row(figures["features"], "export")["counts"] == [2, 0, 0, 0]
    assert row(figures["features"], "export")["label"] == "Export (Report Exported)"
    assert row(figures["blockers"], "invoicing")["counts"] == [2, 1, 1, 1]
    assert row(figures["blockers"], "card-limit")["label"] == "Above the card checkout limit"

    exits = {r["key"]: r["counts"] for r in figures["exits"]}
    assert exits == {
        "won": [3, 1, 1, 1],
        "lost": [2, 1, 0, 0],
        "disqualified": [1, 0, 0, 0],
        "backed_off": [2, 0, 0, 0],
    }
    reasons = {g["key"]: g["reasons"] for g in figures["exit_reasons"]}
    assert reasons["disqualified"] == [{"reason": "Agency evaluating for a client", "count": 1}]
    assert reasons["backed_off"] == [
        {"reason": "Backed off: no response 7 days after the first touch", "count": 2}
    ]


def test_deals_in_another_currency_are_left_out_and_said_so(ae):
    crafted("Euro", rep=ae, closed_at=at(MONTH), arr=50_000, currency="EUR")
    crafted("Dollar", rep=ae, closed_at=at(MONTH), arr=10_000)

    figures = report_figures(month=MONTH)

    assert summary(figures, "won_arr")["values"][0] == 10_000.0
    assert summary(figures, "deals_won")["values"][0] == 1
    assert figures["other_currency_deals"] == 1


def test_the_page_shows_the_month_with_its_changes(login, pm, month):
    response = login(pm).get(REPORT)

    assert response.status_code == 200
    page = text(response)
    assert f"{MONTH:%B %Y}" in page
    body = response.content.decode()
    price = re.search(r'<tr data-key="price">.*?</tr>', body, re.S)[0]
    assert text(price) == "Price too high 3 0.7 +2.3"
    assert f'?month={MONTH:%Y-%m}&amp;objection=price"' in price
    won = text(re.search(r'<tr data-figure="won">.*?</tr>', body, re.S)[0])
    assert won == "Closed won from the queue 3 1 1 1 +2.0"
    arr = text(re.search(r'<tr data-figure="won_arr">.*?</tr>', body, re.S)[0])
    assert arr.startswith("Won ARR from the queue (USD) $60,000 $12,000")
    assert "Why items left the queue" in page and "Agency evaluating for a client × 1" in page
    assert 'id="report-objections-chart"' in body and "plotly-4.1.1.min.js" in body
    assert "Counted live" in page


def test_a_month_with_nothing_says_so(login, pm):
    response = login(pm).get(REPORT, {"month": "2024-02"})

    assert response.status_code == 200
    assert "No closed deals this month" in text(response)
    assert "February 2024" in text(response)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-13", "month: 2026-13 has no month 13; months run from 01 to 12"),
        ("last month", "month: “last month” is not a month; write it as YYYY-MM (e.g. 2026-10)"),
        ("1999-12", "month: reports start in 2000-01"),
    ],
)
def test_a_bad_month_is_refused_with_a_clear_error(login, pm, value, message):
    response = login(pm).get(REPORT, {"month": value})

    assert response.status_code == 400
    assert message in text(response)


def test_a_month_that_has_not_started_is_refused(login, pm):
    later = month_add(timezone.now().date().replace(day=1), 1)

    response = login(pm).get(REPORT, {"month": f"{later:%Y-%m}"})

    assert response.status_code == 400
    assert f"month: {later:%Y-%m} has not started yet" in text(response)


def test_the_month_in_progress_is_counted_live(login, pm):
    this = timezone.now().date().replace(day=1)

    response = login(pm).get(REPORT, {"month": f"{this:%Y-%m}"})

    assert "This month is in progress" in text(response)


def test_the_page_is_print_friendly(login, pm):
    response = login(pm).get(REPORT)

    assert "css/report.css" in response.content.decode()
    with open(finders.find("css/report.css")) as stylesheet:
        assert "@media print" in stylesheet.read()


# --- drill-down and CSV -------------------------------------------------------------------


def test_drill_down_lists_the_entries_behind_a_count(login, pm, month):
    client = login(pm)

    price = client.get(ENTRIES, {"month": f"{MONTH:%Y-%m}", "objection": "price"})
    lost = client.get(ENTRIES, {"month": f"{MONTH:%Y-%m}", "outcome": "lost"})
    export = client.get(ENTRIES, {"month": f"{MONTH:%Y-%m}", "feature": "export"})

    def accounts(response):
        return re.findall(r'data-testid="entry-account">([^<]+)<', response.content.decode())

    assert accounts(price) == ["Lost 0", "Won 1", "Won 0"]
    assert "3 entries match the filters." in text(price)
    assert accounts(lost) == ["Lost 0"]
    assert accounts(export) == ["Won 1", "Won 0"]


def test_drill_down_by_a_pm_tag(login, pm, month):
    feedback = month["won"][2].feedback
    FeedbackTag.objects.create(feedback=feedback, name="security", added_at=timezone.now())

    response = login(pm).get(ENTRIES, {"month": f"{MONTH:%Y-%m}", "tag": "Security"})

    assert re.findall(r'data-testid="entry-account">([^<]+)<', response.content.decode()) == [
        "Won 2"
    ]


def test_csv_export_of_the_months_feedback(login, pm, month):
    month["won"][0].account.__class__.objects.filter(pk=month["won"][0].account_id).update(
        name="=HYPERLINK(evil)"
    )

    response = login(pm).get(EXPORT, {"month": f"{MONTH:%Y-%m}"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="pls-feedback-{MONTH:%Y-%m}.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["account"] for r in rows] == ["Lost 0", "Won 2", "Won 1", "'=HYPERLINK(evil)"]
    first_win = rows[3]
    assert first_win["outcome"] == "won"
    assert first_win["rep"] == month["won"][0].claimed_by.display_name
    assert first_win["deal_arr"] == "10000.00"
    assert first_win["currency"] == "USD"
    assert first_win["motion"] == "Sales-assisted"
    assert first_win["days_to_close"] == "10"
    assert first_win["objections"] == "price"
    assert first_win["features_requested"] == "api; export"
    assert first_win["self_serve_blockers"] == "invoicing"
    assert first_win["trigger_signal"] == "7 active users in 30 days"
    assert rows[0]["objections"] == "price; chose-competitor"  # in the categories' order


def test_csv_export_refuses_a_bad_month(login, pm):
    response = login(pm).get(EXPORT, {"month": "2026-00"})

    assert response.status_code == 400
    assert response.content.decode() == "month: 2026-00 has no month 00; months run from 01 to 12"


# --- the monthly freeze -------------------------------------------------------------------


@pytest.fixture
def pms(db):
    return [
        UserFactory(username="priya", pm=True, email="priya@example.com"),
        UserFactory(username="paul", pm=True, email="paul@example.com"),
        UserFactory(username="gone", pm=True, email="gone@example.com", is_active=False),
        UserFactory(username="nomail", pm=True, email=""),
        UserFactory(username="rep", ae=True, email="rep@example.com"),
    ]


def test_freezing_stores_the_figures_and_emails_the_pms_a_link_once(
    pms, month, mailoutbox, settings
):
    settings.PLS_BASE_URL = "https://pls.example.com"
    now = at(month_add(MONTH, 1), day=1, hour=6)

    first = report_freeze(month=MONTH, now=now)
    again = report_freeze(month=MONTH, now=now + timedelta(hours=1))

    assert (first.frozen, first.emailed) == (True, 2)
    assert (again.frozen, again.emailed) == (False, 0)
    snapshot = ReportSnapshot.objects.get()
    assert (snapshot.month, snapshot.frozen_at, snapshot.emailed_at) == (MONTH, now, now)
    assert snapshot.figures == report_figures(month=MONTH)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert sorted(mail.to) == ["paul@example.com", "priya@example.com"]
    assert mail.subject == f"PLS Portal: the {MONTH:%B %Y} PM report"
    assert f"https://pls.example.com/reports/?month={MONTH:%Y-%m}" in mail.body
    assert "Deals closed from the queue: 5; with feedback: 4." in mail.body
    assert "Top objection: Price too high (3)." in mail.body


def test_a_frozen_month_reads_its_snapshot(login, pm, month):
    report_freeze(month=MONTH, now=at(month_add(MONTH, 1), day=1))
    give(month["lost"][1], rep=month["lost"][1].claimed_by, objections=["price"])

    response = login(pm).get(REPORT, {"month": f"{MONTH:%Y-%m}"})

    page = text(response)
    assert "Frozen on" in page
    price = re.search(r'<tr data-key="price">.*?</tr>', response.content.decode(), re.S)[0]
    assert text(price) == "Price too high 3 0.7 +2.3"  # the later feedback is not in it
    assert report_figures(month=MONTH)["feedback"] == 5  # while the live count moved on


def test_the_beat_task_freezes_the_previous_month_once(pms, mailoutbox):
    report_freeze_run.apply()
    report_freeze_run.apply()

    assert list(ReportSnapshot.objects.values_list("month", flat=True)) == [MONTH]
    assert len(mailoutbox) == 1


def test_an_unsent_email_is_sent_by_the_next_run(pms, mailoutbox):
    now = timezone.now()
    ReportSnapshot.objects.create(month=MONTH, figures=report_figures(month=MONTH), frozen_at=now)

    result = report_freeze_previous_month(now=now)

    assert (result.frozen, result.emailed) == (False, 2)
    assert len(mailoutbox) == 1


def test_the_month_in_progress_cannot_be_frozen(db):
    now = timezone.now()
    with pytest.raises(FeedbackError, match="has not ended"):
        report_freeze(month=now.date().replace(day=1), now=now)
    assert not ReportSnapshot.objects.exists()


# --- who may see it -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [REPORT, ENTRIES, EXPORT])
@pytest.mark.parametrize("role", ["ae", "sdr"])
def test_pm_pages_are_forbidden_to_reps(client, users, url, role):
    client.force_login(users[role])

    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", [REPORT, ENTRIES, EXPORT])
def test_pm_pages_send_anonymous_users_to_log_in(client, db, url):
    response = client.get(url)

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("role", ["pm", "admin"])
def test_pms_and_admins_read_the_report(client, users, role):
    client.force_login(users[role])

    assert client.get(REPORT).status_code == 200


# --- constant queries ---------------------------------------------------------------------


def _grow(ae, n: int) -> None:
    """``n`` more won items with feedback in the month and each month before."""
    for m in (MONTH, *PREVIOUS):
        for i in range(n):
            item = crafted(f"Co {m:%m}-{QueueItem.objects.count()}-{i}", rep=ae, closed_at=at(m))
            give(item, rep=ae, objections=["price", "timing"], features=["export"])


@pytest.mark.parametrize("frozen", [False, True], ids=["live", "frozen"])
def test_the_report_runs_the_same_queries_whatever_the_volume(
    login, pm, ae, frozen, django_assert_max_num_queries
):
    client = login(pm)
    counts = []
    for n in (1, 6):
        _grow(ae, n)
        ReportSnapshot.objects.all().delete()
        if frozen:
            report_freeze(month=MONTH, now=timezone.now())
        with django_assert_max_num_queries(11), CaptureQueriesContext(connection) as queries:
            response = client.get(REPORT)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_drill_down_and_csv_run_the_same_queries_whatever_the_volume(
    login, pm, ae, django_assert_max_num_queries
):
    client = login(pm)
    for url in (ENTRIES, EXPORT):
        counts = []
        for n in (1, 6):
            _grow(ae, n)
            with django_assert_max_num_queries(11), CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            assert response.status_code == 200
            counts.append(len(queries))
        assert counts[0] == counts[1], url


# --- the demo -----------------------------------------------------------------------------


def test_the_demo_gives_the_report_months_of_figures_once(ae, sdr):
    for n in range(80):
        AccountFactory(name=f"Demo {n:02d}")

    first = demo_feedback_seed()
    again = demo_feedback_seed()

    assert first.history_items > 40 and first.feedback_given > 15
    assert (again.history_items, again.feedback_given) == (0, 0)
    figures = report_figures(month=MONTH)
    assert figures["closed"] > 0 and figures["feedback"] > 0
    assert figures["objections"] and figures["blockers"] and figures["exits"]
    assert all(any(r["values"][1:]) for r in figures["summary"][:2])  # months before too
    # The demo AE is reminded of one lost deal of last month; the rest has feedback.
    due = my_work(user=ae).due
    assert [(r["outcome"], r["closed_at"].date().replace(day=1)) for r in due] == [("lost", MONTH)]
    assert not Account.objects.filter(owner__isnull=False).exists()  # routing untouched
