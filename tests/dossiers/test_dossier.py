"""The account dossier (seed 003, "The PQL dossier"): every section on crafted data, the
trend verdict's thresholds, contacts, the touch log, who may open what, and a constant
number of queries whatever the account's size."""

import html as html_lib
import json
import re
from datetime import UTC, datetime, time, timedelta

import plotly.graph_objects as go
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.enrichment import ip_key
from accounts.models import AccountDomain, Contact, Deal, IPRange, Plan
from accounts.services.contacts import contact_add
from dossiers.charts import (
    DECLINING,
    GROWING,
    NO_ACTIVITY,
    STABLE,
    TOO_EARLY,
    TREND_THRESHOLD_PCT_PER_DAY,
    usage_trend,
)
from playbooks.models import Play, PlayMatch
from scoring.models import AccountScore, QueueItem, Route, Rule, RuleSet, ScoreHistory, Touch
from scoring.services.queue import queue_item_claim, queue_item_touch, touch_response
from tests.factories import AccountFactory, EventFactory, ProductUserFactory, UserFactory
from tests.scoring.factories import (
    AccountDayFactory,
    AccountFeatureDayFactory,
    AccountUserDayFactory,
    QueueItemFactory,
)

State = QueueItem.State


def dossier_url(account):
    return reverse("dossiers:dossier", kwargs={"account_id": account.pk})


def today():
    return timezone.now().date()


def at_noon(days_ago: int) -> datetime:
    return datetime.combine(today() - timedelta(days=days_ago), time(12), tzinfo=UTC)


def text(html: str) -> str:
    """Markup as a reader sees it: tags and scripts out, whitespace collapsed."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def section(response, testid: str) -> str:
    """The text from the element with this data-testid to the end of its section."""
    html = response.content.decode()
    start = html.rindex("<", 0, html.index(f'data-testid="{testid}"'))
    end = html.find("</section>", start)
    return text(html[start:end])


def score_for(account, *, route=Route.AE, reason="PQL: score 78 is above 70 — AE", **fields):
    rule_set = RuleSet.objects.get(state="active")
    users_rule = Rule.objects.get(rule_set=rule_set, signal="active_users_30", threshold=5)
    employees_rule = Rule.objects.get(rule_set=rule_set, signal="employees")
    values = {
        "rule_set": rule_set,
        "score": 78,
        "value": 40,
        "engagement": 38,
        "contributions": [
            {"rule": users_rule.pk, "signal": "active_users_30", "dimension": "engagement",
             "points": 12, "value": 9, "reason": "Active users, 30 days: 9 (≥ 5)"},
            {"rule": employees_rule.pk, "signal": "employees", "dimension": "value",
             "points": 20, "value": 800, "reason": "Employees: 800 (≥ 500)"},
        ],
        "signals": {"active_users_30": 9, "employees": 800, "core_features_30": 2},
        "route": route,
        "route_reason": reason,
        "scored_at": timezone.now(),
        **fields,
    }  # fmt: skip
    score, _ = AccountScore.objects.update_or_create(account=account, defaults=values)
    return score


def build_account(*, size: int = 1, plan_key: str = "free", slug: str = "acme-ins", net: int = 113):
    """A PQA with ``size`` times the usage: users, 90 days of rollups, events, touches."""
    plan = Plan.objects.get(key=plan_key)
    account = AccountFactory(
        name="Acme Insurance",
        domain=f"{slug}.com",
        industry="Insurance",
        employees=800,
        country="Germany",
        plan=plan,
        created_at=timezone.now() - timedelta(days=120),
        arr_potential=34560,
        arr_potential_inputs={
            "employees": 800,
            "employee_seats": 80,
            "active_users_30d": 9,
            "likely_seats": 80,
            "current_plan": "free",
            "plan": "team",
            "plan_name": "Team",
            "price_per_seat_month": "12.00",
            "price_per_seat_year": "144.00",
            "arr_potential": "34560.00",
        },
    )
    AccountDomain.objects.create(account=account, domain=f"{slug}.de")
    buyer = ProductUserFactory(
        account=account,
        name="Dana Boss",
        email=f"dana@{slug}.com",
        title="VP Engineering",
        department="Engineering",
        is_admin=True,
        last_seen_at=timezone.now() - timedelta(hours=2),
    )
    users = [buyer]
    for n in range(2 * size):
        users.append(
            ProductUserFactory(
                account=account,
                name=f"User {n}",
                department="Marketing" if n % 2 else "Engineering",
                last_seen_at=timezone.now() - timedelta(days=n),
            )
        )
    # Daily active users growing from 1 to 9 over 90 days; events alongside.
    for days_ago in range(90):
        dau = 1 + (89 - days_ago) * 8 // 89
        limit_hits = {"seats": 1} if days_ago in (3, 40) else {}
        AccountDayFactory(
            account=account,
            day=today() - timedelta(days=days_ago),
            active_users=dau,
            events=dau * 10 * size,
            limit_hits=limit_hits,
        )
    for user in users:
        AccountUserDayFactory(account=account, user=user, day=today(), events=3)
    AccountUserDayFactory(account=account, user=users[1], day=today() - timedelta(days=20))
    AccountFeatureDayFactory(account=account, feature_key="projects", day=today(), events=2)
    AccountFeatureDayFactory(account=account, feature_key="export", day=today(), events=9)
    AccountFeatureDayFactory(
        account=account, feature_key="integrations:slack", day=today() - timedelta(days=40)
    )
    AccountFeatureDayFactory(
        account=account, feature_key="integrations:github", day=today() - timedelta(days=2)
    )
    for _ in range(size):
        EventFactory(user=buyer, name="Project Created", timestamp=at_noon(1))
        EventFactory(user=users[1], name="Report Exported", key="export", timestamp=at_noon(2))
    EventFactory(user=buyer, name="Account Created", category="milestone",
                 key="account_created", timestamp=at_noon(100))  # fmt: skip
    EventFactory(user=buyer, name="Onboarding Completed", category="milestone",
                 key="onboarding_completed", timestamp=at_noon(60))  # fmt: skip
    EventFactory(user=users[1], name="Onboarding Completed", category="milestone",
                 key="onboarding_completed", timestamp=at_noon(50))  # fmt: skip
    for n in range(2 * size):
        EventFactory(user=users[1 + n % 2], name="Paywall Hit", category="paywall_hit",
                     key="sso", timestamp=at_noon(5 + n % 3))  # fmt: skip
    EventFactory(user=buyer, name="Feature Gated", category="paywall_hit", key="audit-log",
                 timestamp=at_noon(8))  # fmt: skip
    # Reverse IP: anonymous visitors from the company's network.
    IPRange.objects.create(
        network=f"203.0.{net}.0/24",
        first=ip_key(f"203.0.{net}.0"),
        last=ip_key(f"203.0.{net}.255"),
        domain=f"{slug}.com",
        company="Acme Insurance AG",
    )
    for n in range(3 * size):
        EventFactory(user=None, account=None, anonymous_id=f"anon-{n % (2 * size)}",
                     context_ip=f"203.0.{net}.{n % 200}", type="page", name="/pricing",
                     category="", key="", timestamp=at_noon(3))  # fmt: skip
    score_for(account)
    for days_ago, value in ((30, 40), (10, 60), (1, 78)):
        ScoreHistory.objects.create(
            account=account,
            rule_set=RuleSet.objects.get(state="active"),
            at=at_noon(days_ago),
            score=value,
            value=40,
            engagement=value - 40,
            route=Route.AE if value > 70 else Route.SDR,
        )
    item = QueueItemFactory(
        account=account,
        created_at=timezone.now() - timedelta(hours=3),
        reasons=["Employees: 800 (≥ 500)"],
        route_reason="PQL: score 78 is above 70 — AE",
        buyers=[
            {"name": "Dana Boss", "email": f"dana@{slug}.com", "title": "VP Engineering",
             "product_user_id": buyer.pk, "contact_id": None,
             "reasons": ["workspace admin", "senior title: VP Engineering"]},
        ],
    )  # fmt: skip
    Deal.objects.create(
        account=account,
        name="Acme self-serve",
        motion=Deal.Motion.SELF_SERVE,
        source=Deal.Source.SELF_SERVE,
        stage=Deal.Stage.WON,
        arr=1200,
        opened_at=at_noon(70),
        closed_at=at_noon(70),
    )
    play = Play.objects.create(
        key=f"five-users-{account.pk}",
        name="5+ users on the free plan",
        situation="A team of five or more works on the free plan.",
        conditions=[{"signal": "active_users_30", "operator": "gte", "threshold": 5}],
        approach="Offer the Team plan with a short call.",
        message_template="Hi, {{ account.name }} has {{ signals.active_users_30 }} active users.",
        priority=80,
    )
    PlayMatch.objects.create(
        account=account,
        play=play,
        matched=["Active users, 30 days ≥ 5"],
        matched_at=timezone.now(),
    )
    return account, item, buyer, users


# --- overview ------------------------------------------------------------------------------


def test_overview_shows_the_company_its_arr_inputs_and_anonymous_visitors(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    assert response.status_code == 200
    overview = section(response, "overview")
    for expected in (
        "acme-ins.com (primary)",
        "acme-ins.de",
        "Insurance",
        "800",
        "Germany",
        "Free",
        "Nobody yet",
        "$34,560",
        "Likely seats (the larger of the two) 80",
        "Priced at plan Team",
        "2 anonymous visitors (3 events) from Acme Insurance AG",
    ):
        assert expected in overview, expected


# --- product usage -----------------------------------------------------------------------


def test_usage_counts_users_departments_features_and_integrations(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    usage = response.context["usage"]
    assert usage["active_users_7"] == 3
    assert usage["active_users_30"] == 3
    assert usage["departments"] == [
        {"name": "Engineering", "users": 2},
        {"name": "Marketing", "users": 1},
    ]
    used = {f["key"]: f["used"] for f in usage["core_features"]}
    assert used == {
        "api": False,
        "automations": False,
        "dashboards": False,
        "export": True,
        "projects": True,
    }
    assert [i["name"] for i in usage["integrations"]] == ["github", "slack"]
    page = section(response, "usage")
    assert "2/5 core features, 30 days" in page
    assert "github" in page and "slack" in page


def test_active_users_are_counted_from_the_rollups_with_or_without_a_department(client, ae):
    account, *_ = build_account()
    # Stored by the last scoring run: the page counts today's rollups instead.
    assert AccountScore.objects.get(account=account).signals["active_users_30"] == 9
    nameless = ProductUserFactory(account=account, department="")
    AccountUserDayFactory(account=account, user=nameless, day=today() - timedelta(days=10))
    AccountUserDayFactory(account=account, user=nameless, day=today() - timedelta(days=12))
    gone = ProductUserFactory(account=account, department="Sales")
    AccountUserDayFactory(account=account, user=gone, day=today() - timedelta(days=30))
    client.force_login(ae)
    response = client.get(dossier_url(account))
    usage = response.context["usage"]
    # 3 users today, one more 10 and 12 days ago; the day 30 days ago is out of the window.
    assert (usage["active_users_7"], usage["active_users_30"]) == (3, 4)
    assert usage["departments"] == [
        {"name": "Engineering", "users": 2},
        {"name": "Marketing", "users": 1},
    ]
    page = section(response, "usage")
    assert "3 active users, 7 days" in page and "4 active users, 30 days" in page


def test_each_plan_limit_has_its_percentage_and_80_percent_is_highlighted(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    limits = {row["key"]: row for row in response.context["usage"]["limits"]}
    # Free plan: 5 seats (3 users, but a seat limit hit 3 days ago counts as 100 %),
    # 10 exports a month (9 used), 3 projects (2 created), 1,000 API calls a month.
    assert limits["seats"]["pct"] == 100.0 and limits["seats"]["hit_recently"]
    assert (limits["exports"]["used"], limits["exports"]["pct"]) == (9, 90.0)
    assert limits["exports"]["high"]
    assert (limits["projects"]["pct"], limits["projects"]["high"]) == (66.7, False)
    assert limits["api_calls"]["pct"] == 0
    # The highest bar is the usage signal scoring reads.
    assert max(row["pct"] for row in limits.values()) == response.context["usage"]["usage_pct"]
    html = response.content.decode()
    assert re.search(r'<tr data-limit="exports" class="limit-high">', html)
    assert re.search(r'<tr data-limit="projects" class="">', html)
    assert 'aria-valuenow="90"' in html


def test_limits_hit_and_features_tried_but_not_in_the_plan(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    hits = section(response, "limit-hits")
    last, first = today() - timedelta(days=3), today() - timedelta(days=40)
    assert f"Seats : hit 2 times, last on {last:%Y-%m-%d} (first on {first:%Y-%m-%d})" in hits
    paywall = section(response, "paywall")
    assert "sso : 2 hits by 2 users" in paywall
    assert "audit log : 1 hit by 1 user" in paywall


# --- onboarding, trend -------------------------------------------------------------------


def test_milestones_show_the_first_time_each_was_reached_and_activation(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    milestones = response.context["milestones"]
    reached = {m["key"]: m["reached_at"] for m in milestones["rows"]}
    assert reached["account_created"] == at_noon(100)
    assert reached["onboarding_completed"] == at_noon(60)  # the first of two
    assert reached["trial_started"] is None
    assert milestones["activated_at"] == at_noon(60)
    onboarding = section(response, "onboarding")
    assert f"Activated on {at_noon(60):%Y-%m-%d %H:%M} UTC (Onboarding Completed)" in onboarding
    assert "Trial Started — not yet" in onboarding


def line(n, start, step):
    return [start + step * i for i in range(n)]


@pytest.mark.parametrize(
    ("values", "pct", "verdict"),
    [
        # The slope relative to the mean, per day; the thresholds are ±0.5 %.
        (line(90, 10.0, 0.06), 0.47, STABLE),  # mean 12.67: just under
        (line(90, 10.0, 0.065), 0.50, GROWING),  # mean 12.89: just over
        (line(90, 20.0, -0.11), -0.73, DECLINING),
        (line(90, 10.0, 0.0), 0.0, STABLE),
        ([0] * 90, 0.0, NO_ACTIVITY),
        ([3] * 13, 0.0, TOO_EARLY),
    ],
)
def test_trend_verdict_by_the_fitted_slope_relative_to_the_mean(values, pct, verdict):
    trend = usage_trend(values)
    assert trend.verdict == verdict
    assert trend.pct_per_day == pytest.approx(pct, abs=0.01)


def test_trend_thresholds_are_inclusive_at_half_a_percent_of_the_mean():
    mean_at_start = 100.0
    # Points around a mean of 100 with a slope of exactly 0.5 a day: +0.5 %/day.
    values = [mean_at_start + 0.5 * (i - 44.5) for i in range(90)]
    assert usage_trend(values).pct_per_day == pytest.approx(TREND_THRESHOLD_PCT_PER_DAY)
    assert usage_trend(values).verdict == GROWING
    falling = [mean_at_start - 0.5 * (i - 44.5) for i in range(90)]
    assert usage_trend(falling).verdict == DECLINING
    # Noise around a flat line is stable.
    noisy = [10 + (3 if i % 7 in (0, 6) else -1) for i in range(90)]
    assert usage_trend(noisy).verdict == STABLE


def test_trend_reads_only_days_since_signup(client, ae):
    account = AccountFactory(created_at=timezone.now() - timedelta(days=20))
    QueueItemFactory(account=account)
    for days_ago in range(21):
        AccountDayFactory(account=account, day=today() - timedelta(days=days_ago), active_users=4)
    client.force_login(ae)
    response = client.get(dossier_url(account))
    trend = response.context["trend"]
    assert len(trend["days"]) == 21  # signup day to today, not 90 days of zeros
    assert trend["trend"].verdict == STABLE


def test_usage_chart_and_score_history_chart_are_drawn_server_side(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    html = response.content.decode()
    assert "vendor/plotly-4.1.1.min.js" in html
    assert 'id="dossier-usage-chart"' in html and 'id="dossier-score-chart"' in html
    assert '"name":"Daily active users"' in html
    assert '"name":"Trend (growing)"' in html
    assert "Usage trend: growing" in section(response, "trend")


def figures(html: str) -> dict[str, dict]:
    """The plotly figures of a page by their div id: data and layout as plotly.js gets them."""
    found = re.findall(
        r'Plotly\.newPlot\(\s*"([^"]+)",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displayModeBar"',
        html,
        flags=re.S,
    )
    return {
        div: {"data": json.loads(data), "layout": json.loads(layout)} for div, data, layout in found
    }


def test_charts_are_valid_plotly_figures_with_the_thresholds(client, ae):
    # Built as plain dicts, not through plotly's validating graph objects: validating
    # them changes nothing, so plotly.js draws what plotly would have built.
    account, *_ = build_account()
    client.force_login(ae)
    charts = figures(client.get(dossier_url(account)).content.decode())
    assert set(charts) == {"dossier-usage-chart", "dossier-score-chart"}
    for figure in charts.values():
        assert json.loads(go.Figure(figure).to_json()) == figure
    usage = charts["dossier-usage-chart"]
    assert [(t["type"], t["name"]) for t in usage["data"]] == [
        ("bar", "Events"),
        ("scatter", "Daily active users"),
        ("scatter", "Trend (growing)"),
    ]
    assert usage["data"][1]["y"][-1] == 9 and usage["layout"]["yaxis2"]["overlaying"] == "y"
    score = charts["dossier-score-chart"]
    assert [t["y"] for t in score["data"]] == [[40, 60, 78, 78], [40] * 4, [0, 20, 38, 38]]
    assert score["data"][0]["text"] == ["SDR", "SDR", "AE", "AE"]
    # The AE and SDR thresholds: a dotted line across the plot, labelled at its left end.
    assert [
        (s["y0"], s["y1"], s["xref"], s["line"]["dash"]) for s in score["layout"]["shapes"]
    ] == [
        (70, 70, "x domain", "dot"),
        (40, 40, "x domain", "dot"),
    ]
    assert [
        (a["text"], a["y"], a["xanchor"], a["yanchor"]) for a in score["layout"]["annotations"]
    ] == [
        ("AE above 70", 70, "left", "bottom"),
        ("SDR from 40", 40, "left", "bottom"),
    ]


# --- score breakdown ---------------------------------------------------------------------


def test_score_breakdown_lists_every_rule_and_the_value_engagement_split(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    score = response.context["score"]
    rules = RuleSet.objects.get(state="active").rules.count()
    assert len(score["rules"]) == rules
    matched = [(r["label"], r["points"]) for r in score["rules"] if r["matched"]]
    assert matched == [("Employees", 20), ("Active users, 30 days", 12)]
    assert all(r["points"] == 0 for r in score["rules"] if not r["matched"])
    page = section(response, "score")
    assert "40/40 value (high: cut-off 20)" in page
    assert "38/60 engagement (high: cut-off 30)" in page
    assert "PQL: score 78 is above 70 — AE" in page
    assert "high value × high engagement: a PQL" in page
    # An unmatched rule shows what it would give.
    assert "Large ARR potential (≥ 100,000) Value — 0 (+10 if met)" in page
    assert "Idle for two weeks or more (≥ 14) Engagement — 0 (-10 if met)" in page


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route.HELD, "checkout in progress since 2025-01-02 — don't interrupt"),
        (Route.HELD, "backed off: no response 7 days after the first touch — backed off until "
                     "2025-02-01"),
        (Route.SELF_SERVE_HERO, "self-serve hero: engagement 45 is high but value 5 is low — "
                                "never sent to sales"),
        (Route.INBOUND, "asked for a demo or sales contact on 2025-01-03"),
    ],
)  # fmt: skip
def test_the_route_and_why_including_the_guards(client, admin_user, route, reason):
    account, *_ = build_account()
    score_for(account, route=route, reason=reason, value=5, engagement=45)
    client.force_login(admin_user)
    response = client.get(dossier_url(account))
    page = section(response, "route")
    assert Route(route).label in page and reason in page
    assert "low value × high engagement: a self-serve hero" in section(response, "score")


def test_an_account_not_scored_yet_says_so(client, admin_user):
    account = AccountFactory()
    client.force_login(admin_user)
    response = client.get(dossier_url(account))
    assert response.status_code == 200
    assert "Not scored yet" in section(response, "score")
    assert "No score history yet." in section(response, "trend")


# --- timeline -------------------------------------------------------------------------------


def test_timeline_merges_signup_activation_milestones_pql_touches_checkout_deals_outcome(
    client, ae
):
    account, *_ = build_account()
    old = QueueItemFactory(
        account=account,
        route=Route.SDR,
        state=State.LOST,
        created_at=at_noon(45),
        closed_at=at_noon(40),
        close_reason="lost: no budget",
    )
    Touch.objects.create(item=old, by=ae, channel="email", person="Dana", at=at_noon(44),
                         response_at=at_noon(43), response_note="not now")  # fmt: skip
    account.checkout_started_at = at_noon(20)
    account.checkout_completed_at = at_noon(19)
    account.save()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    kinds = [e["kind"] for e in response.context["timeline"]]
    assert kinds == [
        "signup",
        "milestone",  # account created, 100 days ago
        "deal",  # self-serve deal opened 70 days ago
        "deal",  # … and won
        "activation",  # 60 days ago
        "milestone",  # onboarding completed, the same moment
        "pql",  # the SDR cycle, 45 days ago
        "touch",
        "response",
        "outcome",  # lost 40 days ago
        "checkout",
        "checkout",
        "pql",  # the current item, 3 hours ago
    ]
    timeline = section(response, "timeline")
    assert "PQL — routed to SDR (score 75)" in timeline
    assert "Outcome: Lost lost: no budget" in timeline
    assert "Deal won: Acme self-serve $1,200 ARR USD" in timeline
    assert "Response from Dana not now" in timeline
    assert "Checkout completed" in timeline


# --- people ---------------------------------------------------------------------------------


def test_people_lists_likely_buyers_first_with_why_then_users_with_what_they_did(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    people = response.context["people"]
    assert [b["name"] for b in people["buyers"]] == ["Dana Boss"]
    assert people["buyers"][0]["user"]["top_events"] == [
        ("Feature Gated", 1),
        ("Project Created", 1),
    ]
    assert [u["name"] for u in people["users"]] == ["User 0", "User 1"]  # last seen first
    assert people["users"][0]["top_events"] == [("Paywall Hit", 1), ("Report Exported", 1)]
    page = section(response, "people")
    assert "Why: workspace admin, senior title: VP Engineering" in page
    assert "Project Created ×1" in page
    assert page.index("Dana Boss") < page.index("User 0")
    assert "Missing buyer" not in page


def test_many_likely_buyers_show_the_first_ten_in_full_and_the_rest_listed(client, ae):
    account, item = missing_buyer_item(ae)
    buyers = [
        {"name": f"Buyer {n:02}", "email": f"b{n}@nobody.example", "title": "VP",
         "product_user_id": None, "contact_id": None, "reasons": ["senior title: VP"]}
        for n in range(14)
    ]  # fmt: skip
    QueueItem.objects.filter(pk=item.pk).update(buyers=buyers, missing_buyer=False)
    client.force_login(ae)
    response = client.get(dossier_url(account))
    full = section(response, "buyers").split("more likely buyers")[0]
    assert "Buyer 09" in full and "Buyer 10" not in full
    assert "4 more likely buyers" in section(response, "buyers-more")
    assert "Buyer 13, VP — senior title: VP" in section(response, "buyers-more")


def test_without_an_active_item_buyers_are_found_now(client, admin_user):
    account = AccountFactory()
    ProductUserFactory(account=account, name="Chris Chief", title="Chief Financial Officer")
    client.force_login(admin_user)
    response = client.get(dossier_url(account))
    assert [b["name"] for b in response.context["people"]["buyers"]] == ["Chris Chief"]
    assert "senior title: Chief Financial Officer" in section(response, "people")


def missing_buyer_item(ae):
    account = AccountFactory(name="Nobody Corp")
    ProductUserFactory(account=account, name="Junior Dev", title="Developer")
    item = QueueItemFactory(account=account, buyers=[], missing_buyer=True)
    return account, item


def test_missing_buyer_notice_and_hand_to_marketing_with_a_note(client, ae):
    account, item = missing_buyer_item(ae)
    client.force_login(ae)
    response = client.get(dossier_url(account))
    assert "Missing buyer." in section(response, "people")
    assert 'data-testid="marketing-form"' in response.content.decode()
    url = reverse(
        "dossiers:dossier_hand_to_marketing",
        kwargs={"account_id": account.pk, "item_id": item.pk},
    )
    response = client.post(
        url, {"note": "No buyer at all; nurture via webinar"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"
    item.refresh_from_db()
    assert item.state == State.HANDED_TO_MARKETING
    assert "No buyer at all; nurture via webinar" in item.note
    page = client.get(dossier_url(account))
    assert "handed to marketing: No buyer at all" in section(page, "touch-log")
    assert 'data-testid="marketing-form"' not in page.content.decode()


def test_adding_a_contact_lists_them_as_a_buyer_and_clears_the_missing_buyer(client, ae):
    account, _item = missing_buyer_item(ae)
    client.force_login(ae)
    url = reverse("dossiers:dossier_contact_add", kwargs={"account_id": account.pk})
    response = client.post(
        url,
        {"name": "Frida Finance", "email": "Frida@nobody.example", "title": "CFO"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    page = text(response.content.decode())
    assert "Contact added." in page
    assert "Frida Finance , CFO" in page
    assert "Why: known contact (added by a rep)" in page
    assert "Never used the product." in page
    assert "Missing buyer" not in page
    contact = Contact.objects.get(account=account)
    assert (contact.email, contact.source) == ("frida@nobody.example", Contact.Source.REP)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "email": "x@y.com"}, "name", "Name: say who the buyer is."),
        ({"name": "Frida", "email": "not-an-email"}, "email",
         "Email: “not-an-email” is not an email address."),
        ({"name": "F" * 201}, "name", "Name: at most 200 characters (this one has 201)."),
        ({"name": "Frida", "title": "T" * 201}, "title", "Title: at most 200 characters"),
    ],
)  # fmt: skip
def test_contact_form_errors_name_the_field(client, ae, data, field, message):
    account, _item = missing_buyer_item(ae)
    client.force_login(ae)
    url = reverse("dossiers:dossier_contact_add", kwargs={"account_id": account.pk})
    response = client.post(url, data, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["contact_form"].errors[field][0].startswith(message)
    assert not Contact.objects.exists()


def test_a_contact_email_already_known_is_refused_and_a_user_email_is_linked(ae):
    account = AccountFactory(domain="known.com")
    user = ProductUserFactory(account=account, email="lee@known.com")
    contact = contact_add(
        account_id=account.pk, name="Lee", email="LEE@known.com", title="", user=ae
    )
    assert contact.product_user == user
    assert "Added by" in contact.notes
    with pytest.raises(ValidationError) as excinfo:
        contact_add(account_id=account.pk, name="Lee 2", email="lee@known.com", title="", user=ae)
    assert excinfo.value.message_dict["email"][0].startswith(
        "Email: lee@known.com is already a contact of"
    )


def test_a_contact_on_a_merged_account_names_the_account(ae):
    target = AccountFactory()
    merged = AccountFactory(merged_into=target)
    with pytest.raises(ValidationError) as excinfo:
        contact_add(account_id=merged.pk, name="Lee", email="", title="", user=ae)
    assert "merged into another" in excinfo.value.message_dict["account"][0]


# --- play -----------------------------------------------------------------------------------


def test_recommended_play_and_its_message_filled_with_the_account_numbers(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    play = section(response, "play")
    assert "5+ users on the free plan" in play
    assert "Offer the Team plan with a short call." in play
    assert "Matched: Active users, 30 days ≥ 5" in play
    html = response.content.decode()
    assert "Hi, Acme Insurance has 9 active users." in html
    assert 'data-copy-target="#play-message"' in html


def test_a_broken_message_template_is_a_notice_not_a_500(client, ae):
    account, *_ = build_account()
    Play.objects.update(message_template="Hi {{ account.name ")
    client.force_login(ae)
    response = client.get(dossier_url(account))
    assert response.status_code == 200
    assert "first-message template has an error" in section(response, "play")
    assert "data-copy-target" not in response.content.decode()


def test_no_play_says_so(client, admin_user):
    account = AccountFactory()
    client.force_login(admin_user)
    response = client.get(dossier_url(account))
    assert "No play matches this account yet" in section(response, "play")


# --- touch log ------------------------------------------------------------------------------


def test_touch_then_response_meets_the_sla_starts_then_stops_the_back_off_clock(client, ae):
    account, item, *_ = build_account()
    client.force_login(ae)
    url = reverse("dossiers:dossier_touch_add", kwargs={"account_id": account.pk,
                                                       "item_id": item.pk})  # fmt: skip
    response = client.post(
        url,
        {"channel": "email", "person": "Dana Boss", "note": "Sent the Team offer"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.state, item.claimed_by) == (State.TOUCHED, ae)
    touch = Touch.objects.get(item=item)
    log = text(response.content.decode())
    assert "Email with Dana Boss" in log and "Sent the Team offer" in log
    assert "SLA met" in log
    until = item.first_touch_at + timedelta(days=7)
    assert f"no response by {until:%Y-%m-%d %H:%M} UTC (7 days after the first touch)" in log
    assert "No response yet." in log
    # The item's state and the timeline follow, swapped out of band.
    assert "Item touched" in log
    assert f"Touch by email — Dana Boss {ae.get_full_name()}: Sent the Team offer" in log
    assert response.content.decode().count('hx-swap-oob="true"') == 2

    url = reverse("dossiers:dossier_touch_response", kwargs={"account_id": account.pk,
                                                            "touch_id": touch.pk})  # fmt: skip
    response = client.post(url, {"note": "Send a proposal"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    log = text(response.content.decode())
    assert "Response" in log and "Send a proposal" in log
    assert "the back-off clock stopped" in log
    assert 'data-testid="response-form"' not in response.content.decode()
    item.refresh_from_db()
    assert item.responded_at is not None and item.deal is not None


def test_back_off_date_follows_the_active_rule_set(client, ae):
    RuleSet.objects.filter(state="active").update(backoff_days=3)
    account, item, *_ = build_account()
    queue_item_touch(item_id=item.pk, rep=ae, channel="phone", person="Dana")
    item.refresh_from_db()
    client.force_login(ae)
    response = client.get(dossier_url(account))
    until = item.first_touch_at + timedelta(days=3)
    assert f"no response by {until:%Y-%m-%d %H:%M} UTC (3 days after" in section(
        response, "backoff"
    )


def test_a_late_first_touch_misses_the_sla(client, ae):
    account, item, *_ = build_account()
    QueueItem.objects.filter(pk=item.pk).update(due_at=timezone.now() - timedelta(hours=1))
    client.force_login(ae)
    url = reverse("dossiers:dossier_touch_add", kwargs={"account_id": account.pk,
                                                       "item_id": item.pk})  # fmt: skip
    response = client.post(
        url, {"channel": "phone", "person": "Dana"}, headers={"HX-Request": "true"}
    )
    assert "SLA missed" in response.content.decode()


def test_touch_form_errors_name_the_field(client, ae):
    account, item, *_ = build_account()
    client.force_login(ae)
    url = reverse("dossiers:dossier_touch_add", kwargs={"account_id": account.pk,
                                                       "item_id": item.pk})  # fmt: skip
    response = client.post(url, {"channel": "fax", "person": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Channel: pick one of the list." in html
    assert "Person: say who was contacted." in html
    assert not Touch.objects.exists()


def test_an_item_claimed_by_another_rep_is_read_only_and_a_touch_is_refused(client, ae):
    account, item, *_ = build_account()
    other = UserFactory(username="bea", ae=True, first_name="Bea", last_name="Other")
    queue_item_claim(item_id=item.pk, rep=other)
    client.force_login(ae)
    page = client.get(dossier_url(account))
    assert "Bea Other claimed this account: only they log its touches." in section(
        page, "touch-log"
    )
    assert 'data-testid="touch-form"' not in page.content.decode()
    url = reverse("dossiers:dossier_touch_add", kwargs={"account_id": account.pk,
                                                       "item_id": item.pk})  # fmt: skip
    response = client.post(
        url, {"channel": "email", "person": "Dana"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 409
    assert "Bea Other claimed this account first" in response.content.decode()
    assert not Touch.objects.exists()


def test_plain_form_posts_redirect_back_to_the_dossier(client, ae):
    account, item, *_ = build_account()
    client.force_login(ae)
    url = reverse("dossiers:dossier_touch_add", kwargs={"account_id": account.pk,
                                                       "item_id": item.pk})  # fmt: skip
    response = client.post(url, {"channel": "email", "person": "Dana"})
    assert response.status_code == 302
    assert response["Location"] == dossier_url(account) + "#touch-log"
    response = client.post(url, {"channel": "email", "person": ""})
    assert response.status_code == 400
    assert "Person: say who was contacted." in section(response, "touch-log")


def test_a_second_response_to_a_touch_is_refused(client, ae):
    account, item, *_ = build_account()
    touch = queue_item_touch(item_id=item.pk, rep=ae, channel="email", person="Dana")
    touch_response(touch_id=touch.pk, rep=ae, note="yes")
    client.force_login(ae)
    url = reverse("dossiers:dossier_touch_response", kwargs={"account_id": account.pk,
                                                            "touch_id": touch.pk})  # fmt: skip
    response = client.post(url, {"note": "again"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "this touch already has its response" in response.content.decode()


# --- scoping and roles -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "state", "holder", "expected"),
    [
        (Route.AE, State.OPEN, None, {"ae": 200, "sdr": 404}),
        (Route.INBOUND, State.OPEN, None, {"ae": 200, "sdr": 404}),
        (Route.SDR, State.OPEN, None, {"ae": 404, "sdr": 200}),
        (Route.SDR, State.LOST, "ae", {"ae": 200, "sdr": 404}),  # closed by the AE earlier
        (Route.AE, State.LOST, "other", {"ae": 404, "sdr": 404}),  # another rep's history
        (Route.EXPANSION, State.OPEN, "owner:other", {"ae": 404, "sdr": 404}),
    ],
)
def test_reps_open_dossiers_of_their_pool_only(client, users, route, state, holder, expected):
    account = AccountFactory()
    other = UserFactory(username="other", ae=True)
    fields = {}
    if holder == "ae":
        fields = {"claimed_by": users["ae"], "closed_by": users["ae"], "closed_at": timezone.now()}
    elif holder == "other":
        fields = {"claimed_by": other, "closed_by": other, "closed_at": timezone.now()}
    elif holder == "owner:other":
        fields = {"owner": other}
    QueueItemFactory(account=account, route=route, state=state, **fields)
    for role, status in expected.items():
        client.force_login(users[role])
        assert client.get(dossier_url(account)).status_code == status, role


def test_pm_reads_any_dossier_without_forms_and_gets_403_on_every_action(client, pm):
    account, item, *_ = build_account()
    touch = Touch.objects.create(item=item, by=UserFactory(username="x", ae=True),
                                 channel="email", person="Dana", at=timezone.now())  # fmt: skip
    client.force_login(pm)
    response = client.get(dossier_url(account))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="read-only"' in html
    for form in ("touch-form", "response-form", "contact-form", "marketing-form"):
        assert f'data-testid="{form}"' not in html
    args = {"account_id": account.pk}
    for name, kwargs in (
        ("dossiers:dossier_touch_add", {**args, "item_id": item.pk}),
        ("dossiers:dossier_touch_response", {**args, "touch_id": touch.pk}),
        ("dossiers:dossier_contact_add", args),
        ("dossiers:dossier_hand_to_marketing", {**args, "item_id": item.pk}),
    ):
        response = client.post(reverse(name, kwargs=kwargs), {"channel": "email", "person": "x"})
        assert response.status_code == 403, name
    assert Touch.objects.count() == 1 and not Contact.objects.exists()


def test_admin_opens_and_acts_on_any_account(client, admin_user):
    account, item, *_ = build_account()
    client.force_login(admin_user)
    response = client.get(dossier_url(account))
    assert 'data-testid="touch-form"' in response.content.decode()
    url = reverse("dossiers:dossier_touch_add", kwargs={"account_id": account.pk,
                                                       "item_id": item.pk})  # fmt: skip
    assert client.post(url, {"channel": "email", "person": "Dana"}).status_code == 302


def test_anonymous_goes_to_login_and_unknown_accounts_are_404(client, admin_user):
    account = AccountFactory()
    response = client.get(dossier_url(account))
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    url = reverse("dossiers:dossier_contact_add", kwargs={"account_id": account.pk})
    assert client.post(url).status_code == 302
    client.force_login(admin_user)
    assert client.get(reverse("dossiers:dossier", kwargs={"account_id": 999999})).status_code == 404


def test_a_rep_cannot_act_on_another_accounts_item_through_this_url(client, ae):
    account, _item, *_ = build_account()
    foreign = QueueItemFactory(route=Route.SDR)
    client.force_login(ae)
    url = reverse("dossiers:dossier_touch_add", kwargs={"account_id": account.pk,
                                                       "item_id": foreign.pk})  # fmt: skip
    assert client.post(url, {"channel": "email", "person": "x"}).status_code == 404
    url = reverse("dossiers:dossier_contact_add", kwargs={"account_id": foreign.account_id})
    assert client.post(url, {"name": "x"}).status_code == 404


# --- query count ------------------------------------------------------------------------------


def test_the_dossier_runs_a_constant_number_of_queries(client, ae, django_assert_max_num_queries):
    small, *_ = build_account(size=1)
    large, large_item, *_ = build_account(size=12, slug="large", net=114)
    for n in range(6):
        Contact.objects.create(account=large, name=f"Contact {n}")
    queue_item_touch(item_id=large_item.pk, rep=ae, channel="email", person="Dana")
    client.force_login(ae)
    client.get(reverse("dossiers:queue"))  # reads what every page shares (the settings)
    counts = []
    for account in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(dossier_url(account)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # 50 before the usage section stopped computing every signal of the account.
    with django_assert_max_num_queries(37):
        client.get(dossier_url(large))


# The rows the lead adds to tests/pls_portal/test_permissions.py, for an account whose only
# item was lost by another rep (in nobody's pool now) and a touch on it:
# GET status per column (anonymous, ae, sdr, pm, admin), then POST with an empty form.
MATRIX = {
    "dossiers:dossier": ((302, 404, 404, 200, 200), (405,) * 5),
    "dossiers:dossier_touch_add": ((405,) * 5, (302, 404, 404, 403, 400)),
    "dossiers:dossier_touch_response": ((405,) * 5, (302, 404, 404, 403, 400)),
    "dossiers:dossier_contact_add": ((405,) * 5, (302, 404, 404, 403, 400)),
    # An admin is told the item is closed, back on the page.
    "dossiers:dossier_hand_to_marketing": ((405,) * 5, (302, 404, 404, 403, 302)),
}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_role_url_matrix_of_the_dossier(client, users, name):
    other = UserFactory(username="other-ae", ae=True)
    item = QueueItemFactory(
        state=State.LOST, claimed_by=other, closed_by=other, closed_at=timezone.now()
    )
    touch = Touch.objects.create(
        item=item, by=other, channel="email", person="Dana", at=timezone.now()
    )
    kwargs = {"account_id": item.account_id}
    if name.endswith(("touch_add", "hand_to_marketing")):
        kwargs["item_id"] = item.pk
    if name.endswith("touch_response"):
        kwargs["touch_id"] = touch.pk
    url = reverse(name, kwargs=kwargs)
    get_statuses, post_statuses = MATRIX[name]
    for column, get_status, post_status in zip(
        ("anonymous", "ae", "sdr", "pm", "admin"), get_statuses, post_statuses, strict=True
    ):
        client.logout()
        if column != "anonymous":
            client.force_login(users[column])
        assert client.get(url).status_code == get_status, (column, "GET")
        assert client.post(url).status_code == post_status, (column, "POST")
    item.refresh_from_db()
    assert item.state == State.LOST and not Contact.objects.exists()
