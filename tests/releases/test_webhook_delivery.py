"""Webhook delivery against a real HTTP server on a thread (127.0.0.1, a free port)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mamori.core.webhooks import SIGNATURE_HEADER, verify
from mamori.errors import InvalidInput
from mamori.releases.webhooks import MAX_RESPONSE_BYTES, Delivery, deliver

SECRET = b"whsec_delivery_test"
BODY = b'{"event":"release.published","train":"2026-07"}'


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.received: list[Received] = []
        self.release = threading.Event()  # lets slow handlers finish at teardown

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.server_port}{path}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (the timeout test) leaves a broken pipe behind: expected


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        signature = self.headers.get(SIGNATURE_HEADER, "")
        verified = verify(SECRET, signature, body, now=int(time.time()))
        self.server.received.append(
            Received(self.command, self.path, dict(self.headers.items()), body, verified)
        )
        if self.path == "/slow":
            self.server.release.wait(10)
            self._answer(200, b"late")
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(16 * MAX_RESPONSE_BYTES))
            self.end_headers()
            self.wfile.write(b"x" * MAX_RESPONSE_BYTES)
            self.wfile.flush()
            self.server.release.wait(10)  # the rest never comes while the test runs
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", self.server.url("/ok"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/fail":
            self._answer(500, b"boom")
        elif self.path == "/ok":
            self._answer(200 if verified else 401, b"thanks")
        else:
            self._answer(404, b"no such hook")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Delivery honours proxy variables; these tests talk to 127.0.0.1 directly."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def send(url: str, **options: object) -> Delivery:
    arguments: dict[str, object] = {"event": "release.published", "delivery_id": "d-1"}
    return deliver(url, BODY, SECRET, **(arguments | options))  # type: ignore[arg-type]


def test_200_is_ok_and_the_request_is_signed(server: Server) -> None:
    result = send(server.url("/ok"), delivery_id="0b6c7a1e-delivery")
    assert result == Delivery(ok=True, status=200, error="")
    [request] = server.received
    assert request.method == "POST"
    assert request.body == BODY
    assert request.verified
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Mamori"
    assert request.headers["X-Mamori-Event"] == "release.published"
    assert request.headers["X-Mamori-Delivery"] == "0b6c7a1e-delivery"
    assert request.headers[SIGNATURE_HEADER].startswith("t=")


def test_the_signature_uses_the_given_time_and_secret(server: Server) -> None:
    stale = send(server.url("/ok"), now=int(time.time()) - 3600)
    wrong = deliver(server.url("/ok"), BODY, b"not-the-secret", event="e", delivery_id="d")
    assert stale == Delivery(ok=False, status=401, error="HTTP 401 Unauthorized")
    assert wrong == Delivery(ok=False, status=401, error="HTTP 401 Unauthorized")
    assert [request.verified for request in server.received] == [False, False]


def test_500_is_a_failure(server: Server) -> None:
    result = send(server.url("/fail"))
    assert result == Delivery(ok=False, status=500, error="HTTP 500 Internal Server Error")
    assert len(server.received) == 1


def test_404_is_a_failure(server: Server) -> None:
    assert send(server.url("/nowhere")) == Delivery(False, 404, "HTTP 404 Not Found")


def test_302_is_not_followed(server: Server) -> None:
    result = send(server.url("/redirect"))
    assert not result.ok
    assert result.status == 302
    assert result.error.startswith("HTTP 302 Found")
    assert "redirects are not followed" in result.error
    assert [request.path for request in server.received] == ["/redirect"]


def test_connection_refused() -> None:
    with socket.socket() as bound:  # bound but not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = send(f"http://127.0.0.1:{port}/ok", timeout=5)
    assert result.ok is False
    assert result.status is None
    assert result.error.startswith("connection refused")


def test_timeout(server: Server) -> None:
    started = time.monotonic()
    result = send(server.url("/slow"), timeout=0.3)
    elapsed = time.monotonic() - started
    assert result == Delivery(
        ok=False, status=None, error="timed out: no response within 0.3 seconds"
    )
    assert elapsed < 5
    assert [request.path for request in server.received] == ["/slow"]


def test_reads_at_most_64_kib_of_the_response(server: Server) -> None:
    # The server announces 1 MiB, sends 64 KiB and stalls: reading more would wait for the
    # timeout, so a prompt answer shows the read stopped at the limit.
    started = time.monotonic()
    result = send(server.url("/big"), timeout=3)
    assert result == Delivery(ok=True, status=200, error="")
    assert time.monotonic() - started < 2


def test_tls_to_a_plain_http_server_is_a_failure(server: Server) -> None:
    result = send(server.url("/ok", scheme="https"), timeout=5)
    assert result.ok is False
    assert result.status is None
    assert result.error.startswith("TLS failure: ")
    assert server.received == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "127.0.0.1/hook",
        "http:///no-host",
        "",
        "http://127.0.0.1:99999/hook",
        "http://127.0.0.1:port/hook",
        "http://127.0.0.1/a hook",
        "http://127.0.0.1/\r\nX-Injected: 1",
        "http://bücher.example/hook",
    ],
)
def test_non_http_urls_are_refused(server: Server, url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        send(url)
    assert "url" in caught.value.problems
    assert server.received == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"event": "release\r\nX-Injected: 1"}, "event"),
        ({"event": ""}, "event"),
        ({"delivery_id": "has space"}, "delivery_id"),
        ({"delivery_id": "x" * 201}, "delivery_id"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_header_values_are_refused(
    server: Server, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        send(server.url("/ok"), **options)
    assert field in caught.value.problems
    assert server.received == []
