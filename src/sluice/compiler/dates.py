"""Date filter literals -> concrete half-open ranges, against a clock that is passed in.

Grammar (case-insensitive):

* absolute: ``2024``, ``2024-03``, ``2024-03-15``, ``2024-03-15 10:30[:00]``, ``2024 Q3``
* named days: ``today``, ``yesterday``, ``tomorrow``, ``now``
* periods: ``this|current <unit>``, ``last|previous <unit>``, ``next <unit>``
* offsets, as Omni reads them: ``N <unit>s ago`` counts the current unit as one of the N, so it
  starts ``N - 1`` units before the current one (``12 months ago`` in June 2025 is 2024-07-01,
  and ``[30 days ago, 30 days]`` is the 30 days ending today); ``N complete <unit>s ago`` starts
  N whole units back (2024-06-01); ``N <unit>s from now`` starts N units ahead
* fiscal: ``FY2024`` (the fiscal year, per the model's ``fiscal_month_offset``), ``FY2024-Q1``
* durations (``right_side`` of ``TIME_FOR_INTERVAL_DURATION``): ``N <unit>s``

Units: second, minute, hour, day, week, month, quarter, year. Every range is ``[start, end)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sluice.model.filters import DateFilter

UNITS = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
WEEK_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_UNIT = r"(second|minute|hour|day|week|month|quarter|year)s?"
_ABS = re.compile(
    r"^(\d{4})(?:[-/](\d{1,2})(?:[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?)?)?$"
)
_QUARTER = re.compile(r"^(\d{4})[ -]?q([1-4])$")
_PERIOD = re.compile(rf"^(this|current|last|previous|next)\s+{_UNIT}$")
_AGO = re.compile(rf"^(\d{{1,9}})\s+(complete\s+)?{_UNIT}\s+(ago|from now)$")
_FISCAL = re.compile(r"^fy\s*(\d{4})(?:[ -]?q([1-4]))?$")
_DURATION = re.compile(rf"^(\d{{1,9}})\s+{_UNIT}$")


class DateLiteralError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime  # exclusive


def add(moment: datetime, unit: str, n: int) -> datetime:
    """``moment`` plus ``n`` units (months clamp the day, as calendars do); a date outside the
    years 1 to 9999 is a ``DateLiteralError``, never an overflow."""
    try:
        return _add(moment, unit, n)
    except (OverflowError, ValueError):
        raise DateLiteralError(
            f"{n} {unit}s from {moment:%Y-%m-%d} is outside the dates sluice can filter on "
            "(the years 1 to 9999)"
        ) from None


def _add(moment: datetime, unit: str, n: int) -> datetime:
    if unit in ("month", "quarter", "year"):
        months = n * {"month": 1, "quarter": 3, "year": 12}[unit]
        total = moment.month - 1 + months
        year, month = moment.year + total // 12, total % 12 + 1
        day = min(moment.day, _days_in_month(year, month))
        return moment.replace(year=year, month=month, day=day)
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}[unit]
    return moment + timedelta(seconds=seconds * n)


def _days_in_month(year: int, month: int) -> int:
    nxt = datetime(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def truncate(moment: datetime, unit: str, week_start: str = "monday") -> datetime:
    """The start of the ``unit`` containing ``moment``."""
    if unit == "second":
        return moment.replace(microsecond=0)
    if unit == "minute":
        return moment.replace(second=0, microsecond=0)
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":
        shift = (day.weekday() - WEEK_DAYS.index(week_start)) % 7
        return day - timedelta(days=shift)
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)  # year


# The units a relative literal truncates the clock to, finest first. A compile that read the
# clock at ``unit`` gives the same SQL for every instant in the same ``clock_bucket``.
CLOCK_GRAINS = ("second", "minute", "hour", "day")

# Set while a compile watches whether its SQL depends on the clock (``watching_clock``).
_CLOCK_READS: ContextVar[list[str] | None] = ContextVar("sluice_clock_reads", default=None)


@contextmanager
def watching_clock() -> Iterator[Callable[[], str | None]]:
    """Inside: a literal relative to the clock (``today``, ``last month``, ``3 days ago``) is
    noted; the function yielded gives the finest grain one was read at (one of
    ``CLOCK_GRAINS``), or None when none was."""
    reads: list[str] = []
    token = _CLOCK_READS.set(reads)
    try:
        yield lambda: min(reads, key=CLOCK_GRAINS.index) if reads else None
    finally:
        _CLOCK_READS.reset(token)


def _clock(now: datetime, unit: str) -> datetime:
    """``now``, noting that a literal truncates it to ``unit``. Weeks, months, quarters and years
    start on a day, so a read at any of them is noted as one at ``day``."""
    reads = _CLOCK_READS.get()
    if reads is not None:
        reads.append(unit if unit in CLOCK_GRAINS else "day")
    return now


def clock_bucket(now: datetime, grain: str) -> datetime:
    """The start of the ``grain`` (one of ``CLOCK_GRAINS``) holding the wall time ``now``."""
    return truncate(now, grain)


def period(
    text: str, now: datetime, week_start: str = "monday", fiscal_month_offset: int = 0
) -> Period:
    """The period a literal names (a point in time is a one-second period)."""
    try:
        return _read_period(text, now, week_start, fiscal_month_offset)
    except DateLiteralError:
        raise
    except (OverflowError, ValueError):  # 0000-01-01, 2024-02-30, ...
        raise DateLiteralError(f"{text[:100]!r} is not a date sluice can filter on") from None


def _read_period(text: str, now: datetime, week_start: str, fiscal_month_offset: int) -> Period:
    t = " ".join(text.strip().lower().split())
    if m := _FISCAL.match(t):
        start = add(datetime(int(m.group(1)), 1, 1), "month", fiscal_month_offset)
        if m.group(2) is None:
            return Period(start, add(start, "year", 1))
        start = add(start, "quarter", int(m.group(2)) - 1)
        return Period(start, add(start, "quarter", 1))
    if m := _ABS.match(t):
        y, mo, d, hh, mm, ss = m.groups()
        try:
            if hh is not None:
                start = datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss or 0))
                return Period(start, add(start, "second" if ss else "minute", 1))
            if d is not None:
                start = datetime(int(y), int(mo), int(d))
                return Period(start, add(start, "day", 1))
            if mo is not None:
                start = datetime(int(y), int(mo), 1)
                return Period(start, add(start, "month", 1))
        except ValueError as exc:
            raise DateLiteralError(f"{text!r} is not a valid date: {exc}") from None
        start = datetime(int(y), 1, 1)
        return Period(start, add(start, "year", 1))
    if m := _QUARTER.match(t):
        start = datetime(int(m.group(1)), (int(m.group(2)) - 1) * 3 + 1, 1)
        return Period(start, add(start, "quarter", 1))
    if t in ("today", "yesterday", "tomorrow"):
        shift = {"today": 0, "yesterday": -1, "tomorrow": 1}[t]
        start = add(truncate(_clock(now, "day"), "day"), "day", shift)
        return Period(start, add(start, "day", 1))
    if t == "now":
        start = truncate(_clock(now, "second"), "second")
        return Period(start, add(start, "second", 1))
    if m := _PERIOD.match(t):
        which, unit = m.group(1), m.group(2)
        shift = {"this": 0, "current": 0, "last": -1, "previous": -1, "next": 1}[which]
        start = add(truncate(_clock(now, unit), unit, week_start), unit, shift)
        return Period(start, add(start, unit, 1))
    if m := _AGO.match(t):
        n, complete, unit, direction = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        back = -n if complete or n == 0 else -(n - 1)  # "N ago" counts the current unit
        shift = back if direction == "ago" else n
        start = add(truncate(_clock(now, unit), unit, week_start), unit, shift)
        return Period(start, add(start, unit, 1))
    raise DateLiteralError(
        f"cannot read the date {text!r}; use a date (2024-03-15), a month (2024-03), a quarter "
        "(2024 Q1), today/yesterday, this/last/next <unit>, or N <units> ago"
    )


_period = period


def duration(text: str) -> tuple[int, str]:
    """``"30 days"`` -> ``(30, "day")``."""
    t = " ".join(text.strip().lower().split())
    if m := _DURATION.match(t):
        return int(m.group(1)), m.group(2)
    raise DateLiteralError(f"cannot read the duration {text!r}; write N <units>, e.g. '30 days'")


def resolve(
    f: DateFilter, now: datetime, week_start: str = "monday", fiscal_month_offset: int = 0
) -> tuple[datetime | None, datetime | None]:
    """The ``(start, end)`` a date filter selects; either side may be open (None)."""

    def period(text: str, now: datetime, week_start: str) -> Period:
        return _period(text, now, week_start, fiscal_month_offset)

    if f.kind == "BEFORE":
        return (None, period(f.left_side, now, week_start).start)
    if f.kind == "ON_OR_AFTER":
        return (period(f.left_side, now, week_start).start, None)
    if f.kind == "BETWEEN":
        assert f.right_side is not None
        start = period(f.left_side, now, week_start).start
        end = period(f.right_side, now, week_start).start
        return (start, end)
    if f.kind == "TIME_FOR_INTERVAL_DURATION":
        assert f.right_side is not None
        start = period(f.left_side, now, week_start).start
        n, unit = duration(f.right_side)
        return (start, add(start, unit, n))
    # TIME_FOR_UNIT_DURATION
    p = period(f.left_side, now, week_start)
    return (p.start, p.end)
