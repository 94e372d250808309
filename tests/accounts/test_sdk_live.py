"""Off-the-shelf Segment and RudderStack SDKs from PyPI, pointed at the live test server
with host ``<server>/ingest``, deliver events unchanged."""

from datetime import UTC, datetime

import pytest

from accounts.models import Account, Event, ProductUser
from accounts.services.incoming import incoming_drain
from accounts.services.keys import ingestion_key_create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def _close_sdk_connections():
    """The SDKs keep one HTTP session per process; its kept-alive connection would hold a
    live-server thread, and that thread's database connection, past the test."""
    yield
    from rudderstack.analytics import request as rudder_request
    from segment.analytics import request as segment_request

    segment_request._session.close()
    rudder_request._session.close()


def _send_the_same_story(client):
    client.identify(
        "user-1",
        {"email": "ann@acme.co.uk", "name": "Ann Lee", "title": "Head of Data"},
        message_id="sdk-identify",
    )
    client.group("user-1", "ws-acme", {"name": "Acme", "employees": 250}, message_id="sdk-group")
    client.track(
        "user-1",
        "Report Exported",
        {"format": "csv"},
        timestamp=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        message_id="sdk-track",
    )
    client.page("user-1", name="Pricing", properties={"path": "/pricing"}, message_id="sdk-page")
    client.flush()


def _assert_stored():
    # What the worker's drain task does every two seconds.
    incoming_drain()
    assert Event.objects.count() == 4
    account = Account.objects.get()
    assert (account.name, account.domain, account.employees) == ("Acme", "acme.co.uk", 250)
    user = ProductUser.objects.get()
    assert (user.email, user.title, user.account) == ("ann@acme.co.uk", "Head of Data", account)
    tracked = Event.objects.get(message_id="sdk-track")
    assert (tracked.name, tracked.properties, tracked.category) == (
        "Report Exported",
        {"format": "csv"},
        "feature",
    )
    assert Event.objects.get(message_id="sdk-page").category == "buyer_intent"


@pytest.mark.parametrize("gzip", [False, True])
def test_segment_sdk_delivers_events_unchanged(live_server, gzip):
    from segment.analytics import Client

    key = ingestion_key_create(name="segment sdk").plaintext
    errors = []
    client = Client(
        key,
        host=f"{live_server.url}/ingest",
        sync_mode=True,
        gzip=gzip,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    _send_the_same_story(client)
    assert errors == []
    _assert_stored()


def test_rudderstack_sdk_delivers_events_unchanged(live_server):
    from rudderstack.analytics import Client

    key = ingestion_key_create(name="rudderstack sdk").plaintext
    errors = []
    client = Client(
        key,
        host=f"{live_server.url}/ingest",
        sync_mode=True,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    _send_the_same_story(client)
    assert errors == []
    _assert_stored()


def test_segment_sdk_with_an_unknown_key_gets_the_401_and_its_message(live_server):
    from segment.analytics import Client
    from segment.analytics.request import APIError

    client = Client(
        "pls_not-a-key", host=f"{live_server.url}/ingest", sync_mode=True, max_retries=0
    )
    with pytest.raises(APIError) as error:
        client.track("user-1", "Report Exported")
    assert (error.value.status, error.value.code) == (401, "unauthorized")
    assert error.value.message == "the write key is unknown or revoked"
    assert not Event.objects.exists()
