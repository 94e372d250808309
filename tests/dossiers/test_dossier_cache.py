"""The dossier's cached parts (dossiers/dossier/cache.py): a second view of an unchanged
account reads less, and every kind of change shows on the next view."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountDomain, TrackingPlanEntry
from accounts.services.accounts import account_edit
from playbooks.models import Play, PlayMatch
from tests.dossiers.test_dossier import (
    build_account,
    dossier_url,
    missing_buyer_item,
    score_for,
    section,
    today,
)
from tests.factories import UserFactory
from tests.scoring.factories import AccountUserDayFactory


def view(client, account):
    """The dossier as the rep gets it, and the queries it took."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(dossier_url(account))
    assert response.status_code == 200
    return response, len(queries)


def test_a_second_view_of_an_unchanged_account_reads_less_and_shows_the_same(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    first, cold = view(client, account)
    second, warm = view(client, account)
    # Usage, milestones, overview, score, people and the play's context are not read again.
    assert warm <= cold - 15, (cold, warm)
    for testid in ("overview", "usage", "onboarding", "score", "people", "play"):
        assert section(second, testid) == section(first, testid)


def test_an_edit_of_the_account_shows_on_the_next_view(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    assert "Insurance" in section(view(client, account)[0], "overview")
    account_edit(account_id=account.pk, values={"industry": "Banking"})
    overview = section(view(client, account)[0], "overview")
    assert "Banking" in overview and "Insurance" not in overview.split("Employees")[0]


def test_new_usage_rolled_up_shows_on_the_next_view(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    assert section(view(client, account)[0], "active-7").split()[0] == "3"
    for _ in range(4):  # four more users active today
        AccountUserDayFactory(account=account, day=today())
    # What the rollup does when it writes the account's days.
    account.usage_changed_at = timezone.now()
    account.save(update_fields=["usage_changed_at"])
    assert section(view(client, account)[0], "active-7").split()[0] == "7"


def test_a_new_score_shows_on_the_next_view(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    assert "78" in section(view(client, account)[0], "score-total")
    score_for(account, score=91, scored_at=timezone.now() + timedelta(seconds=1))
    response = view(client, account)[0]
    assert section(response, "score-total").split()[0] == "91"
    assert section(response, "headline").split()[0] == "91"


def test_an_admin_edit_of_the_tracking_plan_shows_on_every_dossier(
    client, ae, django_capture_on_commit_callbacks
):
    account, *_ = build_account()
    client.force_login(ae)
    assert "Projects" in section(view(client, account)[0], "core-features")
    entry = TrackingPlanEntry.objects.filter(category="feature", key="projects").first()
    with django_capture_on_commit_callbacks(execute=True):
        entry.name = "Workspaces"
        entry.save()
    assert "Workspaces" in section(view(client, account)[0], "core-features")


def test_a_domain_added_to_the_account_shows_on_the_next_view(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    assert "acme-ins.fr" not in section(view(client, account)[0], "overview")
    AccountDomain.objects.create(account=account, domain="acme-ins.fr")
    assert "acme-ins.fr" in section(view(client, account)[0], "overview")


def test_a_contact_added_shows_in_the_answer_and_on_the_next_view(client, ae):
    account, _item = missing_buyer_item(ae)
    client.force_login(ae)
    assert "Missing buyer." in section(view(client, account)[0], "people")
    response = client.post(
        reverse("dossiers:dossier_contact_add", kwargs={"account_id": account.pk}),
        {"name": "Frida Finance", "email": "frida@nobody.example", "title": "CFO"},
        headers={"HX-Request": "true"},
    )
    assert "Frida Finance" in response.content.decode()
    people = section(view(client, account)[0], "people")
    assert "Frida Finance" in people and "Missing buyer." not in people


def test_a_new_best_play_shows_on_the_next_view(client, ae):
    account, *_ = build_account()
    client.force_login(ae)
    assert "5+ users on the free plan" in section(view(client, account)[0], "play-name")
    other = Play.objects.create(
        key=f"pricing-{account.pk}",
        name="Pricing page regulars",
        situation="They keep reading the pricing page.",
        conditions=[],
        approach="Ask what they are comparing.",
        message_template="Hi from {{ rep.name }}",
        priority=90,
    )
    PlayMatch.objects.filter(account=account).update(
        play=other, matched=["Pricing views"], matched_at=timezone.now()
    )
    play = section(view(client, account)[0], "play-name")
    assert "Pricing page regulars" in play and "Hi from" in play


def test_the_play_message_is_filled_for_the_rep_who_reads_it(client, ae):
    account, *_ = build_account()
    other = UserFactory(username="olga", first_name="Olga", last_name="Other", ae=True)
    Play.objects.filter(matches__account=account).update(
        message_template="Hi, this is {{ rep.first_name }}."
    )
    client.force_login(ae)
    first = section(view(client, account)[0], "play-message")
    client.force_login(other)
    second = section(view(client, account)[0], "play-message")
    assert "Olga" in second and first != second
