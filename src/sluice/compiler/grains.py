"""Time grains as sqlglot expressions.

Each grain is one entry in ``GRAINS``: how to compute it from a timestamp expression and the data
type of the result. Dialect differences stay inside sqlglot's generators (``DATE_TRUNC``,
``STRFTIME``/``TO_CHAR``/``DATE_FORMAT``...), so adding a dialect does not touch this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from sluice.compiler.dates import WEEK_DAYS
from sluice.errors import Unsupported


@dataclass(frozen=True, slots=True)
class Grain:
    name: str
    data_type: str  # DATE, TIMESTAMP, STRING, NUMBER
    build: Callable[[exp.Expr, str], exp.Expr]  # (timestamp expr, week start) -> expr


def _date_trunc(this: exp.Expr, unit: exp.Expr) -> exp.Expr:
    node: exp.Expr = exp.DateTrunc(this=this, unit=unit)  # type: ignore[no-untyped-call]
    return node


def _trunc(unit: str, as_date: bool) -> Callable[[exp.Expr, str], exp.Expr]:
    def build(x: exp.Expr, _week_start: str) -> exp.Expr:
        truncated = _date_trunc(this=x, unit=exp.var(unit.upper()))
        return exp.cast(truncated, exp.DataType.Type.DATE) if as_date else truncated

    return build


def _week(x: exp.Expr, week_start: str) -> exp.Expr:
    """Weeks start on the model's ``week_start_day``; SQL engines truncate to Monday."""
    shift = (7 - WEEK_DAYS.index(week_start)) % 7  # days to add so the start lands on Monday
    if shift == 0:
        return exp.cast(_date_trunc(this=x, unit=exp.var("WEEK")), exp.DataType.Type.DATE)
    moved = exp.Add(
        this=x, expression=exp.Interval(this=exp.Literal.string(str(shift)), unit=exp.var("DAY"))
    )
    monday = exp.cast(_date_trunc(this=moved, unit=exp.var("WEEK")), exp.DataType.Type.DATE)
    back = exp.Sub(
        this=monday,
        expression=exp.Interval(this=exp.Literal.string(str(shift)), unit=exp.var("DAY")),
    )
    return exp.cast(back, exp.DataType.Type.DATE)


def _format(fmt: str) -> Callable[[exp.Expr, str], exp.Expr]:
    def build(x: exp.Expr, _week_start: str) -> exp.Expr:
        return exp.TimeToStr(this=x, format=exp.Literal.string(fmt))

    return build


def _extract(part: str) -> Callable[[exp.Expr, str], exp.Expr]:
    def build(x: exp.Expr, _week_start: str) -> exp.Expr:
        return exp.Extract(this=exp.var(part), expression=x)

    return build


GRAINS: dict[str, Grain] = {
    g.name: g
    for g in (
        Grain("date", "DATE", _trunc("day", as_date=True)),
        Grain("week", "DATE", _week),
        Grain("month", "DATE", _trunc("month", as_date=True)),
        Grain("quarter", "DATE", _trunc("quarter", as_date=True)),
        Grain("year", "DATE", _trunc("year", as_date=True)),
        Grain("hour", "TIMESTAMP", _trunc("hour", as_date=False)),
        Grain("minute", "TIMESTAMP", _trunc("minute", as_date=False)),
        Grain("second", "TIMESTAMP", _trunc("second", as_date=False)),
        Grain("day_of_week_name", "STRING", _format("%A")),
        Grain("month_name", "STRING", _format("%B")),
        Grain("month_num", "NUMBER", _extract("MONTH")),
        Grain("quarter_of_year", "NUMBER", _extract("QUARTER")),
        Grain("day_of_month", "NUMBER", _extract("DAY")),
        Grain("day_of_year", "NUMBER", _extract("DOY")),
        Grain("hour_of_day", "NUMBER", _extract("HOUR")),
    )
}


def apply_grain(x: exp.Expr, grain: str, week_start: str) -> tuple[exp.Expr, str]:
    """The expression for ``grain`` of the timestamp ``x`` and its data type."""
    found = GRAINS.get(grain)
    if found is None:
        raise Unsupported(f"the time grain `{grain}` is not supported yet")
    return found.build(x, week_start), found.data_type
