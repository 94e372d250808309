"""The Django admin shows scoring's rows read-only and keeps the ICP list editable."""

import pytest
from django.urls import reverse

from scoring.models import IcpEntry
from tests.scoring.factories import AccountScoreFactory, QueueItemFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["accountscore", "queueitem", "routechange", "icpentry"])
def test_admin_lists_scoring_rows(client, admin_user, model):
    AccountScoreFactory()
    QueueItemFactory()
    client.force_login(admin_user)
    assert client.get(reverse(f"admin:scoring_{model}_changelist")).status_code == 200


def test_scores_cannot_be_edited_but_the_icp_list_can(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("admin:scoring_accountscore_add")).status_code == 403
    response = client.post(
        reverse("admin:scoring_icpentry_add"),
        {"kind": "domain", "value": " Acme.COM ", "note": "Target"},
    )
    assert response.status_code == 302
    assert IcpEntry.objects.get().value == "acme.com"
