"""Reading a configured public source: an http(s) URL, a file, or a directory of OSV files.

The adapter around ``mamori.core.feeds``: it fetches bytes and tells feeds from OSV records,
nothing more. Failures to reach a source are ``SourceUnavailable`` (worth retrying later); a
location Mamori refuses to read is ``InvalidInput``; a body over the limit is ``PayloadTooLarge``.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import mamori
from mamori.errors import Error, InvalidInput, PayloadTooLarge

MAX_BYTES = 10 * 1024 * 1024
TIMEOUT = 30.0
MAX_REDIRECTS = 5
USER_AGENT = f"Mamori/{mamori.__version__}"
_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, application/json;q=0.9, text/xml;q=0.8, */*;q=0.5"
)
_WEB = ("http", "https")
_CHUNK = 64 * 1024
_RESERVED = "!#$%&'()*+,/:;=?@[]~"


class SourceUnavailable(Error):
    """A source could not be read now (network, HTTP status, missing file); retry later."""

    code = "source_unavailable"


def _shown(url: str) -> str:
    """A URL fit for a message: any user name or password is left out."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most five redirects, and only to http or https (not ftp, as urllib would)."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() not in _WEB:
            refused = f"{msg} to {_shown(newurl)}: only http and https are followed"
            raise urllib.error.HTTPError(newurl, code, refused, headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    """http and https only (no file:, ftp: or data:), proxies from the environment."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        _Redirects(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
    ):
        opener.add_handler(handler)
    return opener


def _read_limited(
    read: Callable[[int], bytes], max_bytes: int, what: str, deadline: float
) -> bytes:
    """Everything ``read`` gives, refusing more than ``max_bytes`` or reading past ``deadline``.

    ``read`` returns what is available (``read1``), so a slow sender cannot hold a call open.
    """
    chunks: list[bytes] = []
    size = 0
    while chunk := read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"{what} is larger than {max_bytes} bytes", field="source")
        if time.monotonic() > deadline:
            raise SourceUnavailable(f"{what}: reading took longer than the time limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _fetch_url(url: str, max_bytes: int, timeout: float) -> bytes:
    headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) only, see fetch
    deadline = time.monotonic() + timeout
    try:
        with _opener().open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise PayloadTooLarge(
                    f"{_shown(url)} is larger than {max_bytes} bytes", field="source"
                )
            body: bytes = _read_limited(response.read1, max_bytes, _shown(url), deadline)
            return body
    except urllib.error.HTTPError as exc:
        exc.close()
        raise SourceUnavailable(f"{_shown(url)}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SourceUnavailable(f"{_shown(url)}: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise SourceUnavailable(f"{_shown(url)}: {str(exc) or type(exc).__name__}") from None


def _read_file(path: Path, max_bytes: int) -> bytes:
    with path.open("rb") as stream:
        return _read_limited(stream.read1, max_bytes, str(path), float("inf"))


def _json_files(root: Path) -> list[tuple[str, Path]]:
    """Every ``*.json`` file under ``root`` by relative POSIX path, sorted; links to
    directories are not followed."""
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if path.suffix.lower() == ".json" and path.is_file():
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def _fetch_path(location: str, max_bytes: int) -> list[tuple[str, bytes]]:
    path = Path(location)
    try:
        if path.is_dir():
            return [(name, _read_file(file, max_bytes)) for name, file in _json_files(path)]
        if path.is_file():
            return [(path.name, _read_file(path, max_bytes))]
    except OSError as exc:
        raise SourceUnavailable(f"{location}: {exc.strerror or exc}") from None
    if path.exists():
        raise SourceUnavailable(f"{location}: not a regular file or a directory")
    raise SourceUnavailable(f"{location}: no such file or directory")


def _checked_url(url: str) -> str:
    """An http(s) URL with a host, a valid port if any, and no credentials, ready to send:
    letters outside ASCII in the path and query are percent-encoded (an IRI becomes a URI)."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError when out of range or not a number
    except ValueError as exc:
        raise InvalidInput(f"not a valid URL: {exc}", field="location") from None
    if "@" in parts.netloc:
        raise InvalidInput("user names and passwords in URLs are not supported", field="location")
    if not parts.hostname:
        raise InvalidInput("not a valid URL: no host", field="location")
    if any(char.isspace() or not char.isprintable() for char in url):
        raise InvalidInput("not a valid URL: blanks or control characters", field="location")
    return urlunsplit(
        parts._replace(
            path=quote(parts.path, safe=_RESERVED), query=quote(parts.query, safe=_RESERVED)
        )
    )


def fetch(
    location: str, *, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT
) -> list[tuple[str, bytes]]:
    """The documents at ``location`` as ``(name, bytes)`` pairs.

    An http(s) URL gives one pair named by the URL (at most five redirects, http(s) only; the
    whole transfer within ``timeout`` seconds). A file gives one pair named by the file's name.
    A directory gives every ``*.json`` file below it, named by relative path and sorted. Each
    document is limited to ``max_bytes``. Other URL schemes (file:, ftp:, data: ...) are refused.
    """
    try:
        scheme = urlsplit(location).scheme.lower()
    except ValueError as exc:
        raise InvalidInput(f"not a URL or path: {exc}", field="location") from None
    if scheme in _WEB:
        return [(location, _fetch_url(_checked_url(location), max_bytes, timeout))]
    if scheme:
        raise InvalidInput(f"only http and https URLs or paths, not {scheme}:", field="location")
    if not location.strip():
        raise InvalidInput("required", field="location")
    return _fetch_path(location, max_bytes)


def kind_of(location: str, first: bytes) -> Literal["feed", "osv"]:
    """Whether a document is a feed (XML) or an OSV record (JSON), from its first bytes.

    Falls back to the extension of ``location`` when the content says nothing.
    """
    start = first.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    if start in (b"{", b"["):
        return "osv"
    if start == b"<":
        return "feed"
    suffix = Path(urlsplit(location).path).suffix.lower()
    if suffix == ".json":
        return "osv"
    if suffix in (".xml", ".rss", ".atom", ".rdf"):
        return "feed"
    raise InvalidInput("neither JSON (OSV) nor XML (RSS or Atom)", field="source")
