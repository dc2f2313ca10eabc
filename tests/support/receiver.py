"""A real webhook receiver: an HTTP server on a loopback port, in a thread of the test process, that keeps
every request it gets and answers what the test says (a status per request, a held request, a redirect)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
from standardwebhooks.webhooks import Webhook

from tests.support.processes import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.json.decode(self.body)
        return out


class Receiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        # What to answer: (status, extra headers) for a request; default 200.
        self.answer: Callable[[Received], tuple[int, dict[str, str]]] = lambda _r: (200, {})
        self.hold = threading.Event()  # cleared: requests wait (up to 60 s) before they are answered
        self.hold.set()
        self.waiting = threading.Event()  # set once a request is being held
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.lock:
                    receiver.received.append(got)
                if not receiver.hold.is_set():
                    receiver.waiting.set()
                    receiver.hold.wait(60)
                status, headers = receiver.answer(got)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def payloads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.payload() for r in self.received]

    def verified(self, secret: str, path: str = "/hook") -> list[dict[str, Any]]:
        """Every payload sent to `path`, each signature checked (WebhookVerificationError if one is wrong)."""
        with self.lock:
            got = [r for r in self.received if r.path == path]
        hook = Webhook(secret)
        out = []
        for r in got:
            payload: dict[str, Any] = hook.verify(r.body, r.headers)
            assert r.headers["webhook-id"] == payload["id"]
            out.append(payload)
        return out
