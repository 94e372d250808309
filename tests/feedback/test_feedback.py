"""Post-deal feedback: required when a rep closes an item won or lost (the item stays in
"my work" until it is given), the form prefilled from the item and its Deal, one per
item, the author's 14-day editing window, PMs' tags and comments, and who may see what."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Deal, TrackingPlanEntry
from feedback.models import Feedback, FeedbackCategory, FeedbackComment, FeedbackTag
from feedback.selectors_feedback import my_work
from feedback.services import (
    FeedbackError,
    FeedbackInput,
    FeedbackLocked,
    NotYours,
    feedback_submit,
    feedback_update,
)
from playbooks.models import Play, PlayMatch
from scoring.models import QueueItem, Route
from scoring.services.queue import queue_item_claim, queue_item_close
from tests.factories import AccountFactory, UserFactory
from tests.scoring.factories import QueueItemFactory

State = QueueItem.State
HTMX = {"HX-Request": "true"}
QUEUE = "/queue/"


def text(html) -> str:
    if not isinstance(html, str):
        html = html.content.decode()
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def category(kind: str, key: str) -> FeedbackCategory:
    return FeedbackCategory.objects.get(kind=kind, key=key)


def objection(key: str) -> int:
    return category(FeedbackCategory.Kind.OBJECTION, key).pk


def blocker(key: str) -> int:
    return category(FeedbackCategory.Kind.BLOCKER, key).pk


def active_item(name: str = "Acme", *, rep=None, **fields) -> QueueItem:
    """An AE item of a fresh account, claimed by ``rep`` when given."""
    account = AccountFactory(name=name, domain=f"{name.lower().replace(' ', '-')}.com")
    item = QueueItemFactory(
        account=account,
        created_at=timezone.now() - timedelta(days=20),
        reasons=["7 active users in 30 days", "hit the export limit", "viewed pricing"],
        **fields,
    )
    if rep is not None:
        queue_item_claim(item_id=item.pk, rep=rep)
    return item


def closed(name: str = "Acme", *, rep, won: bool = True, arr: int = 24_000, **fields):
    """An item the rep closed through the queue service (its Deal closes with it)."""
    item = active_item(name, rep=rep, **fields)
    queue_item_close(
        item_id=item.pk, rep=rep, won=won, arr=arr if won else None, lost_reason="" if won else "x"
    )
    item.refresh_from_db()
    return item


def crafted(
    name: str,
    *,
    rep,
    state: str = State.WON,
    closed_at: datetime,
    pql_days: float = 20,
    arr: int = 24_000,
    currency: str = "USD",
    reason: str = "",
) -> QueueItem:
    """A queue item closed at a chosen time, with its sales Deal when won or lost."""
    account = AccountFactory(name=name, domain=f"{name.lower().replace(' ', '-')}.com")
    deal = None
    if state in (State.WON, State.LOST):
        deal = Deal.objects.create(
            account=account,
            motion=Deal.Motion.SALES_ASSISTED,
            source=Deal.Source.PQL,
            stage=state,
            arr=arr if state == State.WON else 0,
            currency=currency,
            opened_at=closed_at - timedelta(days=5),
            closed_at=closed_at,
            owner=rep,
        )
    created = closed_at - timedelta(days=pql_days)
    return QueueItemFactory(
        account=account,
        state=state,
        created_at=created,
        routed_at=created,
        due_at=created + timedelta(hours=24),
        claimed_by=rep,
        claimed_at=created,
        closed_by=rep,
        closed_at=closed_at,
        close_reason=reason or f"{state}: set up by the test",
        deal=deal,
        reasons=["7 active users in 30 days"],
    )


def give(
    item: QueueItem,
    *,
    rep,
    now: datetime | None = None,
    objections=(),
    blockers=("invoicing",),
    features=(),
    **fields,
) -> Feedback:
    data = FeedbackInput(
        trigger_signal=fields.pop("trigger_signal", "7 active users in 30 days"),
        objection_ids=tuple(objection(k) for k in objections),
        blocker_ids=tuple(blocker(k) for k in blockers),
        feature_keys=tuple(features),
        **fields,
    )
    return feedback_submit(item_id=item.pk, author=rep, data=data, now=now or timezone.now())


def form_data(**overrides) -> dict:
    data = {
        "trigger_signal": "7 active users in 30 days",
        "trigger_play": "",
        "objections": [],
        "features": [],
        "blockers": [str(blocker("invoicing"))],
        "self_serve_note": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def bea(db):
    return UserFactory(username="bea", first_name="Bea", last_name="Second", ae=True)


# --- feedback is required on close --------------------------------------------------------


def test_closing_won_offers_the_form_and_the_item_stays_in_my_work_until_feedback(login, ae):
    item = active_item("Acme", rep=ae)
    client = login(ae)

    won = client.post(reverse("dossiers:item_won", args=[item.pk]), {"arr": "12000"}, headers=HTMX)

    give_url = reverse("feedback:feedback_give", args=[item.pk])
    assert "Acme — won: $12,000 ARR. It has left the queue." in text(won)
    assert "Give feedback now" in text(won)
    assert f'href="{give_url}"' in won.content.decode()

    queue = client.get(QUEUE)
    body = queue.content.decode()
    assert "1 closed deal needs your feedback." in text(queue)
    assert f'href="{give_url}" data-testid="feedback-reminder-link"' in body
    assert 'data-testid="account-name"' not in body  # not an active row any more
    assert f'data-testid="feedback-due" data-item-id="{item.pk}"' in body
    assert [row["account_name"] for row in my_work(user=ae).due] == ["Acme"]

    saved = client.post(
        give_url, form_data(objections=[str(objection("price"))], self_serve_note="Invoices")
    )

    assert saved.status_code == 302 and saved["Location"] == reverse("feedback:feedback_mine")
    after = client.get(QUEUE)
    assert "need your feedback" not in text(after) and "needs your feedback" not in text(after)
    assert 'data-testid="feedback-due"' not in after.content.decode()
    assert my_work(user=ae).due == []
    feedback = Feedback.objects.get(item=item)
    assert (feedback.author, feedback.outcome) == (ae, "won")
    assert [c.key for c in feedback.objections.all()] == ["price"]


def test_closing_lost_also_owes_feedback_and_several_due_deals_link_to_the_list(login, ae):
    client = login(ae)
    for name in ("Acme", "Globex"):
        item = active_item(name, rep=ae)
        lost = client.post(
            reverse("dossiers:item_lost", args=[item.pk]), {"reason": "Went quiet"}, headers=HTMX
        )
        assert "Give feedback now" in text(lost)

    queue = client.get(QUEUE)

    assert "2 closed deals need your feedback." in text(queue)
    assert (
        f'href="{reverse("feedback:feedback_mine")}" data-testid="feedback-reminder-link"'
        in queue.content.decode()
    )
    mine = client.get(reverse("feedback:feedback_mine"))
    assert text(mine).count("Give feedback") == 2


def test_my_work_is_the_reps_claimed_items_and_closed_items_without_feedback(ae, bea):
    active_item("Claimed", rep=ae)
    active_item("Someone else's", rep=bea)
    active_item("Unclaimed")
    won = closed("Won", rep=ae)
    closed("Lost", rep=ae, won=False)
    closed("Bea's win", rep=bea)
    give(won, rep=ae)

    work = my_work(user=ae)

    assert work.claimed == 1
    assert [(r["account_name"], r["outcome"]) for r in work.due] == [("Lost", "lost")]


def test_an_item_an_admin_closed_for_a_rep_is_owed_by_that_rep(ae, admin_user):
    item = active_item("Acme", rep=ae)
    queue_item_close(item_id=item.pk, rep=admin_user, won=True, arr=5000)

    assert [r["item_id"] for r in my_work(user=ae).due] == [item.pk]
    assert my_work(user=admin_user).due == []


def test_an_unclaimed_item_is_owed_by_whoever_closed_it(ae, bea):
    item = closed("Acme", rep=ae)
    QueueItem.objects.filter(pk=item.pk).update(claimed_by=None)

    assert [r["item_id"] for r in my_work(user=ae).due] == [item.pk]
    assert my_work(user=bea).due == []


def test_the_queue_page_runs_the_same_queries_with_2_or_20_deals_owing_feedback(
    login, ae, django_assert_max_num_queries
):
    client = login(ae)
    active_item("Claimed", rep=ae)
    client.get(QUEUE)  # the first page of a process reads what pages share (plays, settings)
    counts = []
    for size in (2, 20):
        for n in range(size - len(my_work(user=ae).due)):
            closed(f"Co {size}-{n}", rep=ae)
        with django_assert_max_num_queries(8), CaptureQueriesContext(connection) as queries:
            response = client.get(QUEUE)
        assert f"{size} closed deals need your feedback." in text(response)
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- the form -----------------------------------------------------------------------------


def test_the_form_is_prefilled_and_shows_the_deal_read_only(login, ae):
    play = Play.objects.get(key="asked-for-a-demo")
    item = active_item("Acme", rep=ae)
    PlayMatch.objects.create(account=item.account, play=play, matched=[], matched_at=timezone.now())
    queue_item_close(item_id=item.pk, rep=ae, won=True, arr=Decimal("36000"))

    page = login(ae).get(reverse("feedback:feedback_give", args=[item.pk]))

    body = page.content.decode()
    assert page.status_code == 200
    assert 'name="trigger_signal"' in body and 'value="7 active users in 30 days"' in body
    assert re.search(rf'<option value="{play.pk}" selected>Asked for a demo</option>', body)
    facts = text(re.search(r'data-testid="deal-facts".*?</dl>', body, re.S)[0])
    assert "36,000 USD ARR" in facts
    assert "Sales-assisted" in facts
    assert "20 days from the PQL" in facts
    # Objections and blockers are the admin-editable categories; features the tracking plan's.
    assert "Chose a competitor" in text(page) and "Invoicing or a purchase order" in text(page)
    assert 'value="export"' in body


def test_categories_admins_add_are_offered_and_inactive_ones_are_not(login, ae):
    FeedbackCategory.objects.create(kind="objection", key="data-residency", label="Data residency")
    FeedbackCategory.objects.filter(kind="objection", key="timing").update(is_active=False)
    item = closed("Acme", rep=ae)

    page = text(login(ae).get(reverse("feedback:feedback_give", args=[item.pk])))

    assert "Data residency" in page
    assert "Timing" not in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"trigger_signal": ""},
            "trigger: say what triggered the deal (a signal or a play)",
        ),
        (
            {"blockers": [], "self_serve_note": "  "},
            "self-serve: say what the customer would have needed to buy without sales "
            "(a blocker, or in words)",
        ),
        ({"features": ["teleportation"]}, "Features requested: Select a valid choice."),
        ({"objections": ["999999"]}, "Objections: Select a valid choice."),
    ],
)
def test_bad_input_re_renders_the_form_naming_the_field(login, ae, data, message):
    item = closed("Acme", rep=ae)

    response = login(ae).post(reverse("feedback:feedback_give", args=[item.pk]), form_data(**data))

    assert response.status_code == 400
    assert message in text(response)
    assert not Feedback.objects.exists()


def test_a_lost_deal_needs_an_objection(login, ae):
    item = closed("Acme", rep=ae, won=False)
    client = login(ae)
    url = reverse("feedback:feedback_give", args=[item.pk])

    refused = client.post(url, form_data())
    saved = client.post(url, form_data(objection_note="Their security team said no"))

    assert refused.status_code == 400
    assert "objections: a lost deal needs at least one objection (a category or in words)" in (
        text(refused)
    )
    assert saved.status_code == 302
    assert Feedback.objects.get(item=item).objection_note == "Their security team said no"


def test_features_are_tracking_plan_features_plus_text(ae):
    item = closed("Acme", rep=ae)

    feedback = give(item, rep=ae, features=["export", "api"], feature_note="Bulk SCIM provisioning")

    assert sorted(f.key for f in feedback.features.all()) == ["api", "export"]
    assert feedback.feature_note == "Bulk SCIM provisioning"
    TrackingPlanEntry.objects.filter(key="api").delete()
    with pytest.raises(FeedbackError, match="features: api is not a tracking-plan feature"):
        give(closed("Globex", rep=ae), rep=ae, features=["api"])


def test_one_feedback_per_item(ae):
    item = closed("Acme", rep=ae)
    give(item, rep=ae)

    with pytest.raises(FeedbackError, match="already given by"):
        give(item, rep=ae)
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        Feedback.objects.create(item=item, author=ae, outcome="won", created_at=now, updated_at=now)
    assert Feedback.objects.filter(item=item).count() == 1


@pytest.mark.parametrize(
    "state", [State.OPEN, State.CLAIMED, State.DISQUALIFIED, State.BACKED_OFF, State.EXPIRED]
)
def test_feedback_is_for_won_or_lost_items_only(login, ae, state):
    item = crafted("Acme", rep=ae, state=state, closed_at=timezone.now())

    page = login(ae).get(reverse("feedback:feedback_give", args=[item.pk]))

    assert page.status_code == 404
    with pytest.raises(NotYours):
        give(item, rep=ae)


def test_the_database_refuses_feedback_that_is_neither_won_nor_lost(ae):
    now = timezone.now()
    item = crafted("Acme", rep=ae, closed_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        Feedback.objects.create(
            item=item, author=ae, outcome="open", created_at=now, updated_at=now
        )


def test_another_reps_deal_is_not_found(login, ae, bea):
    item = closed("Bea's", rep=bea)

    assert login(ae).get(reverse("feedback:feedback_give", args=[item.pk])).status_code == 404
    with pytest.raises(NotYours):
        give(item, rep=ae)


# --- the editing window -------------------------------------------------------------------


def test_the_author_edits_for_14_days_then_it_is_read_only(ae):
    given_at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    feedback = give(closed("Acme", rep=ae), rep=ae, now=given_at)
    change = FeedbackInput(trigger_signal="Security page views", blocker_ids=(blocker("nothing"),))

    edited = feedback_update(
        feedback_id=feedback.pk,
        author=ae,
        data=change,
        now=given_at + timedelta(days=14) - timedelta(seconds=1),
    )

    assert edited.trigger_signal == "Security page views"
    assert [c.key for c in edited.blockers.all()] == ["nothing"]
    with pytest.raises(FeedbackLocked) as locked:
        feedback_update(
            feedback_id=feedback.pk,
            author=ae,
            data=FeedbackInput(trigger_signal="Too late", blocker_ids=(blocker("nothing"),)),
            now=given_at + timedelta(days=14),
        )
    assert str(locked.value) == (
        "this feedback can no longer be edited: the 14-day editing window closed on "
        "2026-03-16 09:00 UTC. A PM can still comment on it."
    )
    feedback.refresh_from_db()
    assert feedback.trigger_signal == "Security page views"


def test_after_the_window_the_page_is_read_only_with_a_clear_message(login, ae):
    item = closed("Acme", rep=ae)
    feedback = give(item, rep=ae, now=timezone.now() - timedelta(days=15))
    client = login(ae)
    url = reverse("feedback:feedback_give", args=[item.pk])

    page = client.get(url)
    post = client.post(url, form_data(trigger_signal="Changed"))

    assert page.status_code == 200
    assert "You can no longer edit this feedback: the 14-day editing window closed on" in text(page)
    assert 'data-testid="feedback-form"' not in page.content.decode()
    assert "7 active users in 30 days" in text(page)  # what was given, read-only
    assert post.status_code == 403
    feedback.refresh_from_db()
    assert feedback.trigger_signal == "7 active users in 30 days"


def test_within_the_window_the_author_edits_through_the_page(login, ae):
    item = closed("Acme", rep=ae)
    give(item, rep=ae, now=timezone.now() - timedelta(days=3))
    client = login(ae)
    url = reverse("feedback:feedback_give", args=[item.pk])

    page = client.get(url)
    saved = client.post(url, form_data(trigger_signal="Hit the seat limit"))

    assert 'value="7 active users in 30 days"' in page.content.decode()
    assert "Save changes" in text(page)
    assert saved.status_code == 302
    assert Feedback.objects.get(item=item).trigger_signal == "Hit the seat limit"


def test_only_the_author_edits(login, ae, admin_user):
    item = active_item("Acme", rep=ae)
    queue_item_close(item_id=item.pk, rep=ae, won=True, arr=1000)
    give(item, rep=ae)

    page = login(admin_user).get(reverse("feedback:feedback_give", args=[item.pk]))

    assert "gave the feedback on this deal; only they can edit it." in text(page)
    with pytest.raises(NotYours):
        feedback_update(
            feedback_id=item.feedback.pk,
            author=admin_user,
            data=FeedbackInput(trigger_signal="x", blocker_ids=(blocker("nothing"),)),
            now=timezone.now(),
        )


# --- PMs tag and comment ------------------------------------------------------------------


def test_a_pm_tags_feedback_with_free_tags(login, ae, pm):
    feedback = give(closed("Acme", rep=ae), rep=ae)
    client = login(pm)
    url = reverse("feedback:feedback_tags", args=[feedback.pk])

    tagged = client.post(url, {"tags": "Pricing, SSO ,pricing,  enterprise  plan"}, headers=HTMX)
    retagged = client.post(url, {"tags": "sso, roadmap"})
    too_long = client.post(url, {"tags": "x" * 41}, headers=HTMX)

    assert tagged.status_code == 200
    shown = re.findall(r'class="badge tag"[^>]*>([^<]+)<', tagged.content.decode())
    assert shown == ["enterprise plan", "pricing", "sso"]
    assert retagged.status_code == 302
    assert sorted(FeedbackTag.objects.filter(feedback=feedback).values_list("name", flat=True)) == [
        "roadmap",
        "sso",
    ]
    assert FeedbackTag.objects.get(feedback=feedback, name="sso").added_by == pm
    assert too_long.status_code == 400
    assert "tags: “xxxxxxxxxxxxxxxxxxxx…” is longer than 40 characters" in text(too_long)


def test_a_pm_comments_and_the_author_reads_it(login, ae, pm):
    feedback = give(closed("Acme", rep=ae), rep=ae)
    client = login(pm)
    url = reverse("feedback:feedback_comment", args=[feedback.pk])

    empty = client.post(url, {"text": "   "}, headers=HTMX)
    added = client.post(url, {"text": "Invoicing again: third deal this month."}, headers=HTMX)

    assert empty.status_code == 400
    assert "comment: write something first" in text(empty)
    assert added.status_code == 200
    assert "Invoicing again: third deal this month." in text(added)
    comment = FeedbackComment.objects.get(feedback=feedback)
    assert comment.author == pm
    detail = login(ae).get(reverse("feedback:feedback_detail", args=[feedback.pk]))
    assert "Invoicing again: third deal this month." in text(detail)
    assert f'action="{url}"' not in detail.content.decode()  # reps read, they do not comment


@pytest.mark.parametrize("role", ["ae", "sdr"])
def test_reps_cannot_tag_or_comment(client, users, role):
    feedback = give(closed("Acme", rep=users["ae"]), rep=users["ae"])
    client.force_login(users[role])

    tags = client.post(reverse("feedback:feedback_tags", args=[feedback.pk]), {"tags": "x"})
    comment = client.post(reverse("feedback:feedback_comment", args=[feedback.pk]), {"text": "x"})

    assert (tags.status_code, comment.status_code) == (403, 403)
    assert not FeedbackTag.objects.exists() and not FeedbackComment.objects.exists()


def test_a_rep_reads_their_own_feedback_but_not_anothers(login, ae, bea, pm):
    mine = give(closed("Mine", rep=ae), rep=ae)
    theirs = give(closed("Theirs", rep=bea), rep=bea)
    client = login(ae)

    assert client.get(reverse("feedback:feedback_detail", args=[mine.pk])).status_code == 200
    assert client.get(reverse("feedback:feedback_detail", args=[theirs.pk])).status_code == 404
    assert login(pm).get(reverse("feedback:feedback_detail", args=[theirs.pk])).status_code == 200


def test_my_feedback_page_lists_what_is_due_and_what_was_given(login, ae):
    closed("Due", rep=ae, won=False)
    recent = give(closed("Recent", rep=ae), rep=ae, now=timezone.now() - timedelta(days=2))
    old = give(closed("Old", rep=ae), rep=ae, now=timezone.now() - timedelta(days=30))

    page = login(ae).get(reverse("feedback:feedback_mine"))

    body = page.content.decode()
    assert "Waiting for your feedback (1)" in text(page)
    due = re.findall(r'data-testid="due-row">(.*?)</tr>', body, re.S)
    assert len(due) == 1 and "Due" in text(due[0])
    given = re.findall(r'data-testid="given-row">(.*?)</tr>', body, re.S)
    assert [text(g).split(" ")[0] for g in given] == ["Recent", "Old"]
    assert reverse("feedback:feedback_give", args=[recent.item_id]) in given[0]
    assert reverse("feedback:feedback_give", args=[old.item_id]) not in given[1]
    assert "no longer" in text(given[1])


def test_pms_have_no_feedback_to_give(login, pm):
    assert login(pm).get(reverse("feedback:feedback_mine")).status_code == 403
    assert my_work(user=pm).due == []


def test_sdr_items_route_the_same_way(ae, sdr):
    item = active_item("Acme", rep=sdr, route=Route.SDR)
    queue_item_close(item_id=item.pk, rep=sdr, won=False, lost_reason="No budget")

    assert [r["item_id"] for r in my_work(user=sdr).due] == [item.pk]
    feedback = give(item, rep=sdr, objections=["no-budget"])
    assert feedback.outcome == "lost"


# --- admins keep the category lists -------------------------------------------------------


def test_admins_add_categories_and_cannot_delete_one_in_use(login, admin_user, ae):
    client = login(admin_user)
    used = category(FeedbackCategory.Kind.OBJECTION, "price")
    give(closed("Acme", rep=ae), rep=ae, objections=["price"])
    unused = category(FeedbackCategory.Kind.OBJECTION, "timing")

    listing = client.get(reverse("admin:feedback_feedbackcategory_changelist"))
    added = client.post(
        reverse("admin:feedback_feedbackcategory_add"),
        {"kind": "blocker", "key": "procurement-portal", "label": "Their procurement portal",
         "description": "", "position": 5, "is_active": "on"},
    )  # fmt: skip
    in_use = client.get(reverse("admin:feedback_feedbackcategory_delete", args=[used.pk]))
    free = client.get(reverse("admin:feedback_feedbackcategory_delete", args=[unused.pk]))

    assert listing.status_code == 200 and "Chose a competitor" in text(listing)
    assert added.status_code == 302
    assert FeedbackCategory.objects.filter(kind="blocker", key="procurement-portal").exists()
    assert in_use.status_code == 403
    assert free.status_code == 200
    for name in ("feedback_feedback_changelist", "feedback_reportsnapshot_changelist"):
        assert client.get(reverse(f"admin:{name}")).status_code == 200
