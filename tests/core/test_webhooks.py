"""Webhook signatures (sign/verify) and the deterministic retry schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mamori.core.webhooks import (
    LONGEST_RETRY,
    MAX_ATTEMPTS,
    MAX_HEADER_LENGTH,
    SIGNATURE_HEADER,
    next_attempt,
    retry_delay,
    sign,
    verify,
)
from mamori.errors import InvalidInput

SECRET = b"whsec_test"
BODY = b'{"event":"release.published"}'
T = 1_767_225_600  # 2026-01-01 00:00:00 UTC
# From `openssl dgst -sha256 -hmac whsec_test` over b"1767225600." + BODY, not from the code.
KNOWN_DIGEST = "0bb50d7f0834c901936db85d5c6e75277dd1d283a76a4ab06d757459a5d4a6d5"
OTHER_DIGEST = "0" * 64


def test_header_name() -> None:
    assert SIGNATURE_HEADER == "X-Mamori-Signature"


def test_sign_matches_an_independent_hmac() -> None:
    assert sign(SECRET, BODY, T) == f"t={T},v1={KNOWN_DIGEST}"


def test_round_trip() -> None:
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, header, BODY, now=T)
    assert verify(SECRET, sign(SECRET, b"", T), b"", now=T)


def test_tampered_body_fails() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify(SECRET, header, BODY.replace(b"published", b"withdrawn"), now=T)
    assert not verify(SECRET, header, BODY + b" ", now=T)


def test_wrong_secret_fails() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify(b"whsec_other", header, BODY, now=T)
    assert not verify(b"", header, BODY, now=T)


def test_timestamp_is_signed() -> None:
    moved = f"t={T + 1},v1={KNOWN_DIGEST}"
    assert not verify(SECRET, moved, BODY, now=T + 1)


@pytest.mark.parametrize(
    ("now", "accepted"),
    [
        (T + 300, True),  # exactly at the tolerance
        (T + 301, False),  # stale
        (T - 300, True),
        (T - 301, False),  # from the future
        (T + 86_400, False),
    ],
)
def test_timestamp_tolerance(now: int, accepted: bool) -> None:
    assert verify(SECRET, sign(SECRET, BODY, T), BODY, now=now) is accepted


def test_custom_tolerance() -> None:
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, header, BODY, now=T, tolerance=0)
    assert not verify(SECRET, header, BODY, now=T + 1, tolerance=0)
    assert verify(SECRET, header, BODY, now=T + 3600, tolerance=3600)
    with pytest.raises(InvalidInput, match="tolerance"):
        verify(SECRET, header, BODY, now=T, tolerance=-1)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"t={T}",
        f"v1={KNOWN_DIGEST}",
        f"t=,v1={KNOWN_DIGEST}",
        f"t=abc,v1={KNOWN_DIGEST}",
        f"t=-{T},v1={KNOWN_DIGEST}",
        f"t=+{T},v1={KNOWN_DIGEST}",
        f"t={T}.0,v1={KNOWN_DIGEST}",
        "t=١٧٦٧٢٢٥٦٠٠,v1=" + KNOWN_DIGEST,  # Arabic-Indic digits int() would accept
        f"t={T},t={T},v1={KNOWN_DIGEST}",
        f"t={T},v1=",
        f"t={T},v1={KNOWN_DIGEST[:-1]}",
        f"t={T},v1={KNOWN_DIGEST}0",
        f"t={T},v1={KNOWN_DIGEST[:-1]}g",
        f"t={T};v1={KNOWN_DIGEST}",
        f"t={T},v1={KNOWN_DIGEST},junk",
        f"T={T},V1={KNOWN_DIGEST}",
        f"t={T},v1={KNOWN_DIGEST}," + "x=" * MAX_HEADER_LENGTH,
        f"v1={KNOWN_DIGEST},v0={T}",
    ],
)
def test_malformed_headers_are_refused(header: str) -> None:
    assert not verify(SECRET, header, BODY, now=T)


@pytest.mark.parametrize(
    "header",
    [
        f"t={T},v1={KNOWN_DIGEST}",
        f"v1={KNOWN_DIGEST},t={T}",  # order does not matter
        f" t={T} , v1={KNOWN_DIGEST} ",  # spaces around pairs
        f"t={T},v1={KNOWN_DIGEST.upper()}",
        f"t={T},v1={OTHER_DIGEST},v1={KNOWN_DIGEST}",  # several v1 during a secret rotation
        f"t={T},v1={KNOWN_DIGEST},v2=something-newer",  # unknown schemes are ignored
    ],
)
def test_well_formed_variants_are_accepted(header: str) -> None:
    assert verify(SECRET, header, BODY, now=T)


def test_sign_refuses_an_empty_secret_and_negative_time() -> None:
    with pytest.raises(InvalidInput, match="secret"):
        sign(b"", BODY, T)
    with pytest.raises(InvalidInput, match="timestamp"):
        sign(SECRET, BODY, -1)


NOW = datetime(2026, 7, 14, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "wait"),
    [
        (1, timedelta(minutes=1)),
        (2, timedelta(minutes=2)),
        (3, timedelta(minutes=4)),
        (4, timedelta(minutes=8)),
        (5, timedelta(minutes=16)),
        (6, timedelta(minutes=32)),
        (7, timedelta(minutes=64)),
        (8, None),
        (9, None),
        (1000, None),
    ],
)
def test_backoff_schedule(attempt: int, wait: timedelta | None) -> None:
    expected = None if wait is None else NOW + wait
    assert next_attempt(attempt, NOW) == expected
    assert next_attempt(attempt, NOW) == expected  # deterministic: no jitter


def test_max_attempts_is_eight() -> None:
    assert MAX_ATTEMPTS == 8
    tries = [attempt for attempt in range(1, 20) if next_attempt(attempt, NOW) is not None]
    assert len(tries) + 1 == MAX_ATTEMPTS  # seven retries after the first attempt


@pytest.mark.parametrize(
    ("attempt", "wait"),
    [
        (9, timedelta(minutes=256)),
        (10, timedelta(hours=6)),  # 512 minutes, capped
        (11, timedelta(hours=6)),
        (10**9, timedelta(hours=6)),  # no 2**(10**9)
    ],
)
def test_delay_is_capped_at_six_hours(attempt: int, wait: timedelta) -> None:
    assert retry_delay(attempt) == wait
    assert wait <= LONGEST_RETRY


def test_next_attempt_keeps_the_time_zone_and_refuses_naive_or_bad_input() -> None:
    tokyo = NOW.astimezone(ZoneInfo("Asia/Tokyo"))
    assert next_attempt(1, tokyo) == tokyo + timedelta(minutes=1)
    with pytest.raises(InvalidInput, match="now"):
        next_attempt(1, datetime(2026, 7, 14, 10, 0))
    with pytest.raises(InvalidInput, match="attempt"):
        next_attempt(0, NOW)
    with pytest.raises(InvalidInput, match="attempt"):
        retry_delay(-1)
