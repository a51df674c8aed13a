"""The release calendar: which day, which instants (across DST), upcoming trains, parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mamori.core.calendar import (
    Train,
    TrainRule,
    open_train,
    parse_rule,
    release_day,
    train_for_month,
    upcoming,
)
from mamori.core.sla import BusinessCalendar
from mamori.errors import ConfigurationError, InvalidInput

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_UTC = BusinessCalendar(ZoneInfo("UTC"))
PATCH_TUESDAY = TrainRule()

# Second Tuesdays, worked out by hand from printed calendars (and cross-checked once with
# ``calendar.monthcalendar``), not from the code under test.
SECOND_TUESDAYS = {
    2026: (13, 10, 10, 14, 12, 9, 14, 11, 8, 13, 10, 8),
    2027: (12, 9, 9, 13, 11, 8, 13, 10, 14, 12, 9, 14),
}
LAST_FRIDAYS_2026 = (30, 27, 27, 24, 29, 26, 31, 28, 25, 30, 27, 25)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize("year", sorted(SECOND_TUESDAYS))
def test_default_rule_is_the_second_tuesday(year: int) -> None:
    days = [release_day(PATCH_TUESDAY, year, month) for month in range(1, 13)]
    assert days == [date(year, m, d) for m, d in enumerate(SECOND_TUESDAYS[year], start=1)]


def test_last_weekday_of_the_month() -> None:
    rule = TrainRule(weekday=4, week=-1)
    days = [release_day(rule, 2026, month) for month in range(1, 13)]
    assert days == [date(2026, m, d) for m, d in enumerate(LAST_FRIDAYS_2026, start=1)]


def test_last_differs_from_fourth_in_a_month_with_five() -> None:
    # July 2026 has five Fridays: 3, 10, 17, 24, 31.
    assert release_day(TrainRule(weekday=4, week=4), 2026, 7) == date(2026, 7, 24)
    assert release_day(TrainRule(weekday=4, week=-1), 2026, 7) == date(2026, 7, 31)


def test_first_weekday_on_the_first_of_the_month() -> None:
    # 2026-09-01 is a Tuesday.
    assert release_day(TrainRule(week=1), 2026, 9) == date(2026, 9, 1)
    assert release_day(TrainRule(week=4), 2026, 9) == date(2026, 9, 22)


def test_default_train_in_utc() -> None:
    train = train_for_month(PATCH_TUESDAY, 2026, 12, WEEKDAYS_UTC)
    assert train == Train(
        name="2026-12",
        release_at=utc(2026, 12, 8, 10),
        cutoff_at=utc(2026, 12, 1, 10),
        notify_at=utc(2026, 12, 3, 10),  # Tue 8 - 3 business days: Mon 7, Fri 4, Thu 3
    )


def test_new_york_keeps_local_time_across_dst() -> None:
    rule = TrainRule(zone=NEW_YORK)
    march = train_for_month(rule, 2026, 3, WEEKDAYS_UTC)  # Tue 10 March, DST since Sun 8 March
    november = train_for_month(rule, 2026, 11, WEEKDAYS_UTC)  # Tue 10 Nov, EST since Sun 1 Nov
    assert march.release_at == utc(2026, 3, 10, 14)  # 10:00 EDT (UTC-4)
    assert november.release_at == utc(2026, 11, 10, 15)  # 10:00 EST (UTC-5)
    for train in (march, november):
        local = train.release_at.astimezone(NEW_YORK)
        assert (local.date().day, local.time()) == (10, time(10, 0))
    assert march.release_at.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-4)
    assert november.release_at.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-5)


def test_cutoff_before_the_dst_change_is_same_local_time_not_whole_days() -> None:
    march = train_for_month(TrainRule(zone=NEW_YORK), 2026, 3, WEEKDAYS_UTC)
    assert march.cutoff_at == utc(2026, 3, 3, 15)  # Tue 3 March 10:00 EST
    assert march.release_at - march.cutoff_at == timedelta(days=6, hours=23)


def test_tokyo() -> None:
    rule = TrainRule(zone=TOKYO)
    train = train_for_month(rule, 2026, 7, BusinessCalendar(TOKYO))
    assert train.release_at == utc(2026, 7, 14, 1)  # 10:00 JST (UTC+9)
    assert train.cutoff_at == utc(2026, 7, 7, 1)
    assert train.notify_at == utc(2026, 7, 9, 1)  # Thu 9 July


def test_tokyo_release_early_in_the_morning_is_the_previous_utc_day() -> None:
    train = train_for_month(TrainRule(zone=TOKYO, at=time(8, 0)), 2026, 7, WEEKDAYS_UTC)
    assert train.release_at == utc(2026, 7, 13, 23)


def test_nonexistent_local_time_resolves_to_the_moment_of_the_jump() -> None:
    # Second Sunday of March 2026 (the 8th) at 02:30 in New York: clocks jump 02:00 -> 03:00.
    rule = TrainRule(weekday=6, week=2, at=time(2, 30), zone=NEW_YORK, notice_days=0)
    train = train_for_month(rule, 2026, 3, WEEKDAYS_UTC)
    assert train.release_at == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert train.release_at.astimezone(NEW_YORK).time() == time(3, 0)
    assert train.notify_at == train.release_at
    assert train.cutoff_at == utc(2026, 3, 1, 7, 30)  # Sun 1 March 02:30 EST exists


def test_ambiguous_local_time_is_its_first_occurrence() -> None:
    # First Sunday of November 2026 (the 1st) at 01:30 in New York happens twice.
    rule = TrainRule(weekday=6, week=1, at=time(1, 30), zone=NEW_YORK)
    train = train_for_month(rule, 2026, 11, WEEKDAYS_UTC)
    assert train.release_at == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, not 06:30 UTC (EST)


@pytest.mark.parametrize(
    ("holidays", "notice_days", "notify_day"),
    [
        (frozenset(), 1, date(2026, 7, 13)),  # Tue 14 -> Mon 13
        (frozenset(), 2, date(2026, 7, 10)),  # -> Fri 10, over the weekend
        (frozenset(), 3, date(2026, 7, 9)),  # -> Thu 9
        (frozenset({date(2026, 7, 10)}), 3, date(2026, 7, 8)),  # Fri 10 a holiday -> Wed 8
        (frozenset({date(2026, 7, 13)}), 1, date(2026, 7, 10)),  # Mon 13 a holiday -> Fri 10
        (frozenset({date(2026, 7, 14)}), 1, date(2026, 7, 13)),  # a holiday release day counts 0
        (frozenset(), 0, date(2026, 7, 14)),  # zero: the release day itself
    ],
)
def test_notification_counts_business_days(
    holidays: frozenset[date], notice_days: int, notify_day: date
) -> None:
    business = BusinessCalendar(TOKYO, holidays=holidays)
    train = train_for_month(TrainRule(zone=TOKYO, notice_days=notice_days), 2026, 7, business)
    notify = train.notify_at.astimezone(TOKYO)
    assert (notify.date(), notify.time()) == (notify_day, time(10, 0))


def test_notification_on_a_weekend_release_skips_back_to_friday() -> None:
    rule = TrainRule(weekday=5, week=2, notice_days=1)  # Sat 11 July 2026
    train = train_for_month(rule, 2026, 7, WEEKDAYS_UTC)
    assert train.notify_at == utc(2026, 7, 10, 10)


def test_freeze_crosses_into_the_previous_month_and_year() -> None:
    rule = TrainRule(week=1)
    september = train_for_month(rule, 2026, 9, WEEKDAYS_UTC)  # Tue 1 September
    january = train_for_month(rule, 2027, 1, WEEKDAYS_UTC)  # Tue 5 January
    assert september.cutoff_at == utc(2026, 8, 25, 10)
    assert january.cutoff_at == utc(2026, 12, 29, 10)
    assert january.notify_at == utc(2026, 12, 31, 10)  # Mon 4, Fri 1, Thu 31 Dec
    assert january.name == "2027-01"


def test_upcoming_is_twelve_consecutive_months_from_the_next_release() -> None:
    trains = upcoming(PATCH_TUESDAY, utc(2026, 7, 1), WEEKDAYS_UTC)
    assert [train.name for train in trains] == [
        "2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12",
        "2027-01", "2027-02", "2027-03", "2027-04", "2027-05", "2027-06",
    ]  # fmt: skip
    assert trains[0].release_at == utc(2026, 7, 14, 10)
    assert trains[-1].release_at == utc(2027, 6, 8, 10)


def test_upcoming_excludes_a_train_already_released() -> None:
    released = utc(2026, 7, 14, 10)
    at_release = upcoming(PATCH_TUESDAY, released, WEEKDAYS_UTC)
    just_before = upcoming(PATCH_TUESDAY, released - timedelta(microseconds=1), WEEKDAYS_UTC)
    assert len(at_release) == 12
    assert at_release[0].name == "2026-08"
    assert at_release[-1].name == "2027-07"
    assert just_before[0].name == "2026-07"


def test_upcoming_uses_the_month_in_the_rules_zone() -> None:
    # 2026-07-31 20:00 UTC is already 1 August in Tokyo.
    trains = upcoming(TrainRule(zone=TOKYO), utc(2026, 7, 31, 20), WEEKDAYS_UTC, months=2)
    assert [train.name for train in trains] == ["2026-08", "2026-09"]


def test_upcoming_other_counts_and_refusals() -> None:
    assert upcoming(PATCH_TUESDAY, utc(2026, 7, 1), WEEKDAYS_UTC, months=0) == []
    assert len(upcoming(PATCH_TUESDAY, utc(2026, 7, 1), WEEKDAYS_UTC, months=30)) == 30
    with pytest.raises(InvalidInput, match="after"):
        upcoming(PATCH_TUESDAY, datetime(2026, 7, 1), WEEKDAYS_UTC)
    with pytest.raises(InvalidInput, match="months"):
        upcoming(PATCH_TUESDAY, utc(2026, 7, 1), WEEKDAYS_UTC, months=-1)


def test_open_train_cutoff_boundary() -> None:
    trains = upcoming(PATCH_TUESDAY, utc(2026, 7, 1), WEEKDAYS_UTC, months=3)
    july, august = trains[0], trains[1]
    assert july.cutoff_at == utc(2026, 7, 7, 10)
    assert open_train(trains, utc(2026, 7, 1)) == july
    assert open_train(trains, july.cutoff_at - timedelta(microseconds=1)) == july
    assert open_train(trains, july.cutoff_at) == august  # exactly at the cut-off: frozen
    assert open_train(trains, july.cutoff_at.astimezone(TOKYO)) == august
    assert open_train(list(reversed(trains)), utc(2026, 7, 1)) == july
    assert open_train(trains, trains[-1].cutoff_at) is None
    assert open_train([], utc(2026, 7, 1)) is None
    with pytest.raises(InvalidInput, match="now"):
        open_train(trains, datetime(2026, 7, 1))


def test_release_day_refuses_a_bad_month() -> None:
    with pytest.raises(InvalidInput, match="month"):
        release_day(PATCH_TUESDAY, 2026, 13)
    with pytest.raises(InvalidInput, match="year"):
        release_day(PATCH_TUESDAY, 0, 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weekday": 7}, "weekday"),
        ({"weekday": -1}, "weekday"),
        ({"weekday": True}, "weekday"),
        ({"week": 0}, "week"),
        ({"week": 5}, "week"),
        ({"week": -2}, "week"),
        ({"at": time(10, 0, tzinfo=UTC)}, "local time"),
        ({"zone": "UTC"}, "ZoneInfo"),
        ({"freeze_days": -1}, "freeze_days"),
        ({"freeze_days": 91}, "freeze_days"),
        ({"notice_days": -1}, "notice_days"),
        ({"notice_days": 61}, "notice_days"),
    ],
)
def test_rule_refuses_nonsense(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TrainRule(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "2026-13"}, "name"),
        ({"name": "July"}, "name"),
        ({"release_at": datetime(2026, 7, 14, 10)}, "release_at"),
        ({"notify_at": datetime(2026, 7, 9, 19, tzinfo=TOKYO)}, "notify_at"),
        ({"cutoff_at": utc(2026, 7, 15)}, "cutoff_at"),
        ({"notify_at": utc(2026, 7, 15)}, "notify_at"),
    ],
)
def test_train_refuses_nonsense(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "name": "2026-07",
        "release_at": utc(2026, 7, 14, 10),
        "cutoff_at": utc(2026, 7, 7, 10),
        "notify_at": utc(2026, 7, 9, 10),
    }
    Train(**values)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as caught:
        Train(**(values | changes))  # type: ignore[arg-type]
    assert field in caught.value.problems


DEFAULT_TEXT = {
    "weekday": "tuesday",
    "week": "2",
    "at": "10:00",
    "zone": "UTC",
    "freeze_days": "7",
    "notice_days": "3",
}


def test_parse_the_defaults() -> None:
    assert parse_rule(**DEFAULT_TEXT) == TrainRule()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"weekday": "Tue"}, {}),
        ({"weekday": " TUESDAY "}, {}),
        ({"weekday": "1"}, {}),
        ({"weekday": "sun"}, {"weekday": 6}),
        ({"weekday": "0"}, {"weekday": 0}),
        ({"week": "last"}, {"week": -1}),
        ({"week": "LAST"}, {"week": -1}),
        ({"week": "-1"}, {"week": -1}),
        ({"week": "4"}, {"week": 4}),
        ({"at": "9:05"}, {"at": time(9, 5)}),
        ({"at": "23:59"}, {"at": time(23, 59)}),
        ({"at": "00:00"}, {"at": time(0, 0)}),
        ({"zone": "Asia/Tokyo"}, {"zone": TOKYO}),
        ({"freeze_days": "0", "notice_days": "0"}, {"freeze_days": 0, "notice_days": 0}),
        ({"freeze_days": "90", "notice_days": "60"}, {"freeze_days": 90, "notice_days": 60}),
    ],
)
def test_parse_accepts(changes: dict[str, str], expected: dict[str, object]) -> None:
    assert parse_rule(**(DEFAULT_TEXT | changes)) == TrainRule(**expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("weekday", "funday", "MAMORI_RELEASE_WEEKDAY"),
        ("weekday", "7", "MAMORI_RELEASE_WEEKDAY"),
        ("weekday", "-1", "MAMORI_RELEASE_WEEKDAY"),
        ("weekday", "", "MAMORI_RELEASE_WEEKDAY"),
        ("weekday", "tues", "MAMORI_RELEASE_WEEKDAY"),
        ("week", "0", "MAMORI_RELEASE_WEEK"),
        ("week", "5", "MAMORI_RELEASE_WEEK"),
        ("week", "second", "MAMORI_RELEASE_WEEK"),
        ("week", "-2", "MAMORI_RELEASE_WEEK"),
        ("week", "", "MAMORI_RELEASE_WEEK"),
        ("at", "24:00", "MAMORI_RELEASE_TIME"),
        ("at", "10:60", "MAMORI_RELEASE_TIME"),
        ("at", "10", "MAMORI_RELEASE_TIME"),
        ("at", "10:00:00", "MAMORI_RELEASE_TIME"),
        ("at", "10:0", "MAMORI_RELEASE_TIME"),
        ("at", "ten", "MAMORI_RELEASE_TIME"),
        ("at", "١٠:٠٠", "MAMORI_RELEASE_TIME"),  # Arabic-Indic digits
        ("zone", "Mars/Olympus_Mons", "MAMORI_RELEASE_TIME_ZONE"),
        ("zone", "", "MAMORI_RELEASE_TIME_ZONE"),
        ("zone", "../../etc/passwd", "MAMORI_RELEASE_TIME_ZONE"),
        ("zone", "/etc/localtime", "MAMORI_RELEASE_TIME_ZONE"),
        ("freeze_days", "-1", "MAMORI_CODE_FREEZE_DAYS"),
        ("freeze_days", "seven", "MAMORI_CODE_FREEZE_DAYS"),
        ("freeze_days", "1.5", "MAMORI_CODE_FREEZE_DAYS"),
        ("freeze_days", "91", "MAMORI_CODE_FREEZE_DAYS"),
        ("freeze_days", "", "MAMORI_CODE_FREEZE_DAYS"),
        ("notice_days", "61", "MAMORI_ADVANCE_NOTICE_DAYS"),
        ("notice_days", "x", "MAMORI_ADVANCE_NOTICE_DAYS"),
        ("notice_days", "99999999999", "MAMORI_ADVANCE_NOTICE_DAYS"),
    ],
)
def test_parse_errors_name_the_variable_and_value(field: str, value: str, variable: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_rule(**(DEFAULT_TEXT | {field: value}))
    assert caught.value.message.startswith(f"{variable} must be ")
    assert repr(value) in caught.value.message
