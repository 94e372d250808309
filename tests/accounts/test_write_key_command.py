"""manage.py create_write_key prints the new key as its last line; it works at once."""

import base64
import json

import pytest
from django.core.management import call_command

from accounts.models import IngestionKey

pytestmark = pytest.mark.django_db


def test_create_write_key_prints_a_working_key_as_the_last_line(client, capsys):
    call_command("create_write_key", "web app production")
    lines = capsys.readouterr().out.strip().splitlines()
    key = lines[-1]
    assert key.startswith("pls_")
    assert "shown only once" in lines[0]
    stored = IngestionKey.objects.get()
    assert (stored.name, stored.prefix) == ("web app production", key[:12])
    assert key not in stored.key_hash
    response = client.post(
        "/ingest/v1/track",
        data=json.dumps({"userId": "u1", "event": "Project Created"}),
        content_type="application/json",
        headers={"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()},
    )
    assert response.status_code == 200
