import pytest

from tests.feedback.outbound.receiver import Receiver


@pytest.fixture
def receiver():
    """Start a local webhook receiver: ``receiver(secret=…, statuses=[500, 200])``."""
    started = []

    def _start(**kwargs) -> Receiver:
        server = Receiver(**kwargs)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()
