"""A webhook receiver on loopback, as a customer would write one: it verifies the signature
(lrs.forwarding.signing.verify) on the raw body and keeps what it accepted. It can go down
(its port closes, connections are refused) and come back on the same port."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from lrs.forwarding.signing import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.servers.process import free_port


class WebhookReceiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.port = free_port()
        self.deliveries: list[dict[str, Any]] = []  # accepted bodies, in arrival order
        self.refused = 0  # requests answered with `status` or failing verification
        self.bad_signatures = 0
        self.status = 200  # what to answer (set 500 to fail on purpose)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def statement_ids(self) -> list[str]:
        with self._lock:
            return [s["id"] for body in self.deliveries for s in body["statements"]]

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = verify(
                    receiver.secret,
                    self.headers.get(TIMESTAMP_HEADER, ""),
                    self.headers.get(SIGNATURE_HEADER, ""),
                    body,
                    time.time(),
                )
                with receiver._lock:
                    if not ok:
                        receiver.bad_signatures += 1
                        status = 401
                    elif receiver.status != 200:
                        receiver.refused += 1
                        status = receiver.status
                    else:
                        value = orjson.loads(body)
                        assert value["id"] == self.headers.get(ID_HEADER)
                        receiver.deliveries.append(value)
                        status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
