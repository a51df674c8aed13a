"""Fixtures for the TUF tests: a real repository served by a real HTTP server on a thread.

- ``repo``: a development-mode :class:`TufRepository` (root key on disk) in ``tmp_path/repo``.
- ``serve(directory)``: starts a :class:`RepoServer` on 127.0.0.1 (stopped after the test).
- ``server``: a :class:`RepoServer` serving ``repo``. It records every path
  requested and can be told to misbehave: serve other bytes for a path (``replace``) or stream
  endless data for it (``endless``) or stall after the headers (``stalled``), as an attacker
  or a broken mirror would.
- ``make_client``: builds :class:`TufClient` objects over HTTP, each with its own trusted
  metadata directory bootstrapped with root v1 (the out-of-band trust anchor).
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mamori.agent.tuf_client import TufClient, install_trusted_root
from mamori.core.tufrepo import TufRepository

ENDLESS_LIMIT = 256 * 1024 * 1024  # "endless" streams stop here, so a broken test cannot hang


class RepoServer(http.server.ThreadingHTTPServer):
    """Serves a repository directory; records requests; misbehaves when told to."""

    daemon_threads = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.requests: list[str] = []
        self.replace: dict[str, bytes] = {}  # URL path → body served instead of the file
        self.endless: set[str] = set()  # URL paths answered with an endless stream
        self.stalled: set[str] = set()  # URL paths whose body never comes (slow retrieval)
        self.streamed = 0  # bytes sent on endless streams
        handler = functools.partial(_Handler, directory=str(directory))
        super().__init__(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fetched(self, prefix: str) -> list[str]:
        """The paths requested that start with ``prefix`` (e.g. ``/metadata/``)."""
        return [path for path in self.requests if path.startswith(prefix)]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.shutdown()
            self.server_close()
            self._thread.join(timeout=5)


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: RepoServer
    timeout = 5  # a client that stops reading an endless stream frees the thread

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.requests.append(path)
        if path in self.server.endless:
            self._stream_endless()
        elif path in self.server.stalled:
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            time.sleep(3)  # longer than the client's socket timeout in the test
        elif path in self.server.replace:
            body = self.server.replace[path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def _stream_endless(self) -> None:
        self.send_response(200)
        self.end_headers()  # no Content-Length: the body ends when the connection does
        chunk = b'{"signed": ' + b" " * 65536
        try:
            while self.server.streamed < ENDLESS_LIMIT:
                self.wfile.write(chunk)
                self.server.streamed += len(chunk)
        except OSError:  # the client hung up or stopped reading: what a client should do
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def repo(tmp_path: Path) -> TufRepository:
    return TufRepository.init(tmp_path / "repo", tmp_path / "keys", dev=True)


@pytest.fixture
def serve() -> Iterator[Callable[[Path], RepoServer]]:
    """``serve(directory)``: start a :class:`RepoServer`; it is stopped after the test."""
    started: list[RepoServer] = []

    def start(directory: Path) -> RepoServer:
        served = RepoServer(directory)
        served.start()
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def server(repo: TufRepository, serve: Callable[[Path], RepoServer]) -> RepoServer:
    return serve(repo.path)


@pytest.fixture
def make_client(
    tmp_path: Path, repo: TufRepository, server: RepoServer
) -> Callable[..., TufClient]:
    """``make_client(name="agent", root_version=1)``: a client trusting that root version."""

    def make(name: str = "agent", *, root_version: int = 1) -> TufClient:
        metadata_dir = tmp_path / name / "metadata"
        if not (metadata_dir / "root.json").exists():
            install_trusted_root(metadata_dir, repo.root_bytes(root_version))
        return TufClient(
            metadata_dir,
            f"{server.url}/metadata/",
            f"{server.url}/targets/",
            tmp_path / name / "downloads",
            socket_timeout=5,
        )

    return make


def trusted_files(client: TufClient) -> dict[str, bytes]:
    """The client's trusted metadata, file by file: attacks must leave it exactly as it was."""
    return {
        str(path.relative_to(client.metadata_dir)): path.read_bytes()
        for path in sorted(client.metadata_dir.rglob("*.json"))
    }
