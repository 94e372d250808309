"""First messages: filled with the account's own numbers from plain dicts, in Jinja2's
sandbox; a bad template is an error string with its line, never an exception."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from playbooks.messages import message_context, sample_context
from playbooks.models import Play
from playbooks.rendering import play_message_render, play_template_check
from playbooks.services import play_matches_refresh, play_message_for
from tests.factories import UserFactory
from tests.playbooks.factories import limit_hits, open_item, scored_account
from tests.scoring.factories import AccountFeatureDayFactory

pytestmark = pytest.mark.django_db

BUYER = {"name": "Dana Reyes", "email": "dana@fernhill.example", "title": "VP Operations",
         "product_user_id": None, "contact_id": 3, "reasons": ["senior title"]}  # fmt: skip


@pytest.fixture
def rep(db):
    return UserFactory(username="rita", first_name="Rita", last_name="Okafor", ae=True)


def _fernhill():
    account = scored_account(
        name="Fernhill Insurance", plan="free", active_users_30=7, core_features_30=4,
        active_users_7=5, pricing_views_30=1,
    )  # fmt: skip
    open_item(account, buyers=[BUYER])
    return account


def test_the_dossier_message_is_the_best_plays_template_filled_with_the_accounts_numbers(rep):
    account = _fernhill()
    play_matches_refresh()

    message = play_message_for(account_id=account.pk, rep=rep)

    assert message.play.key == "five-users-on-free-plan"
    assert message.matched == ["7 active users in the last 30 days", "on the Free plan"]
    assert message.error == ""
    assert message.text == (
        "Hi Dana,\n\n"
        "I saw 7 people at Fernhill Insurance working in the product this month, across 4 "
        "core features, all on the Free plan.\nTeams that size usually outgrow the free seats "
        "quickly. I can set you up with a Team trial for everyone, with shared workspaces and "
        "admin controls, so nobody gets locked out.\n\nWant me to set it up?\n\nRita"
    )


def test_no_message_without_a_stored_match_or_when_the_play_is_inactive(rep):
    account = _fernhill()
    assert play_message_for(account_id=account.pk, rep=rep) is None
    play_matches_refresh()
    Play.objects.filter(key="five-users-on-free-plan").update(is_active=False)
    assert play_message_for(account_id=account.pk, rep=rep) is None


def test_a_broken_stored_template_gives_the_dossier_an_error_not_an_exception(rep):
    account = _fernhill()
    play_matches_refresh()
    Play.objects.filter(key="five-users-on-free-plan").update(
        message_template="Hi {{ buyer.first_name }},\n{{ account.save() }}"
    )

    message = play_message_for(account_id=account.pk, rep=rep)

    assert message.text == ""
    assert message.error.startswith("Undefined on line 2: 'dict object' has no attribute 'save'")
    assert message.matched  # the play and why it matched still show


def test_the_context_holds_the_limits_hit_and_integrations_by_name(rep):
    account = scored_account(name="Acme", plan="free", integrations=2, usage_pct=100.0)
    today = timezone.now().date()
    limit_hits(account, days_ago=1, exports=2, seats=1)
    limit_hits(account, days_ago=10, api_calls=5)  # last week: not this week's
    for key in ("integrations:slack", "integrations:jira", "export", "api"):
        AccountFeatureDayFactory(account=account, feature_key=key, day=today)
    AccountFeatureDayFactory(account=account, feature_key="projects", day=today - timedelta(40))

    usage = message_context(account_id=account.pk, rep=rep)["usage"]

    assert usage["limits_hit"] == [
        {"key": "exports", "label": "Exports per month", "hits": 2},
        {"key": "seats", "label": "Seats", "hits": 1},
    ]
    assert (usage["top_limit_label"], usage["top_limit_hits"], usage["limit_hits_7"]) == (
        "Exports per month", 2, 3,
    )  # fmt: skip
    assert usage["usage_limit"] == "api_calls"  # the most hit in 14 days
    assert usage["integration_names"] == ["jira", "slack"]
    assert usage["features"] == ["api", "export"]  # projects was last used 40 days ago
    assert usage["usage_pct"] == 100  # whole floats read as whole numbers


def _is_plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return isinstance(value, str | int | float | bool)


def test_the_context_is_plain_data_with_the_same_keys_as_the_editors_sample(rep):
    account = _fernhill()
    context = message_context(account_id=account.pk, rep=rep)
    assert _is_plain(context)
    sample = sample_context()
    assert {g: set(v) for g, v in context.items()} == {g: set(v) for g, v in sample.items()}
    assert context["buyer"] == {
        "name": "Dana Reyes", "first_name": "Dana", "title": "VP Operations",
        "email": "dana@fernhill.example",
    }  # fmt: skip
    assert context["rep"] == {"first_name": "Rita", "name": "Rita Okafor",
                              "email": "rita@example.com"}  # fmt: skip


def _big_account():
    account = _fernhill()
    today = timezone.now().date()
    for n in range(14):
        limit_hits(account, days_ago=n, **{f"limit{n}": 1})
    for n in range(30):
        AccountFeatureDayFactory(
            account=account, feature_key=f"integrations:tool{n}", day=today - timedelta(n)
        )
    return account


def test_the_dossier_message_takes_a_constant_number_of_queries(rep, django_assert_max_num_queries):
    small, big = _fernhill(), _big_account()
    play_matches_refresh()
    with CaptureQueriesContext(connection) as small_queries:
        assert play_message_for(account_id=small.pk, rep=rep).error == ""
    with django_assert_max_num_queries(len(small_queries)):
        assert play_message_for(account_id=big.pk, rep=rep).error == ""
    assert len(small_queries) <= 8


CONTEXT = {
    "account": {"name": "Acme", "plan": "Free", "tags": ["a", "b"]},
    "usage": {"active_users_30": 7},
    "signals": {"pricing_views_30": 3},
    "buyer": {"name": "", "first_name": ""},
    "rep": {"first_name": "Rita"},
}


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("Hi\n{% if account.name %}", "Syntax error on line 2: Unexpected end of template."),
        ("{{ account.name", "Syntax error on line 1: unexpected end of template"),
        ("Hi\n\n{{ acount.name }}", "Undefined on line 3: 'acount' is undefined"),
        ("{{ account.nmae }}", "Undefined on line 1: 'dict object' has no attribute 'nmae'"),
        ("{{ account.save }}", "Undefined on line 1: 'dict object' has no attribute 'save'"),
        ("{{ account.delete() }}", "Undefined on line 1: 'dict object' has no attribute 'delete'"),
        ("{{ ''.__class__.__mro__ }}",
         "Not allowed on line 1: access to attribute '__class__' of 'str' object is unsafe."),
        ("{{ account.__class__.__init__.__globals__ }}",
         "Not allowed on line 1: access to attribute '__init__' of 'StrictUndefined' object"),
        ("{{ account.name|attr('__class__') }}",
         "Not allowed on line 1: access to attribute '__class__' of 'str' object is unsafe."),
        ("{{ self.__init__.__globals__ }}",
         "Not allowed on line 1: access to attribute '__init__' of 'TemplateReference' object"),
        ("{{ '{0.__class__}'.format(account.name) }}",
         "Not allowed on line 1: str.format is not available in play templates"),
        ("{{ '%s' % account.name }}", "Not allowed on line 1: % is only for numbers"),
        ("{{ account.tags.append('x') }}",
         "Not allowed on line 1: access to attribute 'append' of 'list' object is unsafe."),
        ("{{ account.pop('name') }}",
         "Not allowed on line 1: access to attribute 'pop' of 'dict' object is unsafe."),
        ("{% include 'base.html' %}",
         "Syntax error on line 1: {% include %} is not available in play templates"),
        ("{% extends 'base.html' %}",
         "Syntax error on line 1: {% extends %} is not available in play templates"),
        ("{{ range(10) }}", "Undefined on line 1: 'range' is undefined"),
        ("{{ 'x' * 100000 }}", "Limit reached on line 1: the template builds text longer"),
        ("{{ 'x'.ljust(10**9) }}", "Not allowed on line 1: access to attribute 'ljust'"),
        ("{{ ''|center(10**9) }}", "Syntax error on line 1: No filter named 'center'."),
        ("{% set s = 'xxxxxxxxxx' %}" + "{% set s = s ~ s %}" * 12 + "{{ s }}",
         "Limit reached on line 1: the template builds text longer"),
        ("{% for a in account.tags %}" * 14 + "." + "{% endfor %}" * 14,
         "Limit reached on line 1: the template does too much work"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
         "The template failed on line 1: RecursionError"),
        ("{{ 2 ** 100000 }}", "Limit reached on line 1: the template builds a number too large"),
        ("{{ usage.active_users_30 / 0 }}",
         "The template failed on line 1: ZeroDivisionError: division by zero"),
    ],
)  # fmt: skip
def test_a_bad_template_is_an_error_with_its_line_never_an_exception(template, error):
    text, message = play_message_render(template=template, context=CONTEXT)
    assert text == ""
    assert message.startswith(error), message


def test_a_good_template_renders_as_plain_text_unescaped():
    text, error = play_message_render(
        template="Hi {{ buyer.first_name or 'there' }} & team <{{ account.name }}>,\n"
        "{% for tag in account.tags %}{{ tag|upper }}{% endfor %} {{ usage.active_users_30 }}",
        context=CONTEXT,
    )
    assert (text, error) == ("Hi there & team <Acme>,\nAB 7", "")


def test_a_template_longer_than_the_cap_is_refused():
    text, error = play_message_render(template="x" * 10_001, context=CONTEXT)
    assert (text, error) == ("", "The template is 10,001 characters; at most 10,000.")


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("Hi {{ buyer.name }}", ""),
        ("Hi {{ buyer.name }", "Syntax error on line 1: unexpected '}'"),
        ("Hi {{ customer.name }}",
         "Unknown variable “customer”: a play template may use account, usage, signals, buyer, "
         "rep."),
    ],
)  # fmt: skip
def test_the_editor_check_refuses_what_does_not_parse_or_names_an_unknown_variable(template, error):
    assert play_template_check(template) == error
