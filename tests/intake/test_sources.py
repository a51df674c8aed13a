"""Fetching public sources: a real HTTP server on a thread, files and directories."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import mamori
from mamori.core.feeds import parse_feed, parse_osv
from mamori.errors import InvalidInput, PayloadTooLarge
from mamori.intake.sources import SourceUnavailable, fetch, kind_of

DATA = Path(__file__).parents[1] / "data" / "feeds"
ATOM = (DATA / "atom.xml").read_bytes()
LIMIT = 1024


@dataclass
class Site:
    """The test server's address and what it saw."""

    base: str
    agents: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


class Handler(BaseHTTPRequestHandler):
    site: Site

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read what matters from ``Site``."""

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}) and body:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str) -> None:
        self.send(302, headers={"Location": location, "Content-Length": "0"})

    def do_GET(self) -> None:
        self.site.agents.append(self.headers.get("User-Agent", ""))
        path = self.path
        if path in ("/advisories.atom", "/%E3%83%95%E3%82%A3%E3%83%BC%E3%83%89.atom?q=%C3%A9"):
            self.send(200, ATOM, {"Content-Type": "application/atom+xml"})
        elif path == "/moved":
            self.send(301, headers={"Location": "/advisories.atom", "Content-Length": "0"})
        elif path.startswith("/hops/"):
            left = int(path.removeprefix("/hops/"))
            self.redirect(f"/hops/{left - 1}" if left > 1 else "/advisories.atom")
        elif path == "/to-ftp":
            self.redirect("ftp://127.0.0.1/advisories.atom")
        elif path == "/to-file":
            self.redirect("file:///etc/passwd")
        elif path == "/broken":
            self.send(500, b"Internal Server Error")
        elif path == "/exact":
            self.send(200, b"x" * LIMIT)
        elif path == "/declared-huge":
            self.send(200, b"x" * (LIMIT + 1))
        elif path == "/streamed-huge":  # no length: the body ends when the connection closes
            self.send_response(200)
            self.end_headers()
            for _ in range(4):
                self.wfile.write(b"x" * LIMIT)
        elif path == "/slow":
            if not self.site.release.wait(10):  # released at teardown: the client is gone
                self.send(200, ATOM)
        else:
            self.send(404, b"Not Found")


@pytest.fixture
def site() -> Iterator[Site]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    state = Site(base=f"http://{host!s}:{port}")
    server.RequestHandlerClass = type("Bound", (Handler,), {"site": state})
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# HTTP ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_an_atom_feed_is_fetched_with_mamoris_user_agent(site: Site) -> None:
    url = f"{site.base}/advisories.atom"

    [(name, body)] = fetch(url)

    assert (name, body) == (url, ATOM)
    assert site.agents == [f"Mamori/{mamori.__version__}"]
    assert kind_of(name, body) == "feed"
    assert len(parse_feed(body)) == 3


@pytest.mark.integration
def test_an_iri_is_sent_percent_encoded(site: Site) -> None:
    iri = f"{site.base}/フィード.atom?q=é"

    assert fetch(iri) == [(iri, ATOM)]


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/moved", "/hops/5"])
def test_up_to_five_redirects_are_followed(site: Site, path: str) -> None:
    [(name, body)] = fetch(site.base + path)

    assert name == site.base + path
    assert body == ATOM


@pytest.mark.integration
def test_a_sixth_redirect_is_not_followed(site: Site) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        fetch(f"{site.base}/hops/6")

    assert caught.value.code == "source_unavailable"
    assert len(site.agents) == 6
    assert "/advisories.atom" not in caught.value.message


@pytest.mark.integration
@pytest.mark.parametrize(("path", "target"), [("/to-ftp", "ftp:"), ("/to-file", "file:")])
def test_redirects_leave_http_never(site: Site, path: str, target: str) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        fetch(site.base + path)

    assert target in caught.value.message
    assert len(site.agents) == 1


@pytest.mark.integration
@pytest.mark.parametrize(("path", "status"), [("/broken", "HTTP 500"), ("/nowhere", "HTTP 404")])
def test_http_errors_make_the_source_unavailable(site: Site, path: str, status: str) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        fetch(site.base + path)

    assert caught.value.message == f"{site.base}{path}: {status} " + (
        "Internal Server Error" if status == "HTTP 500" else "Not Found"
    )


@pytest.mark.integration
def test_a_body_of_exactly_the_limit_is_read(site: Site) -> None:
    assert fetch(f"{site.base}/exact", max_bytes=LIMIT) == [(f"{site.base}/exact", b"x" * LIMIT)]


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/declared-huge", "/streamed-huge"])
def test_a_body_over_the_limit_is_refused(site: Site, path: str) -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        fetch(site.base + path, max_bytes=LIMIT)

    assert f"larger than {LIMIT} bytes" in caught.value.message


@pytest.mark.integration
def test_a_server_too_slow_to_answer_makes_the_source_unavailable(site: Site) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        fetch(f"{site.base}/slow", timeout=0.2)

    assert "timed out" in caught.value.message


@pytest.mark.integration
def test_a_closed_port_makes_the_source_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(SourceUnavailable) as caught:
        fetch(f"http://127.0.0.1:{port}/feed.xml", timeout=5)

    assert "refused" in caught.value.message.lower()


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "FILE:tests/data/feeds/atom.xml",
        "ftp://ftp.example.com/feed.xml",
        "data:,hello",
        "gopher://example.com/1",
        "javascript:alert(1)",
    ],
)
def test_other_schemes_are_refused(location: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        fetch(location)

    assert "only http and https" in caught.value.problems["location"]


def test_credentials_in_urls_are_refused_and_not_repeated() -> None:
    with pytest.raises(InvalidInput) as caught:
        fetch("https://feeds:hunter2@feeds.example.com/feed.xml")

    assert "hunter2" not in caught.value.message
    assert "passwords in URLs are not supported" in caught.value.message


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:99999/feed.xml",
        "http://127.0.0.1:x/",
        "http://[::1/feed.xml",
        "https:///x",
        "http://127.0.0.1:9/a b",
    ],
)
def test_malformed_urls_are_refused(location: str) -> None:
    with pytest.raises(InvalidInput):
        fetch(location, timeout=5)


# Files and directories ----------------------------------------------------------------------


def test_a_file_is_one_document_named_by_its_name() -> None:
    assert fetch(str(DATA / "atom.xml")) == [("atom.xml", ATOM)]


def test_a_file_over_the_limit_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        fetch(str(DATA / "atom.xml"), max_bytes=100)


def test_a_directory_gives_every_json_file_below_it_sorted() -> None:
    documents = fetch(str(DATA / "osv"))

    assert [name for name, _ in documents] == [
        "Go/GO-2024-2887.json",
        "Maven/GHSA-9hgv-rc4j-8w5q.json",
        "PyPI/GHSA-2gwj-7jmv-h26r.json",
        "npm/GHSA-952p-6rrq-rcjv.json",
    ]
    assert documents[0][1] == (DATA / "osv" / "Go" / "GO-2024-2887.json").read_bytes()
    assert {kind_of(name, body) for name, body in documents} == {"osv"}
    assert parse_osv(documents[0][1]).upstream_id == "osv:GO-2024-2887"


def test_nested_directories_are_walked_and_other_files_skipped(tmp_path: Path) -> None:
    for relative in ("b.json", "a/z.json", "a/b/c/d.JSON", "a/notes.txt", "c.json.bak"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(relative.encode())
    shutil.copy(DATA / "atom.xml", tmp_path / "a" / "feed.xml")

    assert fetch(str(tmp_path)) == [
        ("a/b/c/d.JSON", b"a/b/c/d.JSON"),
        ("a/z.json", b"a/z.json"),
        ("b.json", b"b.json"),
    ]


def test_a_directory_with_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "small.json").write_bytes(b"{}")
    (tmp_path / "large.json").write_bytes(b" " * 101)

    with pytest.raises(PayloadTooLarge):
        fetch(str(tmp_path), max_bytes=100)


def test_an_empty_directory_gives_nothing(tmp_path: Path) -> None:
    assert fetch(str(tmp_path)) == []


def test_a_missing_path_makes_the_source_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        fetch(str(tmp_path / "missing.json"))

    assert caught.value.message == f"{tmp_path}/missing.json: no such file or directory"


def test_a_device_is_not_read() -> None:
    with pytest.raises(SourceUnavailable) as caught:
        fetch("/dev/zero")

    assert caught.value.message == "/dev/zero: not a regular file or a directory"


# Sniffing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "first", "kind"),
    [
        ("x", b'{"id": "GHSA-aaaa-bbbb-cccc"}', "osv"),
        ("x", b'\xef\xbb\xbf\n  [{"id": 1}]', "osv"),
        ("x", b'<?xml version="1.0"?><rss/>', "feed"),
        ("feed.json", b"\r\n<feed xmlns='http://www.w3.org/2005/Atom'/>", "feed"),
        ("osv/GHSA.json", b"", "osv"),
        ("https://example.com/feed.rss?x=1", b"", "feed"),
        ("advisories.ATOM", b"", "feed"),
    ],
)
def test_kind_of(location: str, first: bytes, kind: str) -> None:
    assert kind_of(location, first) == kind


def test_kind_of_unknown_content_is_refused() -> None:
    with pytest.raises(InvalidInput):
        kind_of("notes.txt", b"hello")
