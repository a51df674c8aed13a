"""Tracking ids: formatting, parsing and what is refused."""

from __future__ import annotations

import pytest

from mamori.core.tracking import TrackingId
from mamori.errors import InvalidInput


@pytest.mark.parametrize(
    ("tracking_id", "text"),
    [
        (TrackingId("MAMORI", 2026, 1), "MAMORI-2026-0001"),
        (TrackingId("MAMORI", 2026, 42), "MAMORI-2026-0042"),
        (TrackingId("PSIRT2", 1999, 9999), "PSIRT2-1999-9999"),
        (TrackingId("AB", 2030, 12345), "AB-2030-12345"),
    ],
)
def test_format_pads_to_four_digits_and_grows_beyond(tracking_id: TrackingId, text: str) -> None:
    assert str(tracking_id) == text
    assert TrackingId.parse(text) == tracking_id


def test_parse_reads_the_parts_and_ignores_surrounding_space() -> None:
    parsed = TrackingId.parse("  MAMORI-2026-0007\n")
    assert (parsed.prefix, parsed.year, parsed.number) == ("MAMORI", 2026, 7)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "MAMORI",
        "mamori-2026-0001",
        "MAMORI-26-0001",
        "MAMORI-2026-001",
        "MAMORI-2026-0000",
        "MAMORI-1969-0001",
        "MAMORI_2026_0001",
        "MAMORI-2026-0001-1",
        "MAMORI-2026-0001x",
        "1MAMORI-2026-0001",
        "../MAMORI-2026-0001",
    ],
)
def test_parse_refuses_anything_else_naming_the_tracking_id(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        TrackingId.parse(text)
    assert set(caught.value.problems) == {"tracking_id"}


def test_parse_does_not_echo_a_long_input_in_full() -> None:
    with pytest.raises(InvalidInput) as caught:
        TrackingId.parse("X" * 5000)
    assert len(caught.value.message) < 200


@pytest.mark.parametrize(
    "prefix", ["", "M", "mamori", "Mamori", "1ABC", "A" * 17, "MA-MO", "MAMORI\n"]
)
def test_a_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        TrackingId(prefix, 2026, 1)
    assert set(caught.value.problems) == {"prefix"}


@pytest.mark.parametrize(("year", "number"), [(1969, 1), (10000, 1), (2026, 0), (2026, -1)])
def test_year_and_number_must_be_in_range(year: int, number: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        TrackingId("MAMORI", year, number)
    assert set(caught.value.problems) == {"tracking_id"}


def test_tracking_ids_order_by_prefix_then_year_then_number() -> None:
    ids = [
        TrackingId("MAMORI", 2026, 10),
        TrackingId("MAMORI", 2025, 99),
        TrackingId("MAMORI", 2026, 2),
    ]
    assert [str(i) for i in sorted(ids)] == [
        "MAMORI-2025-0099",
        "MAMORI-2026-0002",
        "MAMORI-2026-0010",
    ]
