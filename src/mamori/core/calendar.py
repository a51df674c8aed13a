"""The release calendar: monthly security release trains ("Patch Tuesday").

A ``TrainRule`` names one day a month and a local time: by default the second Tuesday at 10:00.
Each month's ``Train`` has three instants, all returned aware and in UTC:

- **release** — the rule's weekday and week of the month, at ``at`` on the wall clock of ``zone``;
- **code-freeze cut-off** — ``freeze_days`` calendar days before the release day, at the same
  local time (so across a DST change it is not a whole number of 24-hour days before);
- **advance notification** — ``notice_days`` business days before the release day, at the same
  local time. Business days are judged by ``BusinessCalendar.is_business_day`` on the release
  zone's calendar dates (the business calendar's own zone is not consulted: only its workdays and
  holidays). Zero means the release day itself.

**Daylight saving time.** Times are local wall-clock times, resolved by the same rule as the SLA
timers (``mamori.core.sla``): a wall time that does not exist because the clocks jump over it
resolves to the moment of the jump, the first instant at which the local clock reads at least that
time (New York 02:30 on the spring-forward Sunday -> 03:00 EDT); a wall time that occurs twice
because the clocks go back is its first occurrence (``fold=0``, New York 01:30 on the fall-back
Sunday -> 01:30 EDT). So an instant is never earlier than the wall time it names.

A train is *released* from ``release_at`` on and *frozen* from ``cutoff_at`` on: both boundaries
belong to the later state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mamori.core.sla import (
    BusinessCalendar,
    resolve_wall_time,  # the one DST rule of the project
)
from mamori.errors import ConfigurationError, InvalidInput

#: Bounds on the configured offsets: generous for any real process, and they keep the date
#: arithmetic far from overflow.
MAX_FREEZE_DAYS = 90
MAX_NOTICE_DAYS = 60

_UTC_ZONE = ZoneInfo("UTC")
_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_SHORT_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = {
    name: number for names in (_SHORT_NAMES, _FULL_NAMES) for number, name in enumerate(names)
}
_WEEKS = (1, 2, 3, 4, -1)
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,6}", re.ASCII)
_TRAIN_NAME = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)


@dataclass(frozen=True)
class TrainRule:
    """When the monthly release happens; ``ConfigurationError`` for a rule that makes no sense.

    ``weekday``: Monday 0 ... Sunday 6. ``week``: 1 to 4, or -1 for the last such weekday of the
    month. ``at``: a naive local time in ``zone``.
    """

    weekday: int = 1
    week: int = 2
    at: time = time(10, 0)
    zone: ZoneInfo = _UTC_ZONE
    freeze_days: int = 7
    notice_days: int = 3

    def __post_init__(self) -> None:
        problem = _rule_problem(self)
        if problem:
            raise ConfigurationError(f"release calendar: {problem}")


def _rule_problem(rule: TrainRule) -> str:
    if not _is_int(rule.weekday) or not 0 <= rule.weekday <= 6:
        return f"weekday must be 0 (Monday) to 6 (Sunday), not {rule.weekday!r}"
    if not _is_int(rule.week) or rule.week not in _WEEKS:
        return f"week must be 1, 2, 3, 4 or -1 (the last), not {rule.week!r}"
    if not isinstance(rule.at, time) or rule.at.tzinfo is not None:
        return f"the release time must be a local time without a time zone, not {rule.at!r}"
    if not isinstance(rule.zone, ZoneInfo):
        return f"the time zone must be a ZoneInfo, not {rule.zone!r}"
    if not _is_int(rule.freeze_days) or not 0 <= rule.freeze_days <= MAX_FREEZE_DAYS:
        return f"freeze_days must be 0 to {MAX_FREEZE_DAYS}, not {rule.freeze_days!r}"
    if not _is_int(rule.notice_days) or not 0 <= rule.notice_days <= MAX_NOTICE_DAYS:
        return f"notice_days must be 0 to {MAX_NOTICE_DAYS}, not {rule.notice_days!r}"
    return ""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Train:
    """One month's release: its name (``"2026-12"``) and three aware UTC instants. The cut-off and
    the notification (in either order) are never after the release."""

    name: str
    release_at: datetime
    cutoff_at: datetime
    notify_at: datetime

    def __post_init__(self) -> None:
        if not _TRAIN_NAME.fullmatch(self.name):
            raise InvalidInput(f"{self.name[:40]!r} is not a month (YYYY-MM)", field="name")
        for field in ("release_at", "cutoff_at", "notify_at"):
            moment: datetime = getattr(self, field)
            if moment.tzinfo is None or moment.utcoffset() != _ZERO:
                raise InvalidInput("must be an aware datetime in UTC", field=field)
        if self.cutoff_at > self.release_at:
            raise InvalidInput("the cut-off comes after the release", field="cutoff_at")
        if self.notify_at > self.release_at:
            raise InvalidInput("the notification comes after the release", field="notify_at")


def release_day(rule: TrainRule, year: int, month: int) -> date:
    """The date of the release in ``year``-``month`` (local to the rule's zone)."""
    if not 1 <= month <= 12:
        raise InvalidInput(f"must be 1 to 12, not {month}", field="month")
    if not MINYEAR < year < MAXYEAR:
        raise InvalidInput(f"must be {MINYEAR + 1} to {MAXYEAR - 1}, not {year}", field="year")
    if rule.week == -1:
        last = date(year + month // 12, month % 12 + 1, 1) - _DAY
        return last - timedelta(days=(last.weekday() - rule.weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(rule.weekday - first.weekday()) % 7 + 7 * (rule.week - 1))


def train_for_month(rule: TrainRule, year: int, month: int, business: BusinessCalendar) -> Train:
    """The train released in ``year``-``month``, by the rules in the module docstring."""
    day = release_day(rule, year, month)
    notice_day = day
    for _ in range(rule.notice_days):
        notice_day -= _DAY
        while not business.is_business_day(notice_day):  # ends: workdays are never empty
            notice_day -= _DAY
    return Train(
        name=f"{year:04d}-{month:02d}",
        release_at=_instant(rule, day),
        cutoff_at=_instant(rule, day - timedelta(days=rule.freeze_days)),
        notify_at=_instant(rule, notice_day),
    )


def upcoming(
    rule: TrainRule, after: datetime, business: BusinessCalendar, months: int = 12
) -> list[Train]:
    """The next ``months`` trains of consecutive months whose release is strictly after ``after``.

    A train released exactly at ``after`` is already out, so it is not listed.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise InvalidInput("needs a time zone (an aware datetime)", field="after")
    if months < 0:
        raise InvalidInput("must be zero or more", field="months")
    local = after.astimezone(rule.zone)
    year, month = local.year, local.month
    if train_for_month(rule, year, month, business).release_at <= after:
        year, month = _next_month(year, month)
    trains: list[Train] = []
    for _ in range(months):
        trains.append(train_for_month(rule, year, month, business))
        year, month = _next_month(year, month)
    return trains


def open_train(trains: Sequence[Train], now: datetime) -> Train | None:
    """The train still taking changes at ``now``: the earliest cut-off that has not passed.

    A cut-off has passed from the very instant it names on. ``None`` if every train is frozen.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput("needs a time zone (an aware datetime)", field="now")
    still_open = [train for train in trains if train.cutoff_at > now]
    return min(still_open, key=lambda train: train.cutoff_at, default=None)


def parse_rule(
    *, weekday: str, week: str, at: str, zone: str, freeze_days: str, notice_days: str
) -> TrainRule:
    """A rule from configuration text; ``ConfigurationError`` names the variable and the value.

    ``weekday``: a name (``tuesday``, ``Tue``) or 0 (Monday) to 6; ``week``: 1 to 4, ``last`` or
    -1; ``at``: ``HH:MM`` (24-hour); ``zone``: an IANA name; the day counts: whole numbers.
    Surrounding whitespace is ignored and names are case-insensitive.
    """
    return TrainRule(
        weekday=_parse_weekday(weekday),
        week=_parse_week(week),
        at=_parse_time(at),
        zone=_parse_zone(zone),
        freeze_days=_parse_days("MAMORI_CODE_FREEZE_DAYS", freeze_days, MAX_FREEZE_DAYS),
        notice_days=_parse_days("MAMORI_ADVANCE_NOTICE_DAYS", notice_days, MAX_NOTICE_DAYS),
    )


def _parse_weekday(text: str) -> int:
    token = text.strip().lower()
    if token in _WEEKDAYS:
        return _WEEKDAYS[token]
    if token in {"0", "1", "2", "3", "4", "5", "6"}:
        return int(token)
    raise _bad(
        "MAMORI_RELEASE_WEEKDAY", text, "a weekday name (tuesday, tue) or 0 (Monday) to 6 (Sunday)"
    )


def _parse_week(text: str) -> int:
    token = text.strip().lower()
    if token in {"last", "-1"}:
        return -1
    if token in {"1", "2", "3", "4"}:
        return int(token)
    raise _bad("MAMORI_RELEASE_WEEK", text, "1, 2, 3, 4 or last (-1)")


def _parse_time(text: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return time(int(match[1]), int(match[2]))
    raise _bad("MAMORI_RELEASE_TIME", text, "a 24-hour time HH:MM")


def _parse_zone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: empty, absolute or ``..`` keys
        raise _bad(
            "MAMORI_RELEASE_TIME_ZONE", text, "an IANA time zone such as Europe/Berlin"
        ) from None


def _parse_days(name: str, text: str, highest: int) -> int:
    token = text.strip()
    if _NUMBER.fullmatch(token) and int(token) <= highest:
        return int(token)
    raise _bad(name, text, f"a whole number of days from 0 to {highest}")


def _bad(name: str, value: str, expected: str) -> ConfigurationError:
    return ConfigurationError(f"{name} must be {expected}, not {value[:40]!r}")


def _instant(rule: TrainRule, day: date) -> datetime:
    return resolve_wall_time(day, rule.at, rule.zone).astimezone(UTC)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)
