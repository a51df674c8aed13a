"""Signed webhooks: the signature header and the retry schedule. Pure; delivery is elsewhere.

**Signature.** Each delivery carries ``X-Mamori-Signature: t=<unix time>,v1=<hex>`` where
``<hex>`` is the HMAC-SHA256, under the subscriber's shared secret, of the ASCII timestamp, a dot
and the raw body (``b"1767225600." + body``). Signing the timestamp lets a receiver refuse a
replayed delivery: ``verify`` accepts only timestamps within ``tolerance`` seconds of its clock,
either way. The header is a comma-separated list of ``key=value`` pairs with exactly one ``t`` and
at least one ``v1`` (several ``v1`` values allow a secret rotation: any match is enough); pairs
with other keys are ignored, so a later scheme can be added beside ``v1``. An empty secret never
signs nor verifies.

**Retries.** ``next_attempt`` is deterministic, without jitter: after failed attempt *n* the next
one is ``min(2**(n-1) minutes, 6 hours)`` later, and after attempt ``MAX_ATTEMPTS`` there is none:

=======  ==================  =======================
attempt  retry after         total since the first
=======  ==================  =======================
1        1 min               1 min
2        2 min               3 min
3        4 min               7 min
4        8 min               15 min
5        16 min              31 min
6        32 min              63 min
7        64 min              127 min
8        — (give up)
=======  ==================  =======================

With eight attempts the six-hour cap (``retry_delay`` from attempt 10 on) is never reached; it
bounds the schedule should ``MAX_ATTEMPTS`` grow.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta

from mamori.errors import InvalidInput

SIGNATURE_HEADER = "X-Mamori-Signature"
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)

#: A header longer than this is refused unread: a real one is about 80 characters per ``v1``.
MAX_HEADER_LENGTH = 1024

_TIMESTAMP = re.compile(r"[0-9]{1,15}", re.ASCII)
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    if not secret:
        raise InvalidInput("an empty secret signs nothing", field="secret")
    if timestamp < 0:
        raise InvalidInput("must be zero or more", field="timestamp")
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify(secret: bytes, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` of ``now``.

    False for a malformed header, a stale or future timestamp, a wrong secret or a changed body;
    the digests are compared in constant time.
    """
    if tolerance < 0:
        raise InvalidInput("must be zero or more", field="tolerance")
    parsed = _parse_header(header)
    if not secret or parsed is None:
        return False
    timestamp, candidates = parsed
    if abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, body, timestamp)
    matches = [hmac.compare_digest(expected, candidate.lower()) for candidate in candidates]
    return any(matches)  # every candidate compared, so timing does not reveal which one matched


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (1-based), ignoring the limit."""
    if attempt < 1:
        raise InvalidInput("attempts are numbered from 1", field="attempt")
    return min(FIRST_RETRY * (1 << min(attempt - 1, 16)), LONGEST_RETRY)


def next_attempt(attempt: int, now: datetime) -> datetime | None:
    """When to try again after attempt ``attempt`` failed at ``now``; ``None``: give up."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput("needs a time zone (an aware datetime)", field="now")
    delay = retry_delay(attempt)
    return None if attempt >= MAX_ATTEMPTS else now + delay


def _digest(secret: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def _parse_header(header: str) -> tuple[int, list[str]] | None:
    """``(timestamp, v1 digests)``, or ``None`` if the header is not well formed."""
    if len(header) > MAX_HEADER_LENGTH:
        return None
    timestamps: list[str] = []
    digests: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            digests.append(value)
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]) or not digests:
        return None
    if not all(_HEX_DIGEST.fullmatch(digest) for digest in digests):
        return None
    return int(timestamps[0]), digests
