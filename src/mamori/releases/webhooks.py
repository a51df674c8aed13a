"""Deliver one signed webhook: a single HTTP(S) POST with the standard library, no retries.

The signature and the retry schedule are pure and live in ``mamori.core.webhooks``; this module
only talks to the network. ``deliver`` refuses (``InvalidInput``) what cannot be sent at all — a URL
that is not ``http://`` or ``https://``, a header value with control characters — and otherwise
never raises for what the network or the receiver does: every outcome is a ``Delivery``.

- A 2xx answer is success. Any other status is a failure with that status, including 3xx:
  redirects are not followed (the subscriber registered this URL, not wherever it points), and
  the error says so.
- At most ``MAX_RESPONSE_BYTES`` of the response are read, then the connection is closed; the
  body is not kept. A 2xx whose body breaks off is still a success: the receiver has accepted.
- ``timeout`` bounds each blocking socket operation (connect, each read), not the whole exchange.
- HTTPS certificates and host names are verified; proxies are taken from the usual environment
  variables (``https_proxy``, ``no_proxy`` ...), as for any other outgoing request.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from mamori.core.webhooks import SIGNATURE_HEADER, sign
from mamori.errors import InvalidInput

#: How much of a response is read before the connection is closed.
MAX_RESPONSE_BYTES = 64 * 1024

USER_AGENT = "Mamori"
_TOKEN = re.compile(r"[\x21-\x7e]{1,200}", re.ASCII)  # printable ASCII, no spaces
_REASON_LIMIT = 100


@dataclass(frozen=True)
class Delivery:
    """The outcome of one attempt: ``status`` is ``None`` when no HTTP answer came back;
    ``error`` is empty on success and otherwise says what went wrong, for people to read."""

    ok: bool
    status: int | None
    error: str


def deliver(
    url: str,
    body: bytes,
    secret: bytes,
    *,
    event: str,
    delivery_id: str,
    timeout: float = 10.0,
    now: int | None = None,
) -> Delivery:
    """POST ``body`` (JSON) to ``url``, signed with ``secret`` at ``now`` (default: the clock)."""
    _check_url(url)
    for field, value in (("event", event), ("delivery_id", delivery_id)):
        if not _TOKEN.fullmatch(value):
            raise InvalidInput("must be 1-200 printable ASCII characters, no spaces", field=field)
    if not timeout > 0:
        raise InvalidInput("must be a positive number of seconds", field="timeout")
    timestamp = int(time.time()) if now is None else now
    request = urllib.request.Request(  # noqa: S310 -- _check_url allows http(s) only
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Mamori-Event": event,
            "X-Mamori-Delivery": delivery_id,
            SIGNATURE_HEADER: sign(secret, body, timestamp),
        },
    )
    return _send(request, timeout)


def _check_url(url: str) -> None:
    problem = ""
    if not url.isascii() or any(char <= " " or char == "\x7f" for char in url):
        problem = "must be ASCII without spaces or control characters (percent-encode the rest)"
    else:
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 -- parsing the port is the check
        except ValueError:
            problem = "the port is not a number from 0 to 65535"
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            problem = "must be an http:// or https:// URL with a host"
    if problem:
        raise InvalidInput(problem, field="url")


def _opener() -> urllib.request.OpenerDirector:
    """HTTP(S) only, and no redirect handler: a 3xx reaches the error handler like a 4xx."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _send(request: urllib.request.Request, timeout: float) -> Delivery:
    try:
        with _opener().open(request, timeout=timeout) as response:
            status: int = response.status
            _drain(response)
    except urllib.error.HTTPError as answer:
        try:
            _drain(answer)
        finally:
            answer.close()
        return Delivery(ok=False, status=answer.code, error=_status_text(answer))
    except (OSError, http.client.HTTPException) as failure:  # URLError is an OSError
        return Delivery(ok=False, status=None, error=_failure_text(failure, timeout))
    return Delivery(ok=True, status=status, error="")


def _drain(response: http.client.HTTPResponse | urllib.error.HTTPError) -> None:
    """Read (and drop) at most ``MAX_RESPONSE_BYTES``; a body that breaks off does not matter."""
    with contextlib.suppress(OSError, http.client.HTTPException):
        response.read(MAX_RESPONSE_BYTES)


def _status_text(answer: urllib.error.HTTPError) -> str:
    reason = "".join(char for char in str(answer.reason) if char.isprintable())
    text = f"HTTP {answer.code} {reason[:_REASON_LIMIT]}".rstrip()
    if 300 <= answer.code < 400:
        return f"{text}: the endpoint redirects, and redirects are not followed"
    return text


def _failure_text(failure: BaseException, timeout: float) -> str:
    """Why no HTTP answer came back, in words; ``URLError`` is unwrapped to its cause."""
    if isinstance(failure, urllib.error.URLError) and isinstance(failure.reason, BaseException):
        failure = failure.reason
    if isinstance(failure, TimeoutError):
        return f"timed out: no response within {timeout:g} seconds"
    if isinstance(failure, ConnectionRefusedError):
        return "connection refused: nothing is listening at that address and port"
    if isinstance(failure, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(failure, socket.gaierror):
        return f"cannot resolve the host name: {failure.strerror}"
    if isinstance(failure, ssl.SSLError):
        detail = getattr(failure, "verify_message", None) or failure.reason or failure
        return f"TLS failure: {detail}"
    if isinstance(failure, http.client.HTTPException):
        return f"not a valid HTTP response ({type(failure).__name__})"
    if isinstance(failure, urllib.error.URLError):
        return f"cannot connect: {failure.reason}"
    return f"network error: {failure}"
