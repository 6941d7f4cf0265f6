"""Date literals resolve against the clock they are handed, as half-open periods."""

from __future__ import annotations

from datetime import datetime

import pytest

from sluice.compiler.dates import DateLiteralError, add, duration, period, resolve, truncate
from sluice.model.filters import DateFilter

NOW = datetime(2025, 6, 15, 10, 30, 45)  # a Sunday


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2024", datetime(2024, 1, 1), datetime(2025, 1, 1)),
        ("2024-03", datetime(2024, 3, 1), datetime(2024, 4, 1)),
        ("2024/3/9", datetime(2024, 3, 9), datetime(2024, 3, 10)),
        ("2024-12-31", datetime(2024, 12, 31), datetime(2025, 1, 1)),
        ("2024-03-15 10:30", datetime(2024, 3, 15, 10, 30), datetime(2024, 3, 15, 10, 31)),
        ("2024-03-15 10:30:05", datetime(2024, 3, 15, 10, 30, 5), datetime(2024, 3, 15, 10, 30, 6)),
        ("2024 Q4", datetime(2024, 10, 1), datetime(2025, 1, 1)),
        ("2024-q1", datetime(2024, 1, 1), datetime(2024, 4, 1)),
        ("today", datetime(2025, 6, 15), datetime(2025, 6, 16)),
        ("Yesterday", datetime(2025, 6, 14), datetime(2025, 6, 15)),
        ("tomorrow", datetime(2025, 6, 16), datetime(2025, 6, 17)),
        ("this week", datetime(2025, 6, 9), datetime(2025, 6, 16)),
        ("last week", datetime(2025, 6, 2), datetime(2025, 6, 9)),
        ("this month", datetime(2025, 6, 1), datetime(2025, 7, 1)),
        ("last month", datetime(2025, 5, 1), datetime(2025, 6, 1)),
        ("next month", datetime(2025, 7, 1), datetime(2025, 8, 1)),
        ("last quarter", datetime(2025, 1, 1), datetime(2025, 4, 1)),
        ("this year", datetime(2025, 1, 1), datetime(2026, 1, 1)),
        ("previous year", datetime(2024, 1, 1), datetime(2025, 1, 1)),
        ("last hour", datetime(2025, 6, 15, 9), datetime(2025, 6, 15, 10)),
        # "N <units> ago" counts the current unit as one of the N; "complete" does not.
        ("3 days ago", datetime(2025, 6, 13), datetime(2025, 6, 14)),
        ("1 day  ago", datetime(2025, 6, 15), datetime(2025, 6, 16)),
        ("3 months ago", datetime(2025, 4, 1), datetime(2025, 5, 1)),
        ("3 complete months ago", datetime(2025, 3, 1), datetime(2025, 4, 1)),
        ("2 complete weeks ago", datetime(2025, 5, 26), datetime(2025, 6, 2)),
        ("2 weeks ago", datetime(2025, 6, 2), datetime(2025, 6, 9)),
        ("FY2024", datetime(2024, 1, 1), datetime(2025, 1, 1)),
        ("fy2024-q3", datetime(2024, 7, 1), datetime(2024, 10, 1)),
        ("2 years from now", datetime(2027, 1, 1), datetime(2028, 1, 1)),
        ("now", datetime(2025, 6, 15, 10, 30, 45), datetime(2025, 6, 15, 10, 30, 46)),
    ],
)
def test_periods(text: str, start: datetime, end: datetime) -> None:
    assert period(text, NOW) == (start, end) or (
        period(text, NOW).start,
        period(text, NOW).end,
    ) == (start, end)


def test_fiscal_literals_follow_the_offset() -> None:
    # offset 3: FY2024 starts in April 2024 (Looker and Omni name it by the year it starts in)
    assert (
        period("FY2024", NOW, fiscal_month_offset=3).start,
        period("FY2024", NOW, fiscal_month_offset=3).end,
    ) == (datetime(2024, 4, 1), datetime(2025, 4, 1))
    assert period("FY2024-Q4", NOW, fiscal_month_offset=3).start == datetime(2025, 1, 1)
    assert period("FY2018", NOW, fiscal_month_offset=-3).start == datetime(2017, 10, 1)


def test_week_start_day_moves_weeks() -> None:
    assert period("this week", NOW, "sunday").start == datetime(2025, 6, 15)
    assert truncate(datetime(2025, 6, 14), "week", "sunday") == datetime(2025, 6, 8)


def test_month_arithmetic_clamps_days() -> None:
    assert add(datetime(2025, 1, 31), "month", 1) == datetime(2025, 2, 28)
    assert add(datetime(2024, 3, 31), "month", -1) == datetime(2024, 2, 29)
    assert add(datetime(2024, 11, 30), "quarter", 1) == datetime(2025, 2, 28)


@pytest.mark.parametrize(
    ("kind", "left", "right", "want"),
    [
        ("BEFORE", "2024-03", None, (None, datetime(2024, 3, 1))),
        ("ON_OR_AFTER", "2024-03-02", None, (datetime(2024, 3, 2), None)),
        ("BETWEEN", "2024-01-01", "2024-02-01", (datetime(2024, 1, 1), datetime(2024, 2, 1))),
        (
            "TIME_FOR_INTERVAL_DURATION",
            "30 days ago",
            "30 days",
            (datetime(2025, 5, 17), datetime(2025, 6, 16)),  # the 30 days ending today
        ),
        (
            "TIME_FOR_INTERVAL_DURATION",
            "12 months ago",
            "12 months",
            (datetime(2024, 7, 1), datetime(2025, 7, 1)),
        ),
        (
            "TIME_FOR_INTERVAL_DURATION",
            "12 complete months ago",
            "12 months",
            (datetime(2024, 6, 1), datetime(2025, 6, 1)),
        ),
        (
            "TIME_FOR_INTERVAL_DURATION",
            "2024-01-15",
            "2 months",
            (datetime(2024, 1, 15), datetime(2024, 3, 15)),
        ),
        (
            "TIME_FOR_UNIT_DURATION",
            "last quarter",
            None,
            (datetime(2025, 1, 1), datetime(2025, 4, 1)),
        ),
    ],
)
def test_resolve(
    kind: str, left: str, right: str | None, want: tuple[datetime | None, datetime | None]
) -> None:
    assert resolve(DateFilter(False, kind, left, right), NOW) == want


@pytest.mark.parametrize(
    "text", ["", "soon", "2024-13", "2024-02-30", "last fortnight", "-3 days ago", "2024 Q5"]
)
def test_bad_literals_say_what_to_write(text: str) -> None:
    with pytest.raises(DateLiteralError):
        period(text, NOW)


def test_durations() -> None:
    assert duration("30 days") == (30, "day")
    assert duration("1 Quarter") == (1, "quarter")
    with pytest.raises(DateLiteralError, match="write N <units>"):
        duration("a while")
