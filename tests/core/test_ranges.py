"""Byte ranges (RFC 9110 §14): what is served, ignored, or unsatisfiable."""

from __future__ import annotations

import pytest

from mamori.core import ranges
from mamori.core.ranges import ByteRange


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=10-", ByteRange(10, 99)),
        ("bytes=-10", ByteRange(90, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("bytes=90-500", ByteRange(90, 99)),
        ("BYTES = 1 - 2", ByteRange(1, 2)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("bytes=5-3", None),  # invalid: ignored
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes=x-1", None),
    ],
)
def test_ranges_of_a_100_byte_file(header: str, expected: ByteRange | None) -> None:
    assert ranges.parse(header, 100) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=-5", 0)]
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(ranges.Unsatisfiable):
        ranges.parse(header, size)


def test_validators() -> None:
    assert ranges.none_match('"a", W/"b"', '"b"')
    assert ranges.none_match("*", '"x"')
    assert not ranges.none_match('"a"', '"b"')
    assert ranges.if_range('"b"', '"b"') and not ranges.if_range('W/"b"', '"b"')
    assert ByteRange(90, 99).content_range(100) == "bytes 90-99/100"
