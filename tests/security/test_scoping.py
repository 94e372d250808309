"""Object scoping: a rep cannot act on (or read) another pool's queue items, another
rep's claimed item or another rep's feedback by changing the ids in a URL, and a PM
reads but never acts.

Every project URL that takes an id is listed here: either with scoping cases (the
rep-facing ones, where the object belongs to a pool or a person) or in ROLE_ONLY with
why the role check is the whole scope. A new id-taking URL without an entry fails
``test_every_url_taking_an_id_has_scoping_cases``.

Each refused request is checked twice: the status the user gets (404: not yours, 409:
someone else holds it, 403: your role never does this) and the database, compared
table by table before and after. A positive control per URL shows that the same
request from the rightful rep goes through, so the refusals are about scope, not about
a malformed request.
"""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from feedback.models import Feedback
from scoring.models import QueueItem, Route, Touch
from tests.factories import JobFactory, UserFactory
from tests.pls_portal.test_permissions import objects  # noqa: F401 (fixture)
from tests.scoring.factories import QueueItemFactory
from tests.security.support import changed_tables, db_state, id_args, project_patterns

State = QueueItem.State
HTMX = {"HX-Request": "true"}  # the queue and dossier actions are htmx posts

# What the page's forms post: valid, so that only the scope can refuse them.
DATA = {
    "dossiers:item_claim": {},
    "dossiers:item_release": {},
    "dossiers:item_won": {"arr": "48000"},
    "dossiers:item_lost": {"reason": "went with a competitor"},
    "dossiers:item_disqualify": {"reason": "a student project"},
    "dossiers:item_hand_to_marketing": {"note": "nobody can buy yet"},
    "dossiers:item_hand_to_ae": {"note": "budget confirmed, wants a demo"},
    "dossiers:dossier_touch_add": {"channel": "email", "person": "Ada Lovelace", "note": "Hi"},
    "dossiers:dossier_touch_response": {"note": "Interested, call on Monday"},
    "dossiers:dossier_contact_add": {"name": "Eve Adams", "email": "eve@buyer.example"},
    "dossiers:dossier_hand_to_marketing": {"note": "nobody can buy yet"},
    "feedback:feedback_give": {
        "trigger_note": "pricing page visits",
        "self_serve_note": "SSO on the team plan",
    },
    "feedback:feedback_tags": {"tags": "pricing"},
    "feedback:feedback_comment": {"text": "Seen this objection twice"},
}

ITEM_ACTIONS = [
    "dossiers:item_claim",
    "dossiers:item_release",
    "dossiers:item_won",
    "dossiers:item_lost",
    "dossiers:item_disqualify",
    "dossiers:item_hand_to_marketing",
    "dossiers:item_hand_to_ae",
]

# (url name, who tries, the URL's ids as world keys, expected status, why)
POST_CASES = [
    *[
        case
        for name in ITEM_ACTIONS
        for case in (
            (name, "ae", {"item_id": "sdr_item"}, 404, "an AE on the SDR pool's item"),
            (name, "ae", {"item_id": "expansion"}, 404, "an AE on another AE's expansion"),
            (name, "sdr", {"item_id": "held"}, 404, "an SDR on the AE pool's item"),
            (name, "sdr", {"item_id": "mine"}, 404, "an SDR on an open AE item"),
            (name, "ae", {"item_id": "held"}, 409, "an AE on the item another AE claimed"),
            (name, "sdr", {"item_id": "sdr_held"}, 409, "an SDR on another SDR's item"),
            (name, "pm", {"item_id": "mine"}, 403, "a PM never acts"),
        )
    ],
    *[
        case
        for name in ("dossiers:dossier_touch_add", "dossiers:dossier_hand_to_marketing")
        for case in (
            (name, "ae", {"account_id": "sdr_item", "item_id": "sdr_item"}, 404, "other pool"),
            (name, "ae", {"account_id": "mine", "item_id": "sdr_item"}, 404, "mixed ids"),
            (name, "ae", {"account_id": "sdr_item", "item_id": "mine"}, 404, "mixed ids"),
            (name, "sdr", {"account_id": "held", "item_id": "held"}, 404, "AE pool"),
            (name, "ae", {"account_id": "held", "item_id": "held"}, 409, "another AE's claim"),
            (name, "pm", {"account_id": "mine", "item_id": "mine"}, 403, "a PM never acts"),
        )
    ],
    *[
        ("dossiers:dossier_touch_response", who, ids, status, why)
        for who, ids, status, why in (
            ("ae", {"account_id": "sdr_touched", "touch_id": "sdr_touch"}, 404, "other pool"),
            ("ae", {"account_id": "mine", "touch_id": "touch"}, 404, "another account's touch"),
            ("ae", {"account_id": "mine", "touch_id": "sdr_touch"}, 404, "mixed ids"),
            ("sdr", {"account_id": "touched", "touch_id": "touch"}, 404, "AE pool"),
            ("ae", {"account_id": "touched", "touch_id": "touch"}, 409, "another AE's touch"),
            ("pm", {"account_id": "touched", "touch_id": "touch"}, 403, "a PM never acts"),
        )
    ],
    *[
        ("dossiers:dossier_contact_add", who, ids, status, why)
        for who, ids, status, why in (
            ("ae", {"account_id": "sdr_item"}, 404, "an account of the SDR pool"),
            ("ae", {"account_id": "expansion"}, 404, "another AE's expansion account"),
            ("sdr", {"account_id": "mine"}, 404, "an account of the AE pool"),
            ("pm", {"account_id": "mine"}, 403, "a PM never acts"),
        )
    ],
    *[
        ("feedback:feedback_give", who, ids, status, why)
        for who, ids, status, why in (
            ("ae", {"item_id": "won"}, 404, "another AE's closed deal"),
            ("sdr", {"item_id": "won"}, 404, "another rep's closed deal"),
            ("ae", {"item_id": "won_given"}, 404, "another AE's deal and feedback"),
            ("ae", {"item_id": "admin_gave"}, 403, "their deal, but an admin's feedback"),
            ("pm", {"item_id": "won"}, 403, "PMs read feedback, never give it"),
        )
    ],
    *[
        (name, who, {"feedback_id": "feedback"}, 403, "only PMs tag and comment")
        for name in ("feedback:feedback_tags", "feedback:feedback_comment")
        for who in ("ae", "sdr")
    ],
]

# The same requests from the rightful user: they go through and change the database.
POSITIVE = {
    "dossiers:item_claim": ("ae", {"item_id": "mine"}),
    "dossiers:item_release": ("other_ae", {"item_id": "held"}),
    "dossiers:item_won": ("other_ae", {"item_id": "held"}),
    "dossiers:item_lost": ("other_ae", {"item_id": "held"}),
    "dossiers:item_disqualify": ("other_ae", {"item_id": "held"}),
    "dossiers:item_hand_to_marketing": ("other_ae", {"item_id": "held"}),
    "dossiers:item_hand_to_ae": ("other_sdr", {"item_id": "sdr_held"}),
    "dossiers:dossier_touch_add": ("other_ae", {"account_id": "held", "item_id": "held"}),
    "dossiers:dossier_touch_response": (
        "other_ae",
        {"account_id": "touched", "touch_id": "touch"},
    ),
    "dossiers:dossier_contact_add": ("ae", {"account_id": "mine"}),
    "dossiers:dossier_hand_to_marketing": ("other_ae", {"account_id": "held", "item_id": "held"}),
    "feedback:feedback_give": ("other_ae", {"item_id": "won"}),
    "feedback:feedback_tags": ("pm", {"feedback_id": "feedback"}),
    "feedback:feedback_comment": ("pm", {"feedback_id": "feedback"}),
}

# GET pages that take an id: (url name, who, ids, expected status, why)
GET_CASES = [
    ("dossiers:dossier", "ae", {"account_id": "sdr_item"}, 404, "an account of the SDR pool"),
    ("dossiers:dossier", "ae", {"account_id": "expansion"}, 404, "another AE's expansion"),
    ("dossiers:dossier", "sdr", {"account_id": "held"}, 404, "an account of the AE pool"),
    ("dossiers:dossier", "sdr", {"account_id": "won"}, 404, "a deal another rep closed"),
    ("dossiers:dossier", "ae", {"account_id": "won"}, 404, "a deal another AE closed"),
    ("dossiers:dossier", "ae", {"account_id": "held"}, 200, "own pool, claimed by a colleague"),
    ("dossiers:dossier", "ae", {"account_id": "mine"}, 200, "own pool"),
    ("dossiers:dossier", "sdr", {"account_id": "sdr_item"}, 200, "own pool"),
    ("dossiers:dossier", "pm", {"account_id": "sdr_item"}, 200, "PMs read every pool"),
    ("feedback:feedback_detail", "ae", {"feedback_id": "feedback"}, 404, "another AE's"),
    ("feedback:feedback_detail", "sdr", {"feedback_id": "feedback"}, 404, "another rep's"),
    ("feedback:feedback_detail", "other_ae", {"feedback_id": "feedback"}, 200, "the author"),
    ("feedback:feedback_detail", "pm", {"feedback_id": "feedback"}, 200, "PMs read all"),
    ("feedback:feedback_give", "ae", {"item_id": "won_given"}, 404, "another AE's deal"),
    ("job_detail", "ae", {"job_id": "admin_job"}, 404, "a job somebody else started"),
    ("job_detail", "pm", {"job_id": "admin_job"}, 404, "a job somebody else started"),
    ("job_detail", "ae", {"job_id": "ae_job"}, 200, "their own job"),
]

# URLs whose objects belong to a role, not to a person or a pool: the role decorator is
# the scope (the role × URL matrix in tests/pls_portal/test_permissions.py checks it).
ROLE_ONLY = {
    **dict.fromkeys(
        [
            "scoring:rule_set",
            "scoring:rule_set_clone",
            "scoring:rule_set_settings",
            "scoring:rule_add",
            "scoring:rule_edit",
            "scoring:rule_delete",
            "scoring:rule_set_propose",
            "scoring:rule_set_withdraw",
            "scoring:rule_set_delete",
            "scoring:backtest_start",
            "scoring:backtest",
        ],
        "rule sets and backtests are the PMs' shared drafts (DESIGN: PMs own the PQL "
        "definition); reps get 403",
    ),
    "scoring:rule_set_activate": "admins only",
    **dict.fromkeys(
        [
            "feedback:outbound_endpoint_edit",
            "feedback:outbound_endpoint_delete",
            "feedback:outbound_endpoint_secret",
            "feedback:outbound_endpoint_rotate",
            "feedback:outbound_endpoint_ping",
            "feedback:outbound_delivery",
            "feedback:outbound_delivery_resend",
        ],
        "webhooks are admin configuration",
    ),
    "feedback:outbound_crm_sync_csv": "the CRM sync is read by PMs and admins, all of it",
    "playbooks:play": "plays are read by PMs and admins, all of them",
    "playbooks:play_edit": "admins only",
    "playbooks:play_active": "admins only",
    "accounts:ingestion_key_revoke": "admins only",
}

SCOPED = {case[0] for case in POST_CASES} | {case[0] for case in GET_CASES}


def test_every_url_taking_an_id_has_scoping_cases():
    with_ids = {name for name, pattern in project_patterns() if id_args(pattern)}
    assert not SCOPED & set(ROLE_ONLY)
    assert with_ids == SCOPED | set(ROLE_ONLY), (
        "add scoping cases (or a ROLE_ONLY reason) for the new URL"
    )


def test_every_rep_action_has_a_positive_control():
    assert {case[0] for case in POST_CASES} == set(POSITIVE)


@pytest.fixture
def world(db, users):
    """Queue items in both pools and in every hand, none of them the attacker's."""
    now = timezone.now()
    other_ae = UserFactory(username="olga", first_name="Olga", last_name="Berg", ae=True)
    other_sdr = UserFactory(username="otto", first_name="Otto", last_name="Lind", sdr=True)

    def claimed(route, rep, state=State.CLAIMED, **fields):
        return QueueItemFactory(route=route, state=state, claimed_by=rep, claimed_at=now, **fields)

    touched = claimed(Route.AE, other_ae, State.TOUCHED, first_touch_at=now)
    sdr_touched = claimed(Route.SDR, other_sdr, State.TOUCHED, first_touch_at=now)
    closed = {"state": State.WON, "closed_at": now, "close_reason": "won: $40,000 ARR"}
    won_given = QueueItemFactory(claimed_by=other_ae, closed_by=other_ae, **closed)
    admin_gave = QueueItemFactory(claimed_by=users["ae"], closed_by=users["ae"], **closed)
    items = {
        "mine": QueueItemFactory(route=Route.AE),
        "sdr_item": QueueItemFactory(route=Route.SDR),
        "expansion": QueueItemFactory(route=Route.EXPANSION, owner=other_ae),
        "held": claimed(Route.AE, other_ae),
        "sdr_held": claimed(Route.SDR, other_sdr),
        "touched": touched,
        "sdr_touched": sdr_touched,
        "won": QueueItemFactory(claimed_by=other_ae, closed_by=other_ae, **closed),
        "won_given": won_given,
        "admin_gave": admin_gave,
    }
    feedback = {"outcome": "won", "created_at": now, "updated_at": now}
    return {
        **{key: item.pk for key, item in items.items()},
        "accounts": {key: item.account_id for key, item in items.items()},
        "touch": Touch.objects.create(
            item=touched, by=other_ae, channel="email", person="Ada", at=now
        ).pk,
        "sdr_touch": Touch.objects.create(
            item=sdr_touched, by=other_sdr, channel="phone", person="Bo", at=now
        ).pk,
        "feedback": Feedback.objects.create(item=won_given, author=other_ae, **feedback).pk,
        "admin_feedback": Feedback.objects.create(
            item=admin_gave, author=users["admin"], **feedback
        ).pk,
        "admin_job": JobFactory(created_by=users["admin"]).pk,
        "ae_job": JobFactory(created_by=users["ae"]).pk,
        "users": {**users, "other_ae": other_ae, "other_sdr": other_sdr},
    }


def _url(name: str, ids: dict, world: dict) -> str:
    kwargs = {
        arg: world["accounts"][key] if arg == "account_id" else world[key]
        for arg, key in ids.items()
    }
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def clients(world):
    """A logged-in client per user, logged in before anything is compared (a login
    writes the user's last_login)."""
    logged_in = {}
    for key, user in world["users"].items():
        logged_in[key] = Client()
        logged_in[key].force_login(user)
    return logged_in


def _shown(client, response, ids: dict, world: dict) -> str:
    """What the user reads after the answer: the answer itself, or the page it reloads."""
    if response.get("HX-Refresh") == "true":
        page = _url("dossiers:dossier", {"account_id": ids["account_id"]}, world)
        return client.get(page).content.decode()
    return response.content.decode()


@pytest.mark.parametrize("name", sorted({case[0] for case in POST_CASES}))
def test_a_rep_cannot_act_on_what_is_not_theirs_by_changing_ids(clients, world, name):
    state = db_state()
    for url_name, who, ids, status, why in POST_CASES:
        if url_name != name:
            continue
        case = f"{who} {ids}: {why}"
        client = clients[who]

        response = client.post(_url(name, ids, world), DATA[name], headers=HTMX)

        assert response.status_code == status, case
        assert changed_tables(state, db_state()) == [], case
        if status == 409:  # the user is told who holds the item
            holder = "Olga Berg" if who == "ae" else "Otto Lind"
            assert f"{holder} claimed this account first" in _shown(client, response, ids, world)


@pytest.mark.parametrize("name", sorted(POSITIVE))
def test_the_rightful_rep_can_do_what_the_others_cannot(clients, world, name):
    who, ids = POSITIVE[name]
    before = db_state()

    response = clients[who].post(_url(name, ids, world), DATA[name], headers=HTMX)

    assert response.status_code in (200, 302), response.content.decode()[:500]
    assert changed_tables(before, db_state()) != []


@pytest.mark.parametrize("name", sorted({case[0] for case in GET_CASES}))
def test_pages_with_an_id_show_only_what_the_user_may_read(clients, world, name):
    for url_name, who, ids, status, why in GET_CASES:
        if url_name == name:
            response = clients[who].get(_url(name, ids, world))
            assert response.status_code == status, f"{who} {ids}: {why}"


def test_a_colleagues_claimed_account_is_readable_but_offers_no_action(clients, world):
    url = _url("dossiers:dossier", {"account_id": "held"}, world)
    html = clients["ae"].get(url).content.decode()
    assert "Olga Berg claimed this account: only they log its touches." in html
    assert 'data-testid="touch-form"' not in html
    assert 'data-testid="marketing-form"' not in html


def test_a_pm_reads_a_dossier_with_no_form_to_act(clients, world):
    url = _url("dossiers:dossier", {"account_id": "mine"}, world)
    html = clients["pm"].get(url).content.decode()
    assert 'data-testid="read-only"' in html
    for form in ("touch-form", "response-form", "contact-form", "marketing-form"):
        assert f'data-testid="{form}"' not in html


def test_feedback_of_another_rep_is_shown_read_only_with_who_gave_it(clients, world):
    admin = world["users"]["admin"]
    before = db_state()

    response = clients["ae"].post(
        _url("feedback:feedback_give", {"item_id": "admin_gave"}, world),
        DATA["feedback:feedback_give"],
    )

    assert response.status_code == 403
    html = response.content.decode()
    assert f"{admin.display_name} gave the feedback on this deal; only they can edit it." in html
    assert changed_tables(before, db_state()) == []


def test_reps_posting_to_role_only_urls_change_nothing(users, objects):  # noqa: F811
    reps = {}
    for who in ("ae", "sdr"):
        reps[who] = Client()
        reps[who].force_login(users[who])
    patterns = dict(project_patterns())
    state = db_state()
    for name in sorted(ROLE_ONLY):
        url = reverse(name, kwargs={a: objects[a] for a in id_args(patterns[name])})
        for who, client in reps.items():
            response = client.post(url)
            # 403 from the role check; 405 where the URL takes no POST at all.
            assert response.status_code in (403, 405), f"{who} {name}"
            assert changed_tables(state, db_state()) == [], f"{who} {name}"
