"""Drill 2: PostgreSQL stops while the real Segment SDK (segment-analytics-python) streams
events to the ingestion API served by gunicorn. While it is down the API answers 503 with
``Retry-After`` (and ``/healthz`` 503); the SDK keeps its batches and retries; once the
database is back every event is delivered, and after the drain each is stored exactly
once. The database is a throwaway cluster of the drill's own (``initdb`` on a free port),
never the machine's PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from tests.reliability.support import (
    DrillError,
    Gunicorn,
    copy_schema,
    fetch,
    manage,
    postgres_bin,
    shell,
    tail,
    wait_until,
)

EVENTS = 3000
RATE = 250  # events per second from the product
OUTAGE_AFTER = EVENTS // 3  # events sent before PostgreSQL stops
OUTAGE_SECONDS = 6
PROBE_IDS = [f"outage-probe-{n}" for n in range(3)]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def sdk_log():
    """What the SDK itself says about its uploads (its retries are logged at debug)."""
    logger = logging.getLogger("segment")
    handler, level, propagate = _Records(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # thousands of debug lines are for the drill, not the report
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture
def ingest_server(throwaway_cluster, pg, migrated_template, tmp_path):
    """The app's schema on the throwaway cluster, a write key, and gunicorn on it."""
    url = throwaway_cluster.server.create("pls_outage")
    copy_schema(
        source=pg,
        database=migrated_template,
        target=throwaway_cluster.server,
        into="pls_outage",
        bin_dir=postgres_bin(pg.version_num()),
    )
    key = manage(url, "create_write_key", "reliability drill").strip().splitlines()[-1]
    server = Gunicorn(database_url=url, root=tmp_path)
    try:
        wait_until(
            lambda: _status(f"{server.url}/healthz") == 200,
            timeout=60,
            what=f"gunicorn to answer /healthz:\n{tail(server.log)}",
        )
        yield server, url, key
    finally:
        server.stop()
        # The SDK's module-level HTTP session keeps a connection to the (gone) server.
        from segment.analytics import request as segment_request

        segment_request._session.close()


def _status(url: str) -> int | None:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return None


def _probe(server: Gunicorn, key: str) -> requests.Response:
    """A batch posted by hand: what any client sees."""
    batch = [
        {"type": "track", "userId": "probe", "event": "Report Exported", "messageId": m}
        for m in PROBE_IDS
    ]
    return requests.post(
        f"{server.url}/ingest/v1/batch", json={"batch": batch}, auth=(key, ""), timeout=10
    )


def _sdk_503s(server: Gunicorn) -> int:
    return sum(
        1
        for line in tail(server.access_log, 10**7).splitlines()
        if line.startswith("POST /ingest/v1/batch 503") and "analytics-python" in line
    )


@pytest.fixture
def sdk(ingest_server):
    """The Segment SDK's client, sending to gunicorn in batches of 50; its upload threads
    are stopped afterwards even if the drill failed with events still queued."""
    from segment.analytics import Client

    server, _, key = ingest_server
    errors: list[str] = []
    client = Client(
        key,
        host=f"{server.url}/ingest",
        upload_size=50,
        upload_interval=0.05,
        max_retries=10,
        on_error=lambda error, batch: errors.append(f"{error} ({len(batch)} events)"),
    )
    yield client, errors
    for consumer in client.consumers or []:
        consumer.pause()


@contextmanager
def _product_sending(client, sent: list[str]) -> Iterator[threading.Thread]:
    """The product: EVENTS track calls at RATE a second, in a thread of its own (stopped
    early only when the drill fails or is interrupted)."""
    stop = threading.Event()

    def product() -> None:
        for n in range(EVENTS):
            if stop.is_set():
                return
            message_id = f"outage-{n:05d}"
            client.track(
                f"user-{n % 40}",
                "Report Exported" if n % 3 else "Project Created",
                {"n": n},
                message_id=message_id,
            )
            sent.append(message_id)
            time.sleep(1 / RATE)

    producer = threading.Thread(target=product, name="product", daemon=True)
    producer.start()
    try:
        yield producer
    finally:
        stop.set()
        producer.join(timeout=10)


def test_ingestion_survives_a_database_outage_with_the_segment_sdk_retrying(
    throwaway_cluster, ingest_server, sdk, sdk_log, facts
):
    server, url, key = ingest_server
    client, errors = sdk
    sent: list[str] = []
    with _product_sending(client, sent) as producer:
        wait_until(lambda: len(sent) >= OUTAGE_AFTER, timeout=60, what="the first events")

        throwaway_cluster.stop()  # immediate: in-flight transactions die with it
        stopped = time.monotonic()
        probe = _probe(server, key)
        health = _status(f"{server.url}/healthz")
        wait_until(lambda: _sdk_503s(server), timeout=30, what="the SDK to meet the outage")
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
        throwaway_cluster.start()
        outage = time.monotonic() - stopped

        producer.join(timeout=120)
    flushed = threading.Thread(target=client.flush, name="flush", daemon=True)
    flushed.start()
    flushed.join(timeout=180)
    if flushed.is_alive():
        left = client.queue.qsize()
        raise DrillError(f"3 minutes after the restart the SDK still holds {left} events")

    # What an outage looks like from outside.
    assert probe.status_code == 503, (probe.status_code, probe.text[:300])
    assert probe.headers.get("Retry-After") == "5"
    assert probe.json()["code"] == "unavailable"
    assert health == 503
    # The SDK hit the outage, kept its batches (nothing reported lost) and retried.
    sdk_503s = _sdk_503s(server)
    assert sdk_503s >= 1
    assert any("Rate-limited (status 503)" in m for m in sdk_log.messages), sdk_log.messages[-5:]
    assert errors == [], f"the SDK gave up on events: {errors[:3]}"
    # A client that got the 503 sends again and is answered.
    assert _probe(server, key).status_code == 200

    # What the worker's drain task does every two seconds.
    shell(
        url,
        "from accounts.services.incoming import incoming_drain, incoming_pending\n"
        "while incoming_pending():\n"
        "    incoming_drain()\n",
    )
    facts(
        f"PostgreSQL down {outage:.1f} s; the SDK's batches answered 503: {sdk_503s}; "
        f"{len(sent):,} events sent"
    )
    stored = dict(
        fetch(
            url,
            "SELECT message_id, count(*) FROM accounts_event "
            "WHERE message_id LIKE 'outage-%%' GROUP BY message_id",
        )
    )
    expected = set(sent) | set(PROBE_IDS)
    missing = sorted(expected - stored.keys())
    doubled = {m: c for m, c in stored.items() if c != 1}
    assert len(sent) == EVENTS
    assert not missing and not doubled and stored.keys() == expected, (
        f"after a {outage:.0f} s outage ({sdk_503s} SDK batches answered 503): "
        f"{len(missing)} events missing (e.g. {missing[:5]}), duplicated: "
        f"{json.dumps(dict(list(doubled.items())[:5]))}"
    )
