"""The business calendar and SLA timers: counting rules, holidays, time zones, DST, parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mamori.core.sla import (
    BusinessCalendar,
    SlaStatus,
    parse_holidays,
    parse_workdays,
    sla_status,
)
from mamori.errors import InvalidInput

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
EVERY_DAY = frozenset(range(7))
JAPAN = BusinessCalendar(TOKYO)

# July 2026: Fri 10, Sat 11, Sun 12, Mon 13, Tue 14.


def tokyo(day: int, hour: int, minute: int = 0, month: int = 7) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (tokyo(10, 15), 1, tokyo(13, 15)),  # Fri 15:00 + 1 -> Mon 15:00
        (tokyo(9, 9, 30), 1, tokyo(10, 9, 30)),  # Thu -> Fri
        (tokyo(9, 9, 30), 3, tokyo(14, 9, 30)),  # Thu + 3 -> Tue
        (tokyo(11, 10), 1, tokyo(14, 0)),  # Sat 10:00 + 1 -> Tue 00:00
        (tokyo(12, 23, 59), 1, tokyo(14, 0)),  # Sun late + 1 -> Tue 00:00
        (tokyo(11, 10), 0, tokyo(13, 0)),  # Sat + 0 -> Mon 00:00
        (tokyo(10, 15), 0, tokyo(10, 15)),  # business day + 0 -> the start itself
        (tokyo(10, 15), 5, tokyo(17, 15)),  # a whole working week
    ],
)
def test_add_business_days_counts_whole_business_days(
    start: datetime, days: int, due: datetime
) -> None:
    result = JAPAN.add_business_days(start, days)
    assert result == due
    assert result.tzinfo is TOKYO


def test_a_holiday_on_the_way_is_skipped() -> None:
    calendar = BusinessCalendar(TOKYO, holidays=frozenset({date(2026, 7, 20)}))  # Marine Day, Mon
    assert calendar.add_business_days(tokyo(17, 11), 1) == tokyo(21, 11)
    assert calendar.add_business_days(tokyo(20, 11), 0) == tokyo(21, 0)
    assert calendar.add_business_days(tokyo(20, 11), 1) == tokyo(22, 0)


def test_a_long_run_of_holidays_is_crossed() -> None:
    closed = frozenset(date(2026, 8, 1) + timedelta(days=n) for n in range(31))
    calendar = BusinessCalendar(TOKYO, holidays=closed)
    assert calendar.add_business_days(tokyo(31, 12), 1) == tokyo(1, 12, month=9)


def test_days_are_the_calendars_days_whatever_zone_the_start_is_in() -> None:
    friday_evening_utc = datetime(
        2026, 7, 10, 20, 0, tzinfo=UTC
    )  # Fri 22:00 Berlin, Sat 05:00 Tokyo
    in_tokyo = JAPAN.add_business_days(friday_evening_utc, 1)
    assert in_tokyo == tokyo(14, 0)
    assert in_tokyo.tzinfo is TOKYO
    in_berlin = BusinessCalendar(BERLIN).add_business_days(friday_evening_utc, 1)
    assert in_berlin == datetime(2026, 7, 13, 22, 0, tzinfo=BERLIN)
    assert in_berlin.tzinfo is BERLIN
    assert JAPAN.add_business_days(datetime(2026, 7, 10, 6, 0, tzinfo=UTC), 0) == tokyo(10, 15)


def test_wrapping_workdays_with_a_weekend_on_friday_and_saturday() -> None:
    calendar = BusinessCalendar(TOKYO, workdays=parse_workdays("sun-thu"))
    assert calendar.add_business_days(tokyo(9, 12), 1) == tokyo(12, 12)  # Thu -> Sun
    assert calendar.add_business_days(tokyo(10, 12), 1) == tokyo(13, 0)  # Fri -> Mon 00:00
    assert calendar.is_business_day(date(2026, 7, 12))
    assert not calendar.is_business_day(date(2026, 7, 11))


def test_is_business_day() -> None:
    calendar = BusinessCalendar(TOKYO, holidays=frozenset({date(2026, 7, 20)}))
    assert [calendar.is_business_day(date(2026, 7, d)) for d in range(17, 22)] == [
        True,  # Fri
        False,  # Sat
        False,  # Sun
        False,  # Mon, a holiday
        True,  # Tue
    ]


def test_next_business_day_is_strictly_after() -> None:
    assert JAPAN.next_business_day(date(2026, 7, 10)) == date(2026, 7, 13)
    assert JAPAN.next_business_day(date(2026, 7, 13)) == date(2026, 7, 14)


@pytest.mark.parametrize(
    ("workdays", "field"), [(frozenset(), "workdays"), (frozenset({0, 7}), "workdays")]
)
def test_a_calendar_without_valid_workdays_cannot_exist(
    workdays: frozenset[int], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        BusinessCalendar(TOKYO, workdays=workdays)
    assert set(caught.value.problems) == {field}


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        JAPAN.add_business_days(datetime(2026, 7, 10, 15, 0), 1)
    assert set(caught.value.problems) == {"start"}


def test_a_negative_number_of_days_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        JAPAN.add_business_days(tokyo(10, 15), -1)
    assert set(caught.value.problems) == {"days"}


# Daylight saving time. Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST (a Sunday),
# 2026-10-25 03:00 CEST -> 02:00 CET. America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT.


def test_the_wall_time_is_kept_across_a_dst_change() -> None:
    calendar = BusinessCalendar(BERLIN)
    friday = datetime(2026, 3, 27, 9, 0, tzinfo=BERLIN)
    due = calendar.add_business_days(friday, 1)
    assert (due.year, due.month, due.day, due.hour, due.minute) == (2026, 3, 30, 9, 0)
    assert due.utcoffset() == timedelta(hours=2)
    assert due.astimezone(UTC) - friday.astimezone(UTC) == timedelta(hours=71)


@pytest.mark.parametrize(
    ("zone", "start", "expected_utc"),
    [
        (BERLIN, datetime(2026, 3, 28, 2, 30), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        (NEW_YORK, datetime(2026, 3, 7, 2, 30), datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        (NEW_YORK, datetime(2026, 3, 7, 2, 0), datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        (NEW_YORK, datetime(2026, 3, 7, 1, 59), datetime(2026, 3, 8, 6, 59, tzinfo=UTC)),
    ],
)
def test_a_wall_time_in_a_dst_gap_becomes_the_next_valid_instant(
    zone: ZoneInfo, start: datetime, expected_utc: datetime
) -> None:
    calendar = BusinessCalendar(zone, workdays=EVERY_DAY)
    due = calendar.add_business_days(start.replace(tzinfo=zone), 1)
    assert due.astimezone(UTC) == expected_utc
    assert due.tzinfo is zone


def test_a_midnight_that_does_not_exist_becomes_the_next_valid_instant() -> None:
    # America/Santiago jumps from 24:00 to 01:00: 2026-09-06 00:00 does not exist there.
    santiago = ZoneInfo("America/Santiago")
    calendar = BusinessCalendar(santiago, workdays=frozenset({6}))  # Sundays only
    due = calendar.add_business_days(datetime(2026, 9, 5, 10, 0, tzinfo=santiago), 0)
    assert due.astimezone(UTC) == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert (due.day, due.hour, due.minute) == (6, 1, 0)


def test_a_wall_time_that_occurs_twice_resolves_to_the_first_occurrence() -> None:
    calendar = BusinessCalendar(BERLIN, workdays=EVERY_DAY)
    due = calendar.add_business_days(datetime(2026, 10, 24, 2, 30, tzinfo=BERLIN), 1)
    assert due.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_zero_days_keeps_a_start_in_the_repeated_hour_exactly() -> None:
    calendar = BusinessCalendar(BERLIN, workdays=EVERY_DAY)
    second_0230 = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, fold=1
    assert calendar.add_business_days(second_0230, 0).astimezone(UTC) == second_0230


# business_days_between


def test_between_a_start_and_its_due_date_is_the_number_of_days_added() -> None:
    holidays = frozenset({date(2026, 7, 20), date(2026, 8, 11)})
    calendar = BusinessCalendar(TOKYO, holidays=holidays)
    for start_day in range(6, 25):
        start = tokyo(start_day, 13, 45)
        if not calendar.is_business_day(start.date()):
            continue
        for days in (0, 1, 2, 7, 30):
            due = calendar.add_business_days(start, days)
            assert calendar.business_days_between(start, due) == pytest.approx(days)


def test_between_counts_partial_business_days_and_skips_the_weekend() -> None:
    assert JAPAN.business_days_between(tokyo(10, 12), tokyo(10, 18)) == pytest.approx(0.25)
    assert JAPAN.business_days_between(tokyo(10, 12), tokyo(13, 12)) == pytest.approx(1.0)
    assert JAPAN.business_days_between(tokyo(11, 0), tokyo(13, 0)) == 0.0
    assert JAPAN.business_days_between(tokyo(11, 9), tokyo(13, 6)) == pytest.approx(0.25)
    assert JAPAN.business_days_between(tokyo(13, 12), tokyo(10, 12)) == pytest.approx(-1.0)
    assert JAPAN.business_days_between(tokyo(10, 12), tokyo(10, 12)) == 0.0


def test_between_instants_in_other_zones_uses_the_calendars_days() -> None:
    start = datetime(2026, 7, 10, 3, 0, tzinfo=UTC)  # Fri 12:00 in Tokyo
    end = datetime(2026, 7, 12, 15, 0, tzinfo=UTC)  # Mon 00:00 in Tokyo
    assert JAPAN.business_days_between(start, end) == pytest.approx(0.5)


def test_a_business_day_with_a_dst_change_counts_as_one_day() -> None:
    calendar = BusinessCalendar(BERLIN, workdays=EVERY_DAY)
    sunday = datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)
    monday = datetime(2026, 3, 30, 0, 0, tzinfo=BERLIN)
    assert monday.astimezone(UTC) - sunday.astimezone(UTC) == timedelta(hours=23)
    assert calendar.business_days_between(sunday, monday) == pytest.approx(1.0)
    after_the_jump = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST, 11.5 h in
    assert calendar.business_days_between(sunday, after_the_jump) == pytest.approx(2.5 / 23)


def test_between_over_years_matches_counting_day_by_day() -> None:
    holidays = parse_holidays("2026-01-01 2026-01-02 2026-05-04 2026-05-05 2026-12-31 2027-01-01")
    calendar = BusinessCalendar(TOKYO, workdays=parse_workdays("mon-fri"), holidays=holidays)
    start, end = tokyo(1, 0, month=1), datetime(2028, 3, 15, 0, 0, tzinfo=TOKYO)
    expected = sum(
        calendar.is_business_day(date(2026, 1, 1) + timedelta(days=n))
        for n in range((end.date() - start.date()).days)
    )
    assert calendar.business_days_between(start, end) == pytest.approx(expected)
    assert expected == 261 + 261 + 52 - 6  # weekdays in 2026, 2027, 1 Jan-14 Mar 2028; holidays


def test_between_refuses_naive_datetimes() -> None:
    with pytest.raises(InvalidInput) as caught:
        JAPAN.business_days_between(tokyo(10, 12), datetime(2026, 7, 13))
    assert set(caught.value.problems) == {"end"}


# Parsing


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("Mon - Fri", {0, 1, 2, 3, 4}),
        ("mon,tue,wed", {0, 1, 2}),
        ("mon, tue  wed", {0, 1, 2}),
        ("sun-thu", {6, 0, 1, 2, 3}),
        ("fri-mon", {4, 5, 6, 0}),
        ("sat", {5}),
        ("wed-wed", {2}),
        ("MONDAY-Friday", {0, 1, 2, 3, 4}),
        ("mon-wed,fri", {0, 1, 2, 4}),
        ("mon,mon", {0}),
    ],
)
def test_parse_workdays(text: str, days: set[int]) -> None:
    assert parse_workdays(text) == frozenset(days)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "at least one"),
        (" , ", "at least one"),
        ("funday", "'funday'"),
        ("mon-", "'mon-'"),
        ("mon-fri-sat", "'mon-fri-sat'"),
        ("1-5", "'1-5'"),
        ("mo-fr", "'mo-fr'"),
    ],
)
def test_parse_workdays_refuses_with_a_clear_message(text: str, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_workdays(text)
    assert set(caught.value.problems) == {"workdays"}
    assert named in caught.value.message


def test_parse_holidays_reads_a_file() -> None:
    text = """# Japanese public holidays, 2026/2027
2026-12-31, 2027-01-01
2027-01-02 2027-01-11   # Coming of Age Day
   # indented comment
\t2027-02-11,2027-02-23
"""
    assert parse_holidays(text) == frozenset(
        {
            date(2026, 12, 31),
            date(2027, 1, 1),
            date(2027, 1, 2),
            date(2027, 1, 11),
            date(2027, 2, 11),
            date(2027, 2, 23),
        }
    )


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing yet\n", " , "])
def test_parse_holidays_accepts_no_holidays(text: str) -> None:
    assert parse_holidays(text) == frozenset()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-02-30", "line 1: '2026-02-30'"),
        ("2026-12-31\n20270101", "line 2: '20270101'"),
        ("2027-W01-1", "'2027-W01-1'"),
        ("31/12/2026", "'31/12/2026'"),
        ("2026-12-31;2027-01-01", "'2026-12-31;2027-01-01'"),
        ("new-year", "'new-year'"),
    ],
)
def test_parse_holidays_names_the_bad_token(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_holidays(text)
    assert set(caught.value.problems) == {"holidays"}
    assert message in caught.value.message


def test_parse_holidays_does_not_echo_a_long_token_in_full() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_holidays("x" * 5000)
    assert len(caught.value.message) < 200


# SLA status

DUE = tokyo(13, 15)


@pytest.mark.parametrize(
    ("met_at", "now", "overdue", "late_by"),
    [
        (None, tokyo(13, 14), False, None),  # open, not yet due
        (None, DUE, False, None),  # open, due this instant: not late yet
        (None, tokyo(14, 9), True, timedelta(hours=18)),  # open and past due
        (tokyo(13, 9), tokyo(20, 0), False, None),  # met on time, long ago
        (DUE, tokyo(20, 0), False, None),  # met at the very deadline
        (tokyo(13, 16, 30), tokyo(13, 17), False, timedelta(minutes=90)),  # met late
    ],
)
def test_sla_status(
    met_at: datetime | None, now: datetime, overdue: bool, late_by: timedelta | None
) -> None:
    status = sla_status(DUE, met_at, now)
    assert status == SlaStatus(DUE, met_at, overdue, late_by)
    assert status.breached is (late_by is not None)


def test_sla_status_compares_instants_not_wall_times() -> None:
    due = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)  # first 02:30, CEST
    now = datetime(2026, 10, 25, 2, 10, tzinfo=BERLIN, fold=1)  # second 02:10, CET: 40 min later
    status = sla_status(due, None, now)
    assert status.overdue
    assert status.late_by == timedelta(minutes=40)
    in_utc = sla_status(DUE, None, datetime(2026, 7, 13, 6, 30, tzinfo=UTC))  # 15:30 in Tokyo
    assert in_utc.late_by == timedelta(minutes=30)


@pytest.mark.parametrize("field", ["due", "met_at", "now"])
def test_sla_status_refuses_naive_datetimes(field: str) -> None:
    values: dict[str, datetime] = {"due": DUE, "met_at": tokyo(13, 9), "now": tokyo(14, 9)}
    values[field] = values[field].replace(tzinfo=None)
    with pytest.raises(InvalidInput) as caught:
        sla_status(values["due"], values["met_at"], values["now"])
    assert set(caught.value.problems) == {field}
