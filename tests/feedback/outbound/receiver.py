"""A real webhook receiver for the tests: an ``http.server`` in a thread on a free local
port. It verifies the signature as docs/outbound.md tells receivers to (its own code,
not the portal's), answers the statuses it is given in turn, and dedupes by event id."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, as in docs/outbound.md."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass
class Received:
    event_id: str
    event_type: str
    attempt: str
    signature: str
    body: bytes
    verified: bool
    status: int
    duplicate: bool = False

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers ``statuses`` in turn (the last one from then on)."""

    secret: str = ""
    statuses: list[int] = field(default_factory=lambda: [200])
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    processed: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self):
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver._handle(self)

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        verified = verify(self.secret, handler.headers.get("X-PLS-Signature", ""), body)
        with self._lock:
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            if not verified:
                status = 401
            event_id = handler.headers.get("X-PLS-Event-Id", "")
            received = Received(
                event_id=event_id,
                event_type=handler.headers.get("X-PLS-Event-Type", ""),
                attempt=handler.headers.get("X-PLS-Delivery-Attempt", ""),
                signature=handler.headers.get("X-PLS-Signature", ""),
                body=body,
                verified=verified,
                status=status,
            )
            if 200 <= status < 300:
                # Dedupe by event id: a second copy is acknowledged and not processed.
                if event_id in self.processed:
                    received.duplicate = True
                else:
                    self.processed[event_id] = json.loads(body)
            self.requests.append(received)
        reply = b'{"ok": true}' if 200 <= status < 300 else b"receiver says no"
        handler.send_response(status)
        for name, value in self.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(reply)))
        handler.end_headers()
        handler.wfile.write(reply)
