"""The plays pages: the list with match counts, a play with its preview against an
account, the admin editor (validation, live preview) and who may do what."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from playbooks.models import Play, PlayMatch
from playbooks.services import play_matches_refresh
from tests.callbacks import work_sent
from tests.playbooks.factories import open_item, scored_account

pytestmark = pytest.mark.django_db

TEMPLATE = (
    "Hi {{ buyer.first_name or 'there' }}, {{ account.name }} has "
    "{{ usage.active_users_30 }} users."
)


def _post_data(*, conditions: list[dict], preview_account="", **fields) -> dict:
    data = {
        "name": "Security review coming",
        "priority": "85",
        "is_active": "on",
        "situation": "They read the security page.",
        "approach": "Offer the security pack.",
        "message_template": TEMPLATE,
        "preview_account": preview_account,
        "conditions-TOTAL_FORMS": str(len(conditions) + 1),
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "12",
        **fields,
    }
    for n, condition in enumerate([*conditions, {}]):  # and one blank row, as the page has
        for name in ("signal", "operator", "threshold", "threshold_high", "values", "key",
                     "days", "label"):  # fmt: skip
            data[f"conditions-{n}-{name}"] = condition.get(
                name, "gte" if name == "operator" else ""
            )
    return data


SECURITY = [{"signal": "security_views_30", "operator": "gte", "threshold": "2"}]


# --- the list ---------------------------------------------------------------------------------


def test_the_list_shows_every_play_with_how_many_accounts_it_matches(login, pm):
    for _ in range(2):
        scored_account(pricing_views_30=3)
    scored_account(paywall_hits_14=2)
    play_matches_refresh()

    page = login(pm).get(reverse("playbooks:plays")).content.decode()

    assert page.count('data-testid="play-row"') == 9
    assert "Repeated pricing visits" in page and "Pricing page views, 30 days ≥ 3" in page
    counts = page.split('data-testid="play-accounts">')[1:]
    assert sorted(int(c.split("<")[0]) for c in counts) == [0] * 7 + [1, 2]
    assert "New play" not in page and "Deactivate" not in page  # PMs read only


def test_admins_get_the_edit_and_deactivate_buttons(login, admin_user):
    page = login(admin_user).get(reverse("playbooks:plays")).content.decode()
    assert 'data-testid="new-play"' in page
    assert page.count(">Deactivate<") == 9


def test_the_list_runs_a_constant_number_of_queries(
    login, admin_user, django_assert_max_num_queries
):
    client = login(admin_user)
    scored_account(pricing_views_30=3)
    play_matches_refresh()
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("playbooks:plays"))
    for _ in range(20):
        scored_account(pricing_views_30=3, paywall_hits_14=3)
    play_matches_refresh()
    with django_assert_max_num_queries(len(few)):
        assert client.get(reverse("playbooks:plays")).status_code == 200


# --- a play and its preview -------------------------------------------------------------------


def test_a_pm_previews_a_play_against_an_account_read_only(login, pm):
    account = scored_account(name="Fernhill <Insurance>", plan="free", active_users_30=7)
    open_item(account, buyers=[{"name": "Dana Reyes", "title": "VP", "email": "d@f.example"}])
    play = Play.objects.get(key="five-users-on-free-plan")
    client = login(pm)

    page = client.get(reverse("playbooks:play", args=[play.pk]), {"account": account.pk})
    html = page.content.decode()

    assert page.status_code == 200
    assert "All conditions hold: the play matches this account." in html
    assert (
        'Active users, 30 days ≥ 5 <span class="muted">— 7 active users in the last 30 days' in html
    )
    # The message is plain text, escaped by the page.
    assert "I saw 7 people at Fernhill &lt;Insurance&gt; working" in html
    assert "Hi Dana," in html
    assert "edit-play" not in html

    fragment = client.get(
        reverse("playbooks:play", args=[play.pk]), {"account": account.pk}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<html" not in fragment and 'data-testid="preview-message"' in fragment


def test_a_near_miss_shows_which_condition_does_not_hold(login, pm):
    account = scored_account(plan="team", active_users_30=7)
    play = Play.objects.get(key="five-users-on-free-plan")
    html = login(pm).get(reverse("playbooks:play", args=[play.pk]), {"account": account.pk})
    html = html.content.decode()
    assert "Not a match: not every condition holds." in html
    assert 'class="check-no"' in html and "on the Team plan" in html


def test_accounts_are_found_by_name_or_domain_with_their_best_play(login, pm):
    scored_account(name="Fernhill Insurance", pricing_views_30=3)
    scored_account(name="Other Co")
    play_matches_refresh()
    client = login(pm)
    by_name = client.get(reverse("playbooks:account_search"), {"q": "fernhill"}).content.decode()
    assert "Fernhill Insurance" in by_name and "best play now: Repeated pricing visits" in by_name
    assert "Other Co" not in by_name
    none = client.get(reverse("playbooks:account_search"), {"q": "zzz"}).content.decode()
    assert "No account matches “zzz”." in none


# --- the editor -------------------------------------------------------------------------------


def test_an_admin_creates_a_play_and_every_account_is_rematched(
    login, admin_user, django_capture_on_commit_callbacks
):
    client = login(admin_user)
    assert client.get(reverse("playbooks:play_new")).status_code == 200
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("playbooks:play_new"), _post_data(conditions=SECURITY))

    play = Play.objects.get(name="Security review coming")
    assert response.status_code == 302
    assert response["Location"] == reverse("playbooks:play", args=[play.pk])
    assert (play.key, play.priority, play.updated_by) == ("security-review-coming", 85, admin_user)
    assert play.conditions == [{"signal": "security_views_30", "operator": "gte", "threshold": 2}]
    assert len(work_sent(callbacks)) == 1


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ([{"signal": "security_views_30", "operator": "gte", "threshold": "two"}],
         "Condition 1: “threshold” must be a number, not &#x27;two&#x27;."),
        ([*SECURITY, {"signal": "plan", "operator": "gte", "threshold": "1"}],
         "Condition 2: “operator” of plan must be “in” or “not_in”, not &#x27;gte&#x27;."),
        ([{"signal": "limit_hits", "operator": "gte", "threshold": "2", "key": "exports"}],
         "Condition 1: “days” must be a whole number from 1 to 90."),
        ([], "A play needs at least one condition."),
    ],
)  # fmt: skip
def test_a_wrong_condition_is_refused_naming_the_condition_and_the_field(
    login, admin_user, conditions, message
):
    response = login(admin_user).post(
        reverse("playbooks:play_new"), _post_data(conditions=conditions)
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Play.objects.filter(name="Security review coming").exists()


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hi {{ buyer.name }\nthere", "Syntax error on line 1: unexpected &#x27;}&#x27;"),
        ("Hi {{ client.name }}", "Unknown variable “client”: a play template may use account"),
        ("Hi {{ account.nam }}",
         "Undefined on line 1: &#x27;dict object&#x27; has no attribute &#x27;nam&#x27;"),
        ("{{ ''.__class__.__mro__ }}",
         "Not allowed on line 1: access to attribute &#x27;__class__&#x27; of &#x27;str&#x27; "
         "object is unsafe. (with sample values)"),
    ],
)  # fmt: skip
def test_a_template_that_fails_is_refused_on_save_with_the_jinja_error(
    login, admin_user, template, message
):
    response = login(admin_user).post(
        reverse("playbooks:play_new"),
        _post_data(conditions=SECURITY, message_template=template),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="error-message_template"' in html and message in html
    assert not Play.objects.filter(name="Security review coming").exists()


def test_an_admin_edits_a_play(login, admin_user):
    play = Play.objects.get(key="repeated-pricing-visits")
    client = login(admin_user)
    page = client.get(reverse("playbooks:play_edit", args=[play.pk])).content.decode()
    assert 'value="pricing_views_30" selected' in page

    response = client.post(
        reverse("playbooks:play_edit", args=[play.pk]),
        _post_data(
            name="Pricing, three times",
            conditions=[
                {"signal": "pricing_views_30", "operator": "gte", "threshold": "4"},
                {"signal": "route", "operator": "in", "values": "ae, sdr"},
            ],
        ),
    )
    assert response.status_code == 302
    play.refresh_from_db()
    assert play.name == "Pricing, three times" and play.key == "repeated-pricing-visits"
    assert play.conditions[1] == {"signal": "route", "operator": "in", "values": ["ae", "sdr"]}


def test_an_admin_deactivates_and_reactivates_a_play(login, admin_user):
    play = Play.objects.get(key="repeated-pricing-visits")
    client = login(admin_user)
    url = reverse("playbooks:play_active", args=[play.pk])
    assert client.post(url, {"active": "0"}).status_code == 302
    assert not Play.objects.get(pk=play.pk).is_active
    page = client.get(reverse("playbooks:plays")).content.decode()
    assert "Play “Repeated pricing visits” deactivated" in page
    client.post(url, {"active": "1"})
    assert Play.objects.get(pk=play.pk).is_active


def test_the_live_preview_fills_the_unsaved_template_for_the_chosen_account(login, admin_user):
    account = scored_account(name="Acme <Labs>", security_views_30=3, active_users_30=4)
    response = login(admin_user).post(
        reverse("playbooks:preview"),
        _post_data(conditions=SECURITY, preview_account=str(account.pk)),
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "All conditions hold" in html and "3 security page views in 30 days" in html
    assert "Hi there, Acme &lt;Labs&gt; has 4 users." in html


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}",
         "Not allowed on line 1: access to attribute &#x27;__class__&#x27;"),
        ("Hi\n{% for x in %}", "Syntax error on line 2:"),
        ("{{ account.save }}", "Undefined on line 1: &#x27;dict object&#x27; has no attribute"),
    ],
)  # fmt: skip
def test_the_live_preview_shows_a_broken_templates_error_never_a_500(
    login, admin_user, template, error
):
    account = scored_account()
    response = login(admin_user).post(
        reverse("playbooks:preview"),
        _post_data(conditions=SECURITY, preview_account=str(account.pk), message_template=template),
    )
    assert response.status_code == 200
    assert 'data-testid="preview-error"' in response.content.decode()
    assert error in response.content.decode()


def test_the_live_preview_lists_condition_errors_and_asks_for_an_account(login, admin_user):
    html = (
        login(admin_user)
        .post(
            reverse("playbooks:preview"),
            _post_data(
                conditions=[{"signal": "usage_pct", "operator": "between", "threshold": "80"}]
            ),
        )
        .content.decode()
    )
    assert "Condition 1: “between” needs “threshold_high”." in html
    assert "Choose an account" in html


# --- who may do what --------------------------------------------------------------------------

ANON = "anonymous"
COLUMNS = (ANON, "ae", "sdr", "pm", "admin")
# url name: (GET statuses, POST statuses with an empty form) per column
MATRIX = {
    "playbooks:plays": ((302, 403, 403, 200, 200), (405,) * 5),
    "playbooks:play": ((302, 403, 403, 200, 200), (405,) * 5),
    "playbooks:account_search": ((302, 403, 403, 200, 200), (405,) * 5),
    "playbooks:play_new": ((302, 403, 403, 403, 200), (302, 403, 403, 403, 400)),
    "playbooks:play_edit": ((302, 403, 403, 403, 200), (302, 403, 403, 403, 400)),
    "playbooks:play_active": ((405,) * 5, (302, 403, 403, 403, 302)),
    "playbooks:preview": ((405,) * 5, (302, 403, 403, 403, 200)),
}


def _url(name: str) -> str:
    needs_play = name in ("playbooks:play", "playbooks:play_edit", "playbooks:play_active")
    return reverse(name, args=[Play.objects.order_by("pk").first().pk] if needs_play else [])


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_who_may_open_and_post_each_plays_url(client, users, name, column):
    if column != ANON:
        client.force_login(users[column])
    get_status, post_status = MATRIX[name]
    response = client.get(_url(name))
    assert response.status_code == get_status[COLUMNS.index(column)]
    if response.status_code == 302:
        assert response["Location"].startswith("/login/?next=")
    assert client.post(_url(name)).status_code == post_status[COLUMNS.index(column)]


def test_a_pm_cannot_change_a_play(login, pm):
    play = Play.objects.get(key="repeated-pricing-visits")
    client = login(pm)
    client.post(reverse("playbooks:play_active", args=[play.pk]), {"active": "0"})
    client.post(reverse("playbooks:play_edit", args=[play.pk]), _post_data(conditions=SECURITY))
    play.refresh_from_db()
    assert play.is_active and play.name == "Repeated pricing visits"
    assert not PlayMatch.objects.exists()


def test_an_unknown_play_is_404(login, pm):
    assert login(pm).get(reverse("playbooks:play", args=[999_999])).status_code == 404
