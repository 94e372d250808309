"""The PQL queue page: what each rep sees (their pool, most urgent first, each row's
facts), the filters and search kept in the URL, pagination, the row actions through the
scoring services, and who may do what."""

import re
from datetime import UTC, datetime, time, timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountDomain
from playbooks.models import Play, PlayMatch
from scoring.models import QueueItem, Route, RouteChange, RuleSet, ScoreHistory
from scoring.services.queue import queue_item_claim, queue_item_touch
from tests.factories import AccountFactory, UserFactory
from tests.scoring.factories import QueueItemFactory

State = QueueItem.State
HTMX = {"HX-Request": "true"}
QUEUE = "/queue/"


def make_item(name: str, *, route=Route.AE, due_in: float = 24, score: int = 75, **fields):
    """An active item of a fresh account called ``name``, due ``due_in`` hours from now
    (negative: overdue)."""
    now = timezone.now()
    account = AccountFactory(name=name, domain=f"{name.lower().replace(' ', '-')}.com")
    return QueueItemFactory(
        account=account,
        route=route,
        score=score,
        created_at=now - timedelta(hours=1),
        due_at=now + timedelta(hours=due_in),
        **fields,
    )


def names(response) -> list[str]:
    """The account names of the rows, top to bottom, as the rep reads them."""
    return [
        unescape(n)
        for n in re.findall(r'data-testid="account-name">([^<]*)<', response.content.decode())
    ]


def row_html(response, item) -> str:
    html = response.content.decode()
    start = html.index(f'id="item-{item.pk}"')
    return html[start : html.index("</tr>", start)]


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def changes(item) -> list[tuple]:
    return list(
        RouteChange.objects.filter(item=item)
        .order_by("id")
        .values_list("from_state", "to_state", "to_route", "reason")
    )


@pytest.fixture
def bea(db):
    return UserFactory(username="bea", first_name="Bea", last_name="Second", ae=True)


# --- the list -----------------------------------------------------------------------------


def test_queue_lists_overdue_first_then_by_due_time_then_by_score(login, ae):
    make_item("Later", due_in=10)
    make_item("Soon low", due_in=2, score=55)
    make_item("Overdue", due_in=-1)
    make_item("Soon high", due_in=2, score=90)
    make_item("Long overdue", due_in=-30)
    soon = QueueItem.objects.get(account__name="Soon low").due_at
    QueueItem.objects.filter(account__name="Soon high").update(due_at=soon)

    response = login(ae).get(QUEUE)

    assert response.status_code == 200
    assert names(response) == ["Long overdue", "Overdue", "Soon high", "Soon low", "Later"]


def test_a_touched_item_past_its_due_time_is_not_overdue(login, ae):
    touched = make_item("Touched", due_in=-5, state=State.TOUCHED, claimed_by=ae)
    touched.first_touch_at = touched.due_at - timedelta(hours=1)
    touched.save()
    make_item("Overdue", due_in=-1)

    response = login(ae).get(QUEUE)

    assert names(response) == ["Overdue", "Touched"]
    assert "SLA met" in text(row_html(response, touched))
    assert "overdue by" not in text(row_html(response, touched))


def test_a_row_shows_what_the_rep_needs_to_pick_an_account(login, ae, bea):
    item = make_item(
        "Acme",
        due_in=-2,
        score=75,
        reasons=["7 active users in 30 days", "hit the export limit", "pricing viewed", "4th"],
        missing_buyer=True,
        state=State.CLAIMED,
        claimed_by=bea,
    )
    play = Play.objects.create(
        key="free-team", name="5+ users on the free plan", situation="s", approach="a",
        message_template="Hi",
    )  # fmt: skip
    PlayMatch.objects.create(
        account=item.account, play=play, matched=["7 active users"], matched_at=timezone.now()
    )

    row = text(row_html(login(ae).get(QUEUE), item))

    assert "Acme" in row and "acme.com" in row
    assert "7 active users in 30 days" in row and "pricing viewed" in row
    assert "4th" not in row  # the top three reasons only
    assert "overdue by 2 hours" in row
    assert "5+ users on the free plan" in row
    assert "Missing buyer" in row
    assert "Bea Second" in row
    assert reverse("dossiers:dossier", args=[item.account_id]) in row_html(
        login(ae).get(QUEUE), item
    )


def test_score_change_is_against_the_last_score_before_today(login, ae):
    midnight = datetime.combine(timezone.now().date(), time.min, tzinfo=UTC)
    rule_set = RuleSet.objects.get(state=RuleSet.State.ACTIVE)
    up = make_item("Up", score=75)
    down = make_item("Down", score=60)
    new = make_item("New", score=80)
    for item, at, score in [
        (up, midnight - timedelta(hours=20), 50),
        (up, midnight - timedelta(hours=1), 70),  # yesterday's last score
        (up, midnight + timedelta(seconds=1), 75),  # today's: not the baseline
        (down, midnight - timedelta(days=3), 63),
        (new, midnight + timedelta(seconds=1), 80),
    ]:
        ScoreHistory.objects.create(
            account=item.account, rule_set=rule_set, at=at, score=score, value=0,
            engagement=score, route=Route.AE,
        )  # fmt: skip

    response = login(ae).get(QUEUE)

    assert re.search(r"score-change[^>]*>\+5<", row_html(response, up))
    assert re.search(r"score-change[^>]*>−3<", row_html(response, down))
    assert "new today" in text(row_html(response, new))


def test_inbound_and_expansion_rows_are_labelled(login, ae):
    inbound = make_item("Asked for a demo", route=Route.INBOUND)
    expansion = make_item("Grown", route=Route.EXPANSION)

    response = login(ae).get(QUEUE)

    assert re.search(r'data-testid="route"[^>]*>Inbound<', row_html(response, inbound))
    assert re.search(r'data-testid="route"[^>]*>Expansion<', row_html(response, expansion))


def test_each_rep_sees_their_own_pool(login, ae, sdr, admin_user):
    make_item("AE item", route=Route.AE)
    make_item("SDR item", route=Route.SDR)
    make_item("Inbound item", route=Route.INBOUND)
    make_item("Someone's expansion", route=Route.EXPANSION, owner=UserFactory(ae=True))
    make_item("Closed", state=State.LOST)

    assert sorted(names(login(ae).get(QUEUE))) == ["AE item", "Inbound item"]
    assert names(login(sdr).get(QUEUE)) == ["SDR item"]
    assert sorted(names(login(admin_user).get(QUEUE))) == [
        "AE item", "Inbound item", "SDR item", "Someone's expansion",
    ]  # fmt: skip


@pytest.mark.parametrize("query", [{}, {"overdue": "on"}])
def test_an_empty_queue_says_what_will_come(login, ae, query):
    make_item("Someone else's", route=Route.SDR)

    response = login(ae).get(QUEUE, query)

    assert "No accounts to work on yet" in response.content.decode()
    assert "No items match these filters" not in response.content.decode()


def test_when_filters_hide_everything_the_empty_state_offers_to_clear_them(login, ae):
    make_item("Acme")

    response = login(ae).get(QUEUE, {"q": "nothing like it"})

    body = response.content.decode()
    assert "No items match these filters" in body
    assert 'data-testid="clear-filters"' in body
    assert "No accounts to work on yet" not in body


# --- filters, search and pagination -------------------------------------------------------


def test_filter_by_route(login, admin_user):
    make_item("AE item", route=Route.AE)
    make_item("SDR item", route=Route.SDR)
    make_item("Inbound item", route=Route.INBOUND)

    response = login(admin_user).get(QUEUE, {"route": "inbound"})

    assert names(response) == ["Inbound item"]
    assert '<option value="inbound" selected>' in response.content.decode()


def test_filter_by_matched_play(login, ae):
    matched = make_item("Matched")
    make_item("Other")
    play = Play.objects.create(
        key="limit-twice", name="Limit hit twice", situation="s", approach="a",
        message_template="Hi",
    )  # fmt: skip
    PlayMatch.objects.create(
        account=matched.account, play=play, matched=[], matched_at=timezone.now()
    )

    assert names(login(ae).get(QUEUE, {"play": "limit-twice"})) == ["Matched"]


def test_filter_claimed_by_me_or_unclaimed(login, ae, bea):
    make_item("Mine", state=State.CLAIMED, claimed_by=ae)
    make_item("Bea's", state=State.CLAIMED, claimed_by=bea)
    make_item("Free")
    client = login(ae)

    assert names(client.get(QUEUE, {"claimed": "me"})) == ["Mine"]
    assert names(client.get(QUEUE, {"claimed": "unclaimed"})) == ["Free"]


def test_filter_overdue(login, ae):
    make_item("Overdue", due_in=-1)
    make_item("On time", due_in=5)

    assert names(login(ae).get(QUEUE, {"overdue": "on"})) == ["Overdue"]


def test_filter_missing_buyer(login, ae):
    make_item("No buyer", missing_buyer=True)
    make_item("Has a buyer", missing_buyer=False)

    assert names(login(ae).get(QUEUE, {"missing_buyer": "on"})) == ["No buyer"]


def test_search_by_account_name_or_any_of_its_domains(login, ae):
    acme = make_item("Acme Corp")
    make_item("Globex")
    AccountDomain.objects.create(account=acme.account, domain="acme-labs.io")
    client = login(ae)

    assert names(client.get(QUEUE, {"q": "acme c"})) == ["Acme Corp"]
    assert names(client.get(QUEUE, {"q": "globex.com"})) == ["Globex"]
    assert names(client.get(QUEUE, {"q": "LABS.io"})) == ["Acme Corp"]


def test_a_filter_value_that_is_not_a_choice_is_ignored(login, ae):
    make_item("Acme")

    response = login(ae).get(QUEUE, {"route": "sdr", "play": "gone"})  # not an AE route

    assert response.status_code == 200
    assert names(response) == ["Acme"]


def test_pages_keep_the_filters_in_their_links(login, ae):
    for n in range(30):
        make_item(f"Company {n:02d}", due_in=n + 1)
    make_item("Inbound", route=Route.INBOUND)
    client = login(ae)

    first = client.get(QUEUE, {"route": "ae"})
    second = client.get(QUEUE, {"route": "ae", "page": 2})

    assert len(names(first)) == 25
    assert names(second) == [f"Company {n:02d}" for n in range(25, 30)]
    assert 'href="?route=ae&amp;page=2"' in first.content.decode()
    assert "30 active items match the filters" in text(first.content.decode())


def test_a_page_past_the_last_shows_the_last_and_a_bad_number_the_first(login, ae):
    for n in range(30):
        make_item(f"Company {n:02d}", due_in=n + 1)
    client = login(ae)
    last = [f"Company {n:02d}" for n in range(25, 30)]

    for asked in ("9", "0", "-1"):  # past the end, or below the first: the last page
        response = client.get(QUEUE, {"page": asked})
        assert names(response) == last, asked
        assert "page 2 of 2" in text(response.content.decode())
    response = client.get(QUEUE, {"page": "two"})
    assert names(response)[0] == "Company 00"
    assert "30 active items · page 1 of 2" in text(response.content.decode())


def test_the_lists_own_refresh_gets_only_the_rows(login, ae):
    make_item("Acme")

    response = login(ae).get(QUEUE, {"claimed": "unclaimed"}, headers=HTMX)

    body = response.content.decode()
    assert names(response) == ["Acme"]
    assert "<html" not in body and 'data-testid="queue-filters"' not in body
    assert "HX-Request" in response["Vary"]


def test_the_page_runs_the_same_queries_at_5_and_50_items(
    login, ae, bea, django_assert_max_num_queries
):
    rule_set = RuleSet.objects.get(state=RuleSet.State.ACTIVE)
    play = Play.objects.create(
        key="p", name="Play", situation="s", approach="a", message_template="Hi"
    )
    client = login(ae)
    client.get(QUEUE)  # the first page of a process reads what pages share (plays, settings)
    counts = []
    for size in (5, 50):
        for n in range(size - QueueItem.objects.count()):
            item = make_item(f"Co {size}-{n}", state=State.CLAIMED, claimed_by=bea if n % 2 else ae)
            ScoreHistory.objects.create(
                account=item.account, rule_set=rule_set, at=timezone.now() - timedelta(days=1),
                score=60, value=0, engagement=60, route=Route.AE,
            )  # fmt: skip
            PlayMatch.objects.create(
                account=item.account, play=play, matched=[], matched_at=timezone.now()
            )
        with django_assert_max_num_queries(8), CaptureQueriesContext(connection) as queries:
            response = client.get(QUEUE, {"q": "co"})
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_each_rows_forms_post_to_its_own_item(login, ae, sdr):
    # The action URLs are reversed once per page and filled in for every row.
    items = [make_item(name, route=Route.SDR) for name in ("Acme", "Globex")]
    items[1].claimed_by = sdr
    items[1].state = State.CLAIMED
    items[1].save()

    response = login(sdr).get(QUEUE)

    for item, actions in (
        (items[0], ("item_claim", "item_disqualify", "item_hand_to_marketing", "item_hand_to_ae")),
        (items[1], ("item_release", "item_won", "item_lost", "item_disqualify",
                    "item_hand_to_marketing", "item_hand_to_ae")),
    ):  # fmt: skip
        html = row_html(response, item)
        posted = re.findall(r'<form method="post" action="([^"]+)"', html)
        assert posted == [reverse(f"dossiers:{name}", args=[item.pk]) for name in actions]
        assert re.findall(r'hx-post="([^"]+)"', html) == posted
        assert f'data-dossier-url="{reverse("dossiers:dossier", args=[item.account_id])}"' in html


# --- actions ------------------------------------------------------------------------------


def test_claim_gives_the_row_to_the_rep_in_place(login, ae):
    item = make_item("Acme")

    response = login(ae).post(reverse("dossiers:item_claim", args=[item.pk]), headers=HTMX)

    assert response.status_code == 200
    row = text(response.content.decode())
    assert "You" in row and "Release" in row and "Claim " not in row
    item.refresh_from_db()
    assert (item.state, item.claimed_by) == (State.CLAIMED, ae)
    assert changes(item) == [("open", "claimed", "ae", "claimed")]


def test_release_puts_the_item_back_in_the_pool(login, ae):
    item = make_item("Acme")
    queue_item_claim(item_id=item.pk, rep=ae)

    response = login(ae).post(reverse("dossiers:item_release", args=[item.pk]), headers=HTMX)

    assert response.status_code == 200
    assert "Unclaimed" in text(response.content.decode())
    item.refresh_from_db()
    assert (item.state, item.claimed_by) == (State.OPEN, None)
    assert changes(item)[-1] == ("claimed", "open", "ae", "released back to the pool")


def test_a_touched_item_cannot_be_released_and_the_row_says_why(login, ae):
    item = make_item("Acme")
    queue_item_touch(item_id=item.pk, rep=ae, channel="email", person="CTO")

    response = login(ae).post(reverse("dossiers:item_release", args=[item.pk]), headers=HTMX)

    assert response.status_code == 400
    assert "only a claimed item that was not touched yet can be released" in text(
        response.content.decode()
    )
    item.refresh_from_db()
    assert item.state == State.TOUCHED


def test_losing_a_claim_race_shows_who_won(login, ae, bea):
    item = make_item("Acme")
    queue_item_claim(item_id=item.pk, rep=bea)

    response = login(ae).post(reverse("dossiers:item_claim", args=[item.pk]), headers=HTMX)

    assert response.status_code == 409
    row = text(response.content.decode())
    assert "Bea Second claimed this account first" in row
    assert f'id="item-{item.pk}"' in response.content.decode()
    item.refresh_from_db()
    assert item.claimed_by == bea


def test_won_needs_the_arr_and_closes_the_item(login, ae):
    item = make_item("Acme")
    queue_item_claim(item_id=item.pk, rep=ae)
    client = login(ae)
    url = reverse("dossiers:item_won", args=[item.pk])

    for arr in ("", "0", "-5"):
        missing = client.post(url, {"arr": arr}, headers=HTMX)
        assert missing.status_code == 400
        assert "ARR: a won deal needs its annual recurring revenue (above 0)" in text(
            missing.content.decode()
        )
        assert re.search(r"<details[^>]* open>\s*<summary[^>]*>Mark won…", missing.content.decode())
    not_a_number = client.post(url, {"arr": "lots"}, headers=HTMX)
    assert "ARR: Enter a number." in text(not_a_number.content.decode())
    item.refresh_from_db()
    assert item.state == State.CLAIMED

    won = client.post(url, {"arr": "12000"}, headers=HTMX)

    assert won.status_code == 200
    assert 'data-testid="queue-flash"' in won.content.decode()
    assert "Acme — won: $12,000 ARR. It has left the queue." in text(won.content.decode())
    item.refresh_from_db()
    assert item.state == State.WON
    assert changes(item)[-1][:2] == ("claimed", "won")
    assert names(client.get(QUEUE)) == []


def test_lost_needs_a_reason(login, ae):
    item = make_item("Acme")
    queue_item_claim(item_id=item.pk, rep=ae)
    client = login(ae)
    url = reverse("dossiers:item_lost", args=[item.pk])

    missing = client.post(url, {"reason": "  "}, headers=HTMX)
    lost = client.post(url, {"reason": "Chose a competitor"}, headers=HTMX)

    assert missing.status_code == 400
    assert "reason: say why the deal was lost" in text(missing.content.decode())
    assert lost.status_code == 200
    assert "Acme — lost: Chose a competitor" in text(lost.content.decode())
    item.refresh_from_db()
    assert item.state == State.LOST
    assert changes(item)[-1] == ("claimed", "lost", "ae", "lost: Chose a competitor")


def test_disqualify_shows_the_cool_down_and_needs_a_reason(login, ae):
    RuleSet.objects.filter(state=RuleSet.State.ACTIVE).update(cooldown_days=45)
    item = make_item("Acme")
    client = login(ae)
    url = reverse("dossiers:item_disqualify", args=[item.pk])

    page = client.get(QUEUE)
    missing = client.post(url, {"reason": ""}, headers=HTMX)
    done = client.post(url, {"reason": "Agency, no budget"}, headers=HTMX)

    assert "Cool-down: 45 days" in text(row_html(page, item))
    assert missing.status_code == 400
    assert "reason: say why the account is disqualified" in text(missing.content.decode())
    assert done.status_code == 200
    assert "Acme — disqualified: Agency, no budget" in text(done.content.decode())
    item.refresh_from_db()
    assert item.state == State.DISQUALIFIED
    assert changes(item)[-1] == ("open", "disqualified", "ae", "disqualified: Agency, no budget")


def test_hand_to_marketing_with_a_note(login, ae):
    item = make_item("Acme", missing_buyer=True)

    response = login(ae).post(
        reverse("dossiers:item_hand_to_marketing", args=[item.pk]),
        {"note": "Only interns use it"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert "Acme — handed to marketing: Only interns use it" in text(response.content.decode())
    item.refresh_from_db()
    assert item.state == State.HANDED_TO_MARKETING
    assert changes(item)[-1][:2] == ("open", "marketing")


def test_an_sdr_hands_an_item_to_the_ae_pool_with_a_note(login, sdr, ae):
    item = make_item("Acme", route=Route.SDR)
    client = login(sdr)
    url = reverse("dossiers:item_hand_to_ae", args=[item.pk])

    assert "Hand to the AE pool…" in row_html(client.get(QUEUE), item)
    missing = client.post(url, {"note": ""}, headers=HTMX)
    handed = client.post(url, {"note": "Budget owner is the CFO"}, headers=HTMX)

    assert missing.status_code == 400
    assert "note: tell the AE what you learned" in text(missing.content.decode())
    assert handed.status_code == 200
    assert "Acme — handed to the AE pool. It has left your queue." in text(handed.content.decode())
    item.refresh_from_db()
    assert (item.route, item.state) == (Route.AE, State.OPEN)
    assert changes(item)[-1] == (
        "open", "open", "ae", "handed to the AE pool: Budget owner is the CFO",
    )  # fmt: skip
    assert names(client.get(QUEUE)) == []
    assert names(login(ae).get(QUEUE)) == ["Acme"]


def test_an_ae_row_offers_no_hand_over_to_the_ae_pool(login, ae):
    item = make_item("Acme")

    assert "Hand to the AE pool…" not in row_html(login(ae).get(QUEUE), item)


def test_only_the_holder_works_a_claimed_item(login, ae, bea):
    item = make_item("Acme", state=State.CLAIMED, claimed_by=bea)
    client = login(ae)

    row = row_html(client.get(QUEUE), item)
    response = client.post(
        reverse("dossiers:item_lost", args=[item.pk]), {"reason": "x"}, headers=HTMX
    )

    assert "Claim" not in text(row) and "Mark lost…" not in row
    assert response.status_code == 409
    assert "Bea Second claimed this account first" in text(response.content.decode())
    item.refresh_from_db()
    assert item.state == State.CLAIMED


def test_admin_may_work_any_pool(login, admin_user, bea):
    item = make_item("Acme", route=Route.SDR, state=State.CLAIMED, claimed_by=bea)

    response = login(admin_user).post(
        reverse("dossiers:item_lost", args=[item.pk]), {"reason": "Went quiet"}, headers=HTMX
    )

    assert response.status_code == 200
    item.refresh_from_db()
    assert item.state == State.LOST


def test_acting_on_an_item_that_left_the_queue_says_why_in_place_of_the_row(login, ae):
    item = make_item("Acme", state=State.NOT_QUALIFIED)

    response = login(ae).post(reverse("dossiers:item_claim", args=[item.pk]), headers=HTMX)

    assert response.status_code == 400
    assert 'data-testid="queue-flash"' in response.content.decode()
    assert "this item is no longer qualified; it cannot be claimed" in text(
        response.content.decode()
    )


def test_an_action_without_htmx_goes_back_to_the_queue(login, ae):
    item = make_item("Acme")
    client = login(ae)

    claimed = client.post(reverse("dossiers:item_claim", args=[item.pk]))
    refused = client.post(reverse("dossiers:item_lost", args=[item.pk]), follow=True)

    assert claimed.status_code == 302 and claimed["Location"] == QUEUE
    assert "reason: say why the deal was lost" in text(refused.content.decode())
    item.refresh_from_db()
    assert item.state == State.CLAIMED


# --- who may do what ----------------------------------------------------------------------

ACTIONS = [
    ("item_claim", {}),
    ("item_release", {}),
    ("item_won", {"arr": "1000"}),
    ("item_lost", {"reason": "x"}),
    ("item_disqualify", {"reason": "x"}),
    ("item_hand_to_marketing", {"note": "x"}),
    ("item_hand_to_ae", {"note": "x"}),
]


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
@pytest.mark.parametrize("filled", [True, False], ids=["filled", "empty"])
@pytest.mark.parametrize(("action", "data"), ACTIONS)
def test_another_pools_item_is_not_found(login, ae, action, data, filled, headers):
    item = make_item("Theirs", route=Route.SDR)

    response = login(ae).post(
        reverse(f"dossiers:{action}", args=[item.pk]), data if filled else {}, headers=headers
    )

    assert response.status_code == 404
    item.refresh_from_db()
    assert (item.state, item.claimed_by) == (State.OPEN, None)
    assert not RouteChange.objects.filter(item=item).exists()


def test_a_pm_sees_every_pool_without_action_buttons(login, pm):
    ae_item = make_item("AE item")
    make_item("SDR item", route=Route.SDR)

    response = login(pm).get(QUEUE)

    assert response.status_code == 200
    assert sorted(names(response)) == ["AE item", "SDR item"]
    row = row_html(response, ae_item)
    assert "<button" not in row and "<form" not in row
    assert "read-only" in text(response.content.decode())


@pytest.mark.parametrize(("action", "data"), ACTIONS)
def test_a_pm_gets_403_on_every_action(login, pm, action, data):
    item = make_item("Acme", route=Route.SDR)

    response = login(pm).post(reverse(f"dossiers:{action}", args=[item.pk]), data, headers=HTMX)

    assert response.status_code == 403
    item.refresh_from_db()
    assert (item.state, item.route) == (State.OPEN, Route.SDR)


def test_anonymous_users_go_to_the_login_page(client, db):
    item = make_item("Acme")

    page = client.get(QUEUE + "?claimed=me")
    action = client.post(reverse("dossiers:item_claim", args=[item.pk]))
    htmx_action = client.post(reverse("dossiers:item_claim", args=[item.pk]), headers=HTMX)

    assert page.status_code == 302 and page["Location"] == "/login/?next=/queue/%3Fclaimed%3Dme"
    assert action.status_code == 302 and action["Location"].startswith("/login/?next=")
    assert htmx_action["HX-Redirect"].startswith("/login/?next=")
    item.refresh_from_db()
    assert item.state == State.OPEN
