"""The signature scheme as a receiver checks it (docs/outbound.md's snippet, in
tests/feedback/outbound/receiver.py), against the portal's signer."""

import time

from feedback.outbound.signing import secret_generate, signature_header, signature_verify
from tests.feedback.outbound.receiver import verify

BODY = b'{"id":"evt_rc_1","type":"pql_created"}'


def test_a_receiver_verifies_what_the_portal_signs():
    secret = secret_generate()
    header = signature_header(secret=secret, timestamp=int(time.time()), body=BODY)

    assert secret.startswith("whsec_") and len(secret) > 40
    assert verify(secret, header, BODY)
    assert signature_verify(secret=secret, header=header, body=BODY, now=int(time.time()))


def test_a_tampered_body_another_secret_or_an_old_timestamp_fail():
    secret = secret_generate()
    now = int(time.time())
    header = signature_header(secret=secret, timestamp=now, body=BODY)
    stale = signature_header(secret=secret, timestamp=now - 301, body=BODY)

    assert not verify(secret, header, BODY.replace(b"pql", b"xyz"))
    assert not verify(secret_generate(), header, BODY)
    assert not verify(secret, stale, BODY)
    assert not verify(secret, "v1=deadbeef", BODY)
    assert not signature_verify(secret=secret, header=stale, body=BODY, now=now)
    assert not signature_verify(secret=secret, header="t=x,v1=y", body=BODY, now=now)
