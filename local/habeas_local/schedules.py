"""EventBridge schedule expressions: ``rate(...)`` and the 6-field AWS ``cron(...)``.

AWS cron fields: minutes hours day-of-month month day-of-week year. Day-of-week counts 1-7 from
Sunday (or SUN-SAT); one of day-of-month and day-of-week must be ``?``. Supported: ``*``, ``?``,
lists, ranges, ``/`` increments, ``L`` (last day of month, or ``5L`` last Friday), ``W`` (nearest
weekday, ``15W`` / ``LW``) and ``#`` (``2#1``: first Monday).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

_MONTHS = {
    name: number
    for number, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_DAYS = {name: number for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# Far enough ahead for any real expression (cron can name a year); keeps a bad one from spinning.
_SEARCH_DAYS = 366 * 8


class ScheduleError(ValueError):
    """A schedule expression that EventBridge would reject."""


@dataclass(frozen=True)
class Rate:
    """``rate(N unit)``: every N units, the first one N units after the schedule starts."""

    seconds: int

    def next_after(self, moment: datetime, started: datetime) -> datetime:
        """The first firing strictly after ``moment`` for a schedule that started at ``started``."""
        elapsed = (moment - started).total_seconds()
        periods = int(elapsed // self.seconds) + 1
        return started + timedelta(seconds=periods * self.seconds)


@dataclass(frozen=True)
class Cron:
    """A parsed AWS cron expression."""

    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int] | None  # None: every year
    day_of_month: str  # kept as text: L and W depend on the month
    day_of_week: str
    timezone: tzinfo = UTC

    def next_after(self, moment: datetime, started: datetime | None = None) -> datetime:
        """The first firing strictly after ``moment`` (returned in UTC)."""
        local = moment.astimezone(self.timezone).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = local.date()
        for offset in range(_SEARCH_DAYS):
            current = day + timedelta(days=offset)
            if not self._day_matches(current):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    candidate = datetime(current.year, current.month, current.day, hour, minute, tzinfo=self.timezone)
                    if candidate >= local:
                        return candidate.astimezone(UTC)
        raise ScheduleError("the cron expression never fires")

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.day_of_month != "?":
            return _day_of_month_matches(self.day_of_month, day)
        return _day_of_week_matches(self.day_of_week, day)


def parse(expression: str, timezone: str | None = None) -> Rate | Cron:
    """Parse a ``rate(...)`` or ``cron(...)`` expression (``timezone``: an IANA name, ScheduleV2)."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1:
            raise ScheduleError(f"{expression}: the rate must be positive")
        if (value == 1) != (not rate.group(2).endswith("s")):
            raise ScheduleError(f"{expression}: use the singular unit for 1 and the plural otherwise")
        return Rate(value * _UNIT_SECONDS[unit])
    cron = _CRON.match(expression)
    if not cron:
        raise ScheduleError(f"{expression!r} is neither rate(...) nor cron(...)")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(f"{expression}: AWS cron has 6 fields (minutes hours day-of-month month day-of-week year)")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"{expression}: exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        minutes=_field(minutes, 0, 59),
        hours=_field(hours, 0, 23),
        months=_field(month, 1, 12, _MONTHS),
        years=None if year in ("*", "?") else _field(year, 1970, 2199),
        day_of_month=_check_day_of_month(dom),
        day_of_week=_check_day_of_week(dow),
        timezone=ZoneInfo(timezone) if timezone else UTC,
    )


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleError(f"{text!r} is not a number")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ScheduleError(f"{part!r}: the increment must be positive")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(base, names)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleError(f"{part!r} is outside {low}-{high}")
        if end < start:  # a wrap-around range such as FRI-MON
            values.update(range(start, high + 1, step))
            values.update(range(low, end + 1, step))
        else:
            values.update(range(start, end + 1, step))
    return frozenset(values)


def _check_day_of_month(text: str) -> str:
    if text == "?":
        return text
    for part in text.split(","):
        if part in ("L", "LW") or re.fullmatch(r"\d{1,2}W", part):
            continue
        _field(part, 1, 31)
    return text


def _check_day_of_week(text: str) -> str:
    if text == "?":
        return text
    for part in text.split(","):
        hashed = re.fullmatch(r"(\w+)#([1-5])", part)
        last = re.fullmatch(r"(\w+)L", part)
        if hashed:
            _field(hashed.group(1), 1, 7, _DAYS)
        elif last and part != "L":
            _field(last.group(1), 1, 7, _DAYS)
        else:
            _field(part, 1, 7, _DAYS)
    return text


def _aws_weekday(day: date) -> int:
    return (day.weekday() + 1) % 7 + 1  # Monday=0 in Python; AWS has SUN=1 ... SAT=7


def _nearest_weekday(year: int, month: int, day_number: int) -> int:
    last = calendar.monthrange(year, month)[1]
    day_number = min(day_number, last)
    weekday = date(year, month, day_number).weekday()
    if weekday == 5:  # Saturday → Friday, unless that leaves the month
        return day_number - 1 if day_number > 1 else day_number + 2
    if weekday == 6:  # Sunday → Monday, unless that leaves the month
        return day_number + 1 if day_number < last else day_number - 2
    return day_number


def _day_of_month_matches(text: str, day: date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    for part in text.split(","):
        if part == "L" and day.day == last:
            return True
        if part == "LW" and day.day == _nearest_weekday(day.year, day.month, last):
            return True
        if part.endswith("W") and part[:-1].isdigit():
            if day.day == _nearest_weekday(day.year, day.month, int(part[:-1])):
                return True
            continue
        if part not in ("L", "LW") and day.day in _field(part, 1, 31):
            return True
    return False


def _day_of_week_matches(text: str, day: date) -> bool:
    weekday = _aws_weekday(day)
    last = calendar.monthrange(day.year, day.month)[1]
    for part in text.split(","):
        hashed = re.fullmatch(r"(\w+)#([1-5])", part)
        if hashed:
            if weekday == _number(hashed.group(1), _DAYS) and (day.day - 1) // 7 + 1 == int(hashed.group(2)):
                return True
            continue
        if part.endswith("L") and part != "L":
            if weekday == _number(part[:-1], _DAYS) and day.day + 7 > last:
                return True
            continue
        if weekday in _field("7" if part == "L" else part, 1, 7, _DAYS):
            return True
    return False
