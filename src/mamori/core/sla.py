"""A business calendar and the SLA timers that run on it.

Each case's first human response is due within N business days of receipt. The rules:

- **Business days.** A date is a business day when its weekday is one of ``workdays``
  (``date.weekday()``: Monday 0 ... Sunday 6; Monday-Friday by default) and it is not one of
  ``holidays``. Dates are dates in the calendar's time zone, whatever zone the input carries.
- **Aware only.** Every datetime given must be time-zone aware (``InvalidInput`` otherwise); every
  datetime returned is aware and in the calendar's zone.
- **Adding N business days** (N >= 0) counts whole business days:

  - received on a business day at wall time T: due at T on the N-th following business day
    (Fri 15:00 + 1 -> Mon 15:00; a holiday on the way is skipped; N = 0 -> the start itself);
  - received on a non-business day: counting starts at 00:00 of the next business day, which is
    the result for N = 0 (Sat 10:00 + 1 -> Tue 00:00 with Mon-Fri workdays).

- **Daylight saving time.** A wall time that does not exist (the clocks jump over it) resolves to
  the next valid instant: the first instant at which the local clock reads at least that time, i.e.
  the moment of the jump (Berlin 02:30 on the spring-forward day -> 03:00 CEST). A wall time that
  occurs twice (the clocks go back) resolves to its first occurrence. So a deadline is never
  earlier than the wall time it names.
- **Business days between** two instants is the business time elapsed from one to the other, in
  days: each whole business day counts 1.0 however long it is locally (23 or 25 hours on a DST
  change), a partial business day counts its elapsed share of that day's real length, other days
  count 0; negative when ``end`` is before ``start``. Between a start on a business day and
  ``add_business_days(start, n)`` it is ``n`` (exactly, when neither end falls on a DST-change day).
- **Termination.** An empty (or out-of-range) workday set is refused when the calendar is built, so
  the search for the next business day always ends: holidays are finite.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mamori.errors import InvalidInput

_DAY = timedelta(days=1)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NUMBERS = {
    name: number for names in (_WEEKDAYS, _FULL_NAMES) for number, name in enumerate(names)
}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


@dataclass(frozen=True)
class BusinessCalendar:
    """Working weekdays and holidays in one time zone; refuses an empty set of workdays."""

    time_zone: ZoneInfo
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.workdays:
            raise InvalidInput("at least one working weekday is needed", field="workdays")
        if not self.workdays <= set(range(7)):
            raise InvalidInput("weekdays are numbered 0 (Monday) to 6 (Sunday)", field="workdays")

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and day not in self.holidays

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after ``day``."""
        day += _DAY
        while not self.is_business_day(day):
            day += _DAY
        return day

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """``start`` plus ``days`` whole business days, by the rules in the module docstring."""
        if days < 0:
            raise InvalidInput("must be zero or more", field="days")
        local = _aware(start, "start").astimezone(self.time_zone)
        if self.is_business_day(local.date()):
            if days == 0:
                return local
            day, wall = local.date(), local.time()
        else:
            day, wall = self.next_business_day(local.date()), time(0)
        for _ in range(days):
            day = self.next_business_day(day)
        return resolve_wall_time(day, wall, self.time_zone)

    def business_days_between(self, start: datetime, end: datetime) -> float:
        """Business time from ``start`` to ``end`` in days (negative if ``end`` is earlier)."""
        start_utc = _aware(start, "start").astimezone(UTC)
        end_utc = _aware(end, "end").astimezone(UTC)
        if end_utc < start_utc:
            return -self.business_days_between(end_utc, start_utc)
        first = start_utc.astimezone(self.time_zone).date()
        last = end_utc.astimezone(self.time_zone).date()
        if first == last:
            return self._share_of_day(first, start_utc, end_utc)
        return (
            self._share_of_day(first, start_utc, self._day_start(first + _DAY))
            + self._count_business_days(first + _DAY, last)
            + self._share_of_day(last, self._day_start(last), end_utc)
        )

    def _day_start(self, day: date) -> datetime:
        return resolve_wall_time(day, time(0), self.time_zone)

    def _share_of_day(self, day: date, since: datetime, until: datetime) -> float:
        """The share of ``day`` between two instants inside it; 0 if not a business day."""
        if not self.is_business_day(day):
            return 0.0
        length = _seconds(self._day_start(day), self._day_start(day + _DAY))
        return _seconds(since, until) / length

    def _count_business_days(self, first: date, stop: date) -> int:
        """Business days in ``[first, stop)``, in O(holidays) rather than O(days)."""
        weeks, rest = divmod((stop - first).days, 7)
        count = weeks * len(self.workdays)
        tail = first + timedelta(weeks=weeks)
        count += sum((tail + i * _DAY).weekday() in self.workdays for i in range(rest))
        return count - sum(
            first <= holiday < stop and holiday.weekday() in self.workdays
            for holiday in self.holidays
        )


def parse_workdays(text: str) -> frozenset[int]:
    """Working weekdays from text: ``"mon-fri"``, ``"mon,tue,wed"``, ``"sun-thu"`` (ranges wrap).

    Names are English, three letters or in full, any case; separated by commas or spaces.
    """
    spaced = re.sub(r"\s*-\s*", "-", text.strip().casefold())
    tokens = [token for token in re.split(r"[,\s]+", spaced) if token]
    if not tokens:
        raise InvalidInput("name at least one working weekday, e.g. mon-fri", field="workdays")
    days: set[int] = set()
    for token in tokens:
        first, dash, last = token.partition("-")
        start = _weekday(first, token)
        stop = _weekday(last, token) if dash else start
        days.update((start + offset) % 7 for offset in range((stop - start) % 7 + 1))
    return frozenset(days)


def _weekday(name: str, token: str) -> int:
    try:
        return _DAY_NUMBERS[name]
    except KeyError:
        raise InvalidInput(
            f"{token[:40]!r} is not a weekday or a range of weekdays (use mon, tue ... sun)",
            field="workdays",
        ) from None


def parse_holidays(text: str) -> frozenset[date]:
    """Holiday dates from text, e.g. the contents of a file.

    ISO dates (``YYYY-MM-DD``) separated by commas, spaces or newlines; from ``#`` to the end of a
    line is a comment. Empty text means no holidays.
    """
    holidays: set[date] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        for token in re.split(r"[,\s]+", line.partition("#")[0]):
            if token:
                holidays.add(_holiday(token, number))
    return frozenset(holidays)


def _holiday(token: str, line: int) -> date:
    if _ISO_DATE.fullmatch(token):
        try:
            return date.fromisoformat(token)
        except ValueError:
            pass
    raise InvalidInput(f"line {line}: {token[:40]!r} is not a date (YYYY-MM-DD)", field="holidays")


@dataclass(frozen=True)
class SlaStatus:
    """Where an SLA timer stands at one moment.

    - ``due``: the deadline; meeting it at exactly ``due`` is on time.
    - ``met_at``: when it was met (e.g. the first human response), or ``None`` while open.
    - ``overdue``: still open and past due — the breach is ongoing and needs action now.
    - ``late_by``: how far past due: ``met_at - due`` when met late, ``now - due`` when overdue,
      ``None`` when met on time or not yet due.
    """

    due: datetime
    met_at: datetime | None
    overdue: bool
    late_by: timedelta | None

    @property
    def breached(self) -> bool:
        """Missed, whether still open (overdue) or met late."""
        return self.late_by is not None


def sla_status(due: datetime, met_at: datetime | None, now: datetime) -> SlaStatus:
    """The status of a timer due at ``due``, met at ``met_at`` (or not yet), seen at ``now``."""
    due_utc = _aware(due, "due").astimezone(UTC)
    now_utc = _aware(now, "now").astimezone(UTC)
    if met_at is not None:
        late = _aware(met_at, "met_at").astimezone(UTC) - due_utc
        return SlaStatus(due, met_at, overdue=False, late_by=late if late > timedelta(0) else None)
    late = now_utc - due_utc
    overdue = late > timedelta(0)
    return SlaStatus(due, None, overdue=overdue, late_by=late if overdue else None)


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput("needs a time zone (an aware datetime)", field=field)
    return moment


def _seconds(since: datetime, until: datetime) -> float:
    """Real seconds elapsed (aware datetimes sharing a tzinfo subtract as wall times otherwise)."""
    return (until.astimezone(UTC) - since.astimezone(UTC)).total_seconds()


def resolve_wall_time(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant at which the clock in ``zone`` reads at least ``wall`` on ``day``."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)
    if first.replace(tzinfo=None) == naive:
        return first  # exists; fold=0 is the first occurrence when the clocks go back
    # In a gap: the two readings of the wall time bracket the jump; find it to the second.
    readings = [naive.replace(tzinfo=zone, fold=fold).timestamp() for fold in (0, 1)]
    low, high = math.floor(min(readings)), math.ceil(max(readings))
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, zone)
