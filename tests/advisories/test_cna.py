"""The CNA workflow through cvelib, against a real HTTP server replaying CVE Services answers.

CVE Services cannot be reached from here, so a ``ThreadingHTTPServer`` on 127.0.0.1 plays it:
it answers with responses recorded in the shape of the CVE Services API 2.x
(``data/cve_services``) and keeps every request cvelib sent, so the tests check both sides.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mamori import __version__
from mamori.advisories.cna import CnaClient, CveServicesUnavailable
from mamori.core import cve
from mamori.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from tests.advisory_samples import CVE_TRAVERSAL, sample_advisory

DATA = Path(__file__).parent / "data" / "cve_services"
ORG_ID = "b3476cb9-2e3d-41a6-98d0-0f47421a65b6"
USER = "psirt-bot@example.com"
ORG = "examplecorp"
KEY = "e0c1b7a2-6f7d-4c3e-9a51-2d8f0b4c6e13"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def recorded(name: str, status: int = 200, **headers: str) -> Answer:
    return Answer(
        status, (DATA / name).read_bytes(), {"Content-Type": "application/json"} | headers
    )


class FakeCveServices(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[Request] = []
        self.answers: list[Answer] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/api/"


class Handler(BaseHTTPRequestHandler):
    server: FakeCveServices

    def do_GET(self) -> None:
        self._replay()

    def do_POST(self) -> None:
        self._replay()

    def do_PUT(self) -> None:
        self._replay()

    def _replay(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = urlsplit(self.path)
        self.server.requests.append(
            Request(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
        )
        answer = self.server.answers.pop(0)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests honours proxy variables; talk to 127.0.0.1 directly whatever the shell says."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def services(no_proxy: None) -> Iterator[FakeCveServices]:
    server = FakeCveServices()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def client(services: FakeCveServices) -> CnaClient:
    return CnaClient(username=USER, org=ORG, api_key=KEY, url=services.url)


def container() -> dict[str, Any]:
    advisory = sample_advisory()
    return cve.cna_container(advisory, advisory.vulnerabilities[0], org_id=ORG_ID, short_name=ORG)


def assert_signed_in(request: Request) -> None:
    assert request.headers["cve-api-user"] == USER
    assert request.headers["cve-api-org"] == ORG
    assert request.headers["cve-api-key"] == KEY


# --- success ------------------------------------------------------------------------------


def test_reserve_asks_for_sequential_ids_and_returns_them(
    services: FakeCveServices, client: CnaClient
) -> None:
    services.answers.append(recorded("reserve_two.json"))
    assert client.reserve(2, 2026) == ["CVE-2026-10001", "CVE-2026-10002"]
    (sent,) = services.requests
    assert (sent.method, sent.path) == ("POST", "/api/cve-id")
    assert sent.query == {
        "amount": ["2"],
        "batch_type": ["sequential"],
        "cve_year": ["2026"],
        "short_name": [ORG],
    }
    assert_signed_in(sent)


def test_publish_sends_the_validated_container_and_returns_the_record(
    services: FakeCveServices, client: CnaClient
) -> None:
    services.answers.append(recorded("publish_created.json"))
    mine = container()
    before = json.dumps(mine, sort_keys=True)
    created = client.publish(CVE_TRAVERSAL, mine)
    (sent,) = services.requests
    assert (sent.method, sent.path, sent.query) == ("POST", f"/api/cve/{CVE_TRAVERSAL}/cna", {})
    assert sent.headers["content-type"] == "application/json"
    assert_signed_in(sent)
    assert list(sent.body) == ["cnaContainer"]
    body = sent.body["cnaContainer"]
    assert body["x_generator"] == {"engine": f"Mamori {__version__}"}
    assert {k: v for k, v in body.items() if k != "x_generator"} == mine
    assert json.dumps(mine, sort_keys=True) == before  # the caller's container is not touched
    assert created["cveMetadata"]["cveId"] == CVE_TRAVERSAL
    assert created["cveMetadata"]["state"] == "PUBLISHED"
    assert cve.validate_record(created) == []


def test_update_puts_the_container(services: FakeCveServices, client: CnaClient) -> None:
    services.answers.append(recorded("update_updated.json"))
    updated = client.update(CVE_TRAVERSAL, container())
    (sent,) = services.requests
    assert (sent.method, sent.path) == ("PUT", f"/api/cve/{CVE_TRAVERSAL}/cna")
    assert sent.body["cnaContainer"]["providerMetadata"]["orgId"] == ORG_ID
    assert updated["cveMetadata"]["serial"] == 2
    assert cve.validate_record(updated) == []


# --- refused before sending ---------------------------------------------------------------


def test_an_invalid_container_is_never_sent(services: FakeCveServices, client: CnaClient) -> None:
    broken = container()
    del broken["descriptions"]
    broken["affected"][0]["versions"][0]["status"] = "patched"
    with pytest.raises(InvalidInput) as caught:
        client.publish(CVE_TRAVERSAL, broken)
    assert "'descriptions' is a required property" in caught.value.message
    assert "$.affected[0].versions[0]" in caught.value.message
    assert services.requests == []


@pytest.mark.parametrize(
    ("call", "field_name"),
    [
        (lambda c: c.publish("CVE-26-1", container()), "cve_id"),
        (lambda c: c.update("cve-2026-10001", container()), "cve_id"),
        (lambda c: c.reserve(0, 2026), "count"),
        (lambda c: c.reserve(1, "26"), "year"),
    ],
)
def test_bad_arguments_are_refused_locally(
    services: FakeCveServices, client: CnaClient, call: Any, field_name: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        call(client)
    assert field_name in caught.value.problems
    assert services.requests == []


def test_an_unknown_environment_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="staging"):
        CnaClient(username=USER, org=ORG, api_key=KEY, env="staging")


# --- refused by CVE Services --------------------------------------------------------------


def test_wrong_credentials(services: FakeCveServices, client: CnaClient) -> None:
    services.answers.append(recorded("error_unauthorized.json", 401))
    with pytest.raises(ConfigurationError) as caught:
        client.reserve(1, 2026)
    message = caught.value.message
    assert f"user {USER!r}" in message and f"organisation {ORG!r}" in message
    assert "Unauthorized (UNAUTHORIZED)" in message
    assert len(services.requests) == 1


def test_publishing_an_existing_record_is_a_conflict(
    services: FakeCveServices, client: CnaClient
) -> None:
    services.answers.append(recorded("error_record_exists.json", 403))
    with pytest.raises(Conflict, match="update the published record instead"):
        client.publish(CVE_TRAVERSAL, container())


def test_updating_a_record_that_does_not_exist(
    services: FakeCveServices, client: CnaClient
) -> None:
    services.answers.append(recorded("error_record_dne.json", 403))
    with pytest.raises(NotFound, match="CVE_RECORD_DNE"):
        client.update(CVE_TRAVERSAL, container())


def test_an_id_of_another_organisation_is_not_permitted(
    services: FakeCveServices, client: CnaClient
) -> None:
    services.answers.append(recorded("error_org_does_not_own_id.json", 403))
    with pytest.raises(PermissionDenied, match="does not own CVE-2025-00042"):
        client.publish("CVE-2025-00042", container())


def test_a_bad_request_names_what_the_service_said(
    services: FakeCveServices, client: CnaClient
) -> None:
    services.answers.append(recorded("error_bad_input.json", 400))
    with pytest.raises(InvalidInput) as caught:
        client.reserve(1, 1998)
    assert "Parameters were invalid" in caught.value.message
    assert "cve_year" in caught.value.message
    assert services.requests[0].query["cve_year"] == ["1998"]


def test_too_many_requests_carries_the_retry_delay(
    services: FakeCveServices, client: CnaClient
) -> None:
    services.answers.append(recorded("error_too_many_requests.json", 429, **{"Retry-After": "30"}))
    with pytest.raises(RateLimited) as caught:
        client.reserve(1, 2026)
    assert caught.value.retry_after == 30


def test_a_server_error_is_unavailability(services: FakeCveServices, client: CnaClient) -> None:
    services.answers.append(recorded("error_internal.json", 500))
    with pytest.raises(CveServicesUnavailable, match="Internal Server Error"):
        client.update(CVE_TRAVERSAL, container())


def test_an_answer_that_is_not_json(services: FakeCveServices, client: CnaClient) -> None:
    services.answers.append(Answer(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    with pytest.raises(CveServicesUnavailable, match="unreadable answer"):
        client.reserve(1, 2026)


def test_an_answer_without_the_record(services: FakeCveServices, client: CnaClient) -> None:
    services.answers.append(Answer(200, b'{"message": "ok"}'))
    with pytest.raises(CveServicesUnavailable, match="without the created record"):
        client.publish(CVE_TRAVERSAL, container())


@pytest.mark.usefixtures("no_proxy")
def test_service_down() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/"
    down = CnaClient(username=USER, org=ORG, api_key=KEY, url=url)
    with pytest.raises(CveServicesUnavailable) as caught:
        down.reserve(1, 2026)
    assert f"CVE Services at {url} cannot be reached" in caught.value.message
    assert caught.value.diagnostics()["error"] == "cve_services_unavailable"
