"""The ingestion API's credentials as the tests send them (the ``write_key`` fixture is in
tests/conftest.py)."""

import base64


def basic(key: str) -> str:
    """Segment's HTTP Basic scheme: the write key as the user name, no password."""
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()
