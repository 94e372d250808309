"""Backtest of a draft against the active rule set, on a crafted history.

The draft lowers the AE threshold (70 → 50) and the engagement cut-off (30 → 20) and
drops the employees rule. Over four weeks (Sundays W0 baseline … W4):

- Acme: active every day from the day after W1: a PQL from W2 on, SDR for the active set
  (score in 40–70) and AE for the draft (above 50) — it enters the AE queue.
- Brio: 5 users one day a week from the day after W2: engagement in 20–29, so nurture for
  the active set and a PQL (SDR) for the draft from W3 — a PQL only the draft counts.
- Dyna: 1,000 employees, buyer intent and daily use all along: AE for the active set on
  every date, but without the employees rule the draft sees low value — it leaves the AE
  queue.
- Echo: like Acme, then won by sales two days after W3 (and owned since): a PQL of both
  sets at W2 that closed; held as a customer at W4.
- Gala: like Brio (PQL of the draft only), and bought self-serve after W3.
- Dyna's only deal is a self-serve win before W0: a known outcome, but not a close of
  its PQL. Brio lost a deal.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Account, Deal, Plan
from pls_portal.models import Job
from pls_portal.services import job_start
from scoring.models import Rule, RuleSet
from scoring.services.backtest import (
    BacktestError,
    backtest_dates,
    backtest_end,
    backtest_run,
    backtest_start,
    close_rate_reading,
)
from tests.factories import AccountFactory, JobFactory, ProductUserFactory, UserFactory
from tests.scoring.factories import (
    AccountDayFactory,
    AccountFeatureDayFactory,
    AccountUserDayFactory,
    RuleSetFactory,
)

pytestmark = pytest.mark.django_db

END = date(2026, 3, 15)  # a Sunday
WEEKS = 4
W = backtest_dates(end=END, weeks=WEEKS)  # W[0] baseline … W[4] == END
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)
FEATURES = ("api", "automations", "dashboards", "export")


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def days(first: date, last: date, step: int = 1) -> list[date]:
    return [first + timedelta(days=n) for n in range(0, (last - first).days + 1, step)]


def company(name: str, *, users: int = 5, **fields) -> Account:
    fields.setdefault("arr_potential", Decimal(50_000))
    account = AccountFactory(
        name=name,
        domain=f"{name.lower()}.example",
        created_at=LONG_AGO,
        plan=Plan.objects.get(key="business"),
        **fields,
    )
    account.people = [
        ProductUserFactory(account=account, first_seen_at=LONG_AGO) for _ in range(users)
    ]
    return account


def use(account: Account, on: list[date], intent: dict | None = None) -> None:
    """All the account's users active on these days, using four core features."""
    for day in on:
        AccountDayFactory(
            account=account, day=day, events=10, active_users=len(account.people),
            intent=intent or {},
        )  # fmt: skip
        for person in account.people:
            AccountUserDayFactory(account=account, user=person, day=day)
        for key in FEATURES:
            AccountFeatureDayFactory(account=account, feature_key=key, day=day)


def deal(account, stage, closed: datetime, motion=Deal.Motion.SELF_SERVE, **fields) -> Deal:
    return Deal.objects.create(
        account=account,
        motion=motion,
        source=Deal.Source.PQL if motion == Deal.Motion.SALES_ASSISTED else Deal.Source.SELF_SERVE,
        stage=stage,
        opened_at=closed - timedelta(days=5),
        closed_at=closed,
        arr=Decimal(12_000),
        **fields,
    )


def draft_rule_set(**settings) -> RuleSet:
    """A draft of the active set's rules without the employees rule."""
    active = RuleSet.objects.get(state=RuleSet.State.ACTIVE)
    settings = {"ae_threshold": 50, "engagement_cutoff": 20, "ae_weekly_capacity": 1} | settings
    draft = RuleSetFactory(name="Looser", based_on=active, **settings)
    for rule in active.rules.exclude(signal="employees"):
        rule.pk, rule.rule_set = None, draft
        rule.save()
    return draft


@pytest.fixture
def history(ae):
    UserFactory(username="ayla", ae=True)
    UserFactory(username="gone", ae=True, is_active=False)
    today = END + timedelta(days=1)
    acme = company("Acme")
    use(acme, days(W[1] + timedelta(days=1), today))
    brio = company("Brio")
    use(brio, days(W[2] + timedelta(days=1), today, step=7))
    deal(brio, Deal.Stage.LOST, at(W[3]), motion=Deal.Motion.SALES_ASSISTED)
    dyna = company("Dyna", employees=1000, arr_potential=None)
    intent = {"pricing": 2, "security": 1, "terms": 1}
    use(dyna, days(W[0] - timedelta(days=40), today), intent=intent)
    deal(dyna, Deal.Stage.WON, at(W[0] - timedelta(days=20)))
    echo = company("Echo")
    use(echo, days(W[1] + timedelta(days=1), today))
    deal(echo, Deal.Stage.WON, at(W[3] + timedelta(days=2)), Deal.Motion.SALES_ASSISTED, owner=ae)
    Account.objects.filter(pk=echo.pk).update(owner=ae)
    gala = company("Gala")
    use(gala, days(W[2] + timedelta(days=1), today, step=7))
    deal(gala, Deal.Stage.WON, at(W[3] + timedelta(days=3)))
    company("Idle", arr_potential=Decimal(5_000))  # under the ARR floor: self-serve
    return {"acme": acme, "brio": brio, "dyna": dyna, "echo": echo, "gala": gala}


def start_and_run(user, draft, **kwargs) -> Job:
    job = backtest_start(rule_set_id=draft.pk, user=user, weeks=WEEKS, end=END)
    backtest_run(job_id=job.pk, **kwargs)
    job.refresh_from_db()
    return job


# --- Dates ----------------------------------------------------------------------------------


def test_weeks_end_on_the_last_complete_sunday():
    assert backtest_end(date(2026, 3, 16)) == date(2026, 3, 15)  # a Monday
    assert backtest_end(date(2026, 3, 21)) == date(2026, 3, 15)  # a Saturday
    assert backtest_end(date(2026, 3, 22)) == date(2026, 3, 15)  # a Sunday is not over
    dates = backtest_dates(end=END, weeks=4)
    assert dates == [date(2026, 2, 15), date(2026, 2, 22), date(2026, 3, 1), date(2026, 3, 8), END]


# --- The computation ------------------------------------------------------------------------


def test_draft_with_a_lower_threshold_sends_more_accounts_to_the_ae_queue(history, pm):
    job = start_and_run(pm, draft_rule_set())
    result = job.result

    queue = result["ae_queue"]
    entering = [(r["name"], r["draft_route"], r["active_route"]) for r in queue["entering"]]
    assert entering == [("Acme", "ae", "sdr")]
    acme = queue["entering"][0]
    assert acme["domain"] == "acme.example"
    assert 50 < acme["draft_score"] == acme["active_score"] <= 70
    leaving = [(r["name"], r["draft_route"], r["active_route"]) for r in queue["leaving"]]
    assert leaving == [("Dyna", "self_serve_hero", "ae")]
    assert (queue["entering_total"], queue["leaving_total"]) == (1, 1)

    routes = {row["route"]: (row["draft"], row["active"]) for row in result["routes"]}
    assert routes == {
        "ae": (1, 1),  # Acme for the draft, Dyna for the active set
        "sdr": (2, 1),  # Brio and Gala for the draft, Acme for the active set
        "nurture": (0, 2),  # Brio and Gala: engagement under 30 for the active set
        "self_serve_hero": (1, 0),  # Dyna without the employees rule
        "held": (1, 1),  # Echo, won by sales after W3
        "self_serve": (1, 1),  # Idle
    }
    assert result["accounts"] == 6


def test_new_pqls_per_week_are_counted_against_ae_capacity(history, pm):
    result = start_and_run(pm, draft_rule_set()).result

    weekly = {row["week_ending"]: row for row in result["weekly"]}
    assert list(weekly) == [d.isoformat() for d in W[1:]]
    # Acme and Echo become PQLs in week 2 (both sets); Brio and Gala in week 3 (draft only).
    assert [row["draft"] for row in result["weekly"]] == [0, 2, 2, 0]
    assert [row["active"] for row in result["weekly"]] == [0, 2, 0, 0]
    assert [row["draft_ae"] for row in result["weekly"]] == [0, 2, 0, 0]
    assert [row["active_ae"] for row in result["weekly"]] == [0, 0, 0, 0]
    assert result["pql_totals"] == {"draft": 4, "active": 2}
    # Two active AEs (the inactive one does not count) × the draft's 1 a week; 10 for v1.
    assert result["ae_users"] == 2
    assert result["capacity"]["draft"] == {"per_ae": 1, "total": 2}
    assert result["capacity"]["active"] == {"per_ae": 10, "total": 20}
    assert [row["draft_over"] for row in result["weekly"]] == [False, False, False, False]


def test_pql_to_close_rate_on_known_outcomes(history, pm):
    rate = start_and_run(pm, draft_rule_set()).result["close_rate"]

    assert rate["known_outcomes"] == 4  # Brio (lost), Dyna, Echo and Gala (won)
    # Draft: Brio, Echo and Gala were PQLs; Echo (sales) and Gala (self-serve) won within
    # 90 days. Active: Dyna and Echo; Dyna's win came before it was ever a PQL.
    assert (rate["draft"]["pqls"], rate["draft"]["won"], rate["draft"]["rate"]) == (3, 2, 66.7)
    assert (rate["active"]["pqls"], rate["active"]["won"], rate["active"]["rate"]) == (2, 1, 50.0)
    assert rate["draft"]["reading"] == "above 40 %: rules too tight"
    assert rate["band"] == [15, 30] and rate["window_days"] == 90


def test_an_account_won_by_sales_is_routed_as_it_was_before_the_win(history, pm):
    """Today's owner came with a win after W2; as of W2 the account was a PQL, not a
    customer held for expansion."""
    result = start_and_run(pm, draft_rule_set()).result
    assert result["weekly"][1]["active"] == 2  # Acme and Echo
    assert result["close_rate"]["active"]["won"] == 1  # Echo


@pytest.mark.parametrize(
    ("rate", "tone", "reading"),
    [
        (None, "none", "no PQLs among the accounts with known outcomes"),
        (9.9, "bad", "below 10 %: rules too loose"),
        (10.0, "warn", "below the healthy 15–30 % band"),
        (15.0, "ok", "in the healthy 15–30 % band"),
        (30.0, "ok", "in the healthy 15–30 % band"),
        (40.0, "warn", "above the healthy 15–30 % band"),
        (40.1, "bad", "above 40 %: rules too tight"),
    ],
)
def test_close_rate_is_read_against_the_seeds_band(rate, tone, reading):
    assert close_rate_reading(rate) == (tone, reading)


def test_chunks_give_the_same_result_and_the_bar_counts_weeks_chunks_and_sets(history, pm):
    draft = draft_rule_set()
    whole = start_and_run(pm, draft)
    parts = start_and_run(pm, draft, chunk_size=2)

    assert parts.result == whole.result
    # 5 dates (baseline and 4 weeks) × 3 chunks of 2 accounts × 2 rule sets
    assert (parts.state, parts.done, parts.total) == ("done", 5 * 3 * 2, 5 * 3 * 2)
    assert (whole.done, whole.total) == (5 * 1 * 2, 5 * 1 * 2)
    assert parts.message.startswith(f"v{draft.version} against v1 over 4 weeks: 4 new PQLs")
    assert "1 accounts enter the AE queue, 1 leave" in parts.message
    assert "PQL-to-close 66.7 % against 50.0 %" in parts.message


def test_entering_list_keeps_the_hundred_best_scores(pm):
    """More than 100 accounts enter the AE queue: the 100 highest scores are listed and
    the total is told."""
    draft = draft_rule_set(ae_threshold=0, sdr_threshold=0, engagement_cutoff=0, value_cutoff=0)
    today = END + timedelta(days=1)
    for n in range(103):
        account = company(f"Co{n:03d}", users=1 + n % 7)
        use(account, days(END - timedelta(days=2), today))
    result = start_and_run(pm, draft, chunk_size=40).result
    queue = result["ae_queue"]
    assert queue["entering_total"] > 100
    assert len(queue["entering"]) == 100
    scores = [row["draft_score"] for row in queue["entering"]]
    assert scores == sorted(scores, reverse=True)


# --- Starting -------------------------------------------------------------------------------


def test_start_queues_the_job_and_enqueues_it_only_after_commit(
    pm, django_capture_on_commit_callbacks
):
    draft = draft_rule_set()
    with django_capture_on_commit_callbacks() as callbacks:
        job = backtest_start(rule_set_id=draft.pk, user=pm, weeks=6)
    assert len(callbacks) == 1  # held for the commit, not sent with the row uncommitted
    assert (job.kind, job.state, job.created_by) == ("backtest", "queued", pm)
    assert job.params["rule_set_id"] == draft.pk
    assert job.params["active_rule_set"] == "v1 Seed defaults"
    assert job.params["weeks"] == 6
    assert date.fromisoformat(job.params["end"]).weekday() == 6  # a Sunday


def test_the_active_set_and_bad_weeks_are_refused(pm):
    active = RuleSet.objects.get(state=RuleSet.State.ACTIVE)
    with pytest.raises(BacktestError, match="is the active rule set"):
        backtest_start(rule_set_id=active.pk, user=pm)
    with pytest.raises(BacktestError, match="Weeks of history must be 1 to 26, not 27"):
        backtest_start(rule_set_id=draft_rule_set().pk, user=pm, weeks=27)
    assert not Job.objects.exists()


def test_a_draft_deleted_before_the_run_fails_the_job_with_the_reason(pm):
    draft = draft_rule_set()
    job = backtest_start(rule_set_id=draft.pk, user=pm, weeks=2, end=END)
    Rule.objects.filter(rule_set=draft).delete()
    draft.delete()
    with pytest.raises(BacktestError):
        backtest_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == "failed"
    assert "was deleted before the backtest ran" in job.message


# --- Pages ----------------------------------------------------------------------------------


def test_rule_editor_button_starts_a_backtest_and_lands_on_its_page(
    login, pm, django_capture_on_commit_callbacks
):
    draft = draft_rule_set()
    client = login(pm)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("scoring:backtest_start", args=[draft.pk]))
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("scoring:backtest", args=[job.pk])
    assert (job.kind, job.params["weeks"], len(callbacks)) == ("backtest", 12, 1)

    page = client.get(response["Location"]).content.decode()
    assert "Backtest started. This page follows its progress." in page
    assert f"Backtest of v{draft.version} Looser" in page
    assert 'data-testid="job-progress"' in page
    assert 'hx-trigger="every 1s"' in page  # the page polls until the job ends


def test_start_form_names_the_field_and_the_limit(login, pm):
    draft = draft_rule_set()
    client = login(pm)
    response = client.post(reverse("scoring:backtest_start", args=[draft.pk]), {"weeks": 30})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Weeks of history" in page
    assert "Ensure this value is less than or equal to 26." in page
    active = RuleSet.objects.get(state=RuleSet.State.ACTIVE)
    response = client.post(reverse("scoring:backtest_start", args=[active.pk]), {"weeks": 4})
    assert response.status_code == 400
    assert "v1 Seed defaults is the active rule set" in response.content.decode()
    assert not Job.objects.exists()


def test_htmx_start_redirects_the_whole_page(login, pm):
    draft = draft_rule_set()
    response = login(pm).post(
        reverse("scoring:backtest_start", args=[draft.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("scoring:backtest", args=[Job.objects.get().pk])


def test_progress_partial_polls_while_running_then_shows_the_result(history, login, pm):
    draft = draft_rule_set()
    job = backtest_start(rule_set_id=draft.pk, user=pm, weeks=WEEKS, end=END)
    client = login(pm)
    url = reverse("scoring:backtest", args=[job.pk])

    job_start(job_id=job.pk, total=40)
    partial = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial
    assert f'hx-get="{url}"' in partial and 'hx-trigger="every 1s"' in partial
    assert "Entering the AE queue" not in partial

    Job.objects.filter(pk=job.pk).update(state="queued")
    backtest_run(job_id=job.pk)
    partial = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in partial
    assert "Entering the AE queue" in partial and "Plotly.newPlot" in partial


def test_backtest_page_shows_the_figures(history, login, pm, django_assert_max_num_queries):
    draft = draft_rule_set()
    job = start_and_run(pm, draft)
    client = login(pm)
    with django_assert_max_num_queries(6):
        response = client.get(reverse("scoring:backtest", args=[job.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "vendor/plotly-4.1.1.min.js" in page
    assert 'id="backtest-pqls-chart"' in page and "Plotly.newPlot" in page
    assert "AE capacity" in page and 'data-testid="capacity">2<' in page
    assert '<td data-testid="rate-draft">66.7 %</td>' in page
    assert '<td data-testid="rate-active">50.0 %</td>' in page
    assert "above 40 %: rules too tight" in page
    assert "<td>Acme</td><td>acme.example</td>" in page  # entering
    assert "<td>Dyna</td><td>dyna.example</td>" in page  # leaving
    assert f'<tr data-week="{END.isoformat()}">' in page
    assert "Run it again" in page


def test_another_pm_sees_the_backtest_too(history, login, pm):
    job = start_and_run(pm, draft_rule_set())
    other = UserFactory(username="pat", pm=True)
    assert login(other).get(reverse("scoring:backtest", args=[job.pk])).status_code == 200


def test_a_backtest_without_accounts_ends_done_and_says_so(login, pm):
    job = start_and_run(pm, draft_rule_set())
    assert (job.state, job.result["accounts"], job.result["pql_totals"]) == (
        "done",
        0,
        {"draft": 0, "active": 0},
    )
    page = login(pm).get(reverse("scoring:backtest", args=[job.pk])).content.decode()
    assert "No accounts yet" in page
    assert "no PQLs among the accounts with known outcomes" in page


def test_a_failed_backtest_says_why(login, pm):
    job = JobFactory(kind="backtest", created_by=pm, state="failed", message="Failed: boom")
    page = login(pm).get(reverse("scoring:backtest", args=[job.pk])).content.decode()
    assert "The backtest failed: Failed: boom" in page


# --- Permissions ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["ae", "sdr"])
def test_reps_get_403(role, users, login):
    draft = draft_rule_set()
    job = JobFactory(kind="backtest", created_by=users["pm"])
    client = login(users[role])
    assert client.get(reverse("scoring:backtest", args=[job.pk])).status_code == 403
    assert client.post(reverse("scoring:backtest_start", args=[draft.pk])).status_code == 403
    assert Job.objects.count() == 1


def test_starting_is_post_only(login, pm):
    url = reverse("scoring:backtest_start", args=[draft_rule_set().pk])
    assert login(pm).get(url).status_code == 405


def test_anonymous_visitors_go_to_the_login_page(client, pm):
    draft = draft_rule_set()
    job = JobFactory(kind="backtest", created_by=pm)
    for response in (
        client.get(reverse("scoring:backtest", args=[job.pk])),
        client.post(reverse("scoring:backtest_start", args=[draft.pk])),
    ):
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_job_of_another_kind_or_an_unknown_id_is_404(login, admin_user):
    other = JobFactory(kind="maintenance", created_by=admin_user)
    client = login(admin_user)
    assert client.get(reverse("scoring:backtest", args=[other.pk])).status_code == 404
    assert client.get(reverse("scoring:backtest", args=[other.pk + 999])).status_code == 404
    assert client.post(reverse("scoring:backtest_start", args=[424242])).status_code == 404
