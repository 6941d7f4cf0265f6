"""Time grains as sqlglot expressions.

Each grain of the model's vocabulary (``sluice.model.grains``) is one entry in ``GRAINS``: how
to compute it from a timestamp expression, with the data type the vocabulary gives it. What
differs between warehouses (day names, ISO day of week) comes
from the dialect's rules (``compiler.dialects``); the rest is rendered by sqlglot's generators.

Conventions (the same on every dialect): weeks start on the model's ``week_start_day``;
``day_of_week_num`` is 0 for that day up to 6; ``week_of_year`` is the ISO week;
``fiscal_year`` is the year of the date moved back ``fiscal_month_offset`` months (with
offset 3, FY2024 runs April 2024 to March 2025); ``fiscal_quarter`` is ``'<fiscal year>-Q<n>'``;
``epoch`` is seconds since 1970-01-01; ``time_of_day`` is ``'HH:MM'``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from sluice.compiler.dates import WEEK_DAYS
from sluice.compiler.dialects import DialectRules
from sluice.errors import Unsupported
from sluice.model.grains import GRAIN_TYPES


@dataclass(frozen=True, slots=True)
class GrainContext:
    week_start: str
    fiscal_month_offset: int
    rules: DialectRules


@dataclass(frozen=True, slots=True)
class Grain:
    name: str
    data_type: str  # DATE, TIMESTAMP, STRING, NUMBER
    build: Callable[[exp.Expr, GrainContext], exp.Expr]


def _date_trunc(x: exp.Expr, unit: str) -> exp.Expr:
    node: exp.Expr = exp.DateTrunc(this=x, unit=exp.var(unit))  # type: ignore[no-untyped-call]
    return node


def _day_unit(unit: str) -> Callable[[exp.Expr, GrainContext], exp.Expr]:
    """Truncate as a timestamp (every engine's DATE_TRUNC/TIMESTAMP_TRUNC accepts one), then
    keep the date."""

    def build(x: exp.Expr, _: GrainContext) -> exp.Expr:
        return exp.cast(exp.TimestampTrunc(this=x, unit=exp.var(unit)), exp.DataType.Type.DATE)

    return build


def _time_unit(unit: str) -> Callable[[exp.Expr, GrainContext], exp.Expr]:
    def build(x: exp.Expr, ctx: GrainContext) -> exp.Expr:
        return ctx.rules.time_trunc(x, unit)

    return build


def _days(n: int) -> exp.Expr:
    return exp.Interval(this=exp.Literal.string(str(n)), unit=exp.var("DAY"))


def _week(x: exp.Expr, ctx: GrainContext) -> exp.Expr:
    """SQL engines truncate to Monday; other week starts shift into Monday and back."""
    shift = (7 - WEEK_DAYS.index(ctx.week_start)) % 7  # days that move the start onto Monday
    unit = exp.var(ctx.rules.week_unit)
    if shift == 0:
        return exp.cast(exp.TimestampTrunc(this=x, unit=unit), exp.DataType.Type.DATE)
    moved = exp.Add(this=x, expression=_days(shift))
    monday = exp.cast(exp.TimestampTrunc(this=moved, unit=unit), "DATE")
    return exp.cast(exp.Sub(this=monday, expression=_days(shift)), exp.DataType.Type.DATE)


def _extract(part: str) -> Callable[[exp.Expr, GrainContext], exp.Expr]:
    def build(x: exp.Expr, _: GrainContext) -> exp.Expr:
        return exp.Extract(this=exp.var(part), expression=x)

    return build


def _format(fmt: str) -> Callable[[exp.Expr, GrainContext], exp.Expr]:
    def build(x: exp.Expr, _: GrainContext) -> exp.Expr:
        return exp.TimeToStr(this=x, format=exp.Literal.string(fmt))

    return build


def _day_of_week_num(x: exp.Expr, ctx: GrainContext) -> exp.Expr:
    start = WEEK_DAYS.index(ctx.week_start)  # Monday = 0
    iso = ctx.rules.iso_day_of_week(x)  # Monday = 1 .. Sunday = 7
    shifted = exp.Add(this=iso, expression=exp.Literal.number(6 - start))
    return exp.Mod(this=exp.paren(shifted), expression=exp.Literal.number(7))


def _fiscal_shift(x: exp.Expr, ctx: GrainContext) -> exp.Expr:
    if ctx.fiscal_month_offset == 0:
        return x
    return exp.DateAdd(
        this=x, expression=exp.Literal.number(-ctx.fiscal_month_offset), unit=exp.var("MONTH")
    )


def _fiscal_year(x: exp.Expr, ctx: GrainContext) -> exp.Expr:
    return exp.Extract(this=exp.var("YEAR"), expression=_fiscal_shift(x, ctx))


def _fiscal_quarter(x: exp.Expr, ctx: GrainContext) -> exp.Expr:
    shifted = _fiscal_shift(x, ctx)
    year = exp.cast(exp.Extract(this=exp.var("YEAR"), expression=shifted), "VARCHAR")
    quarter = exp.Extract(this=exp.var("QUARTER"), expression=shifted.copy())
    return exp.Concat(expressions=[year, exp.Literal.string("-Q"), exp.cast(quarter, "VARCHAR")])


def _day_of_quarter(x: exp.Expr, _: GrainContext) -> exp.Expr:
    start = _date_trunc(x.copy(), "QUARTER")
    diff = exp.DateDiff(
        this=exp.cast(x, "DATE"), expression=exp.cast(start, "DATE"), unit=exp.var("DAY")
    )
    return exp.Add(this=diff, expression=exp.Literal.number(1))


_BUILDERS: dict[str, Callable[[exp.Expr, GrainContext], exp.Expr]] = {
    "date": _day_unit("DAY"),
    "week": _week,
    "month": _day_unit("MONTH"),
    "quarter": _day_unit("QUARTER"),
    "year": _day_unit("YEAR"),
    "hour": _time_unit("HOUR"),
    "minute": _time_unit("MINUTE"),
    "second": _time_unit("SECOND"),
    "millisecond": _time_unit("MILLISECOND"),
    "day_of_week_name": lambda x, c: c.rules.day_name(x),
    "day_of_week_num": _day_of_week_num,
    "month_name": lambda x, c: c.rules.month_name(x),
    "month_num": _extract("MONTH"),
    "quarter_of_year": _extract("QUARTER"),
    "week_of_year": _extract("WEEK"),
    "day_of_month": _extract("DAY"),
    "day_of_year": _extract("DOY"),
    "day_of_quarter": _day_of_quarter,
    "hour_of_day": _extract("HOUR"),
    "fiscal_year": _fiscal_year,
    "fiscal_quarter": _fiscal_quarter,
    "epoch": lambda x, _: exp.TimeToUnix(this=x),
    "time_of_day": _format("%H:%M"),
}
GRAINS: dict[str, Grain] = {
    name: Grain(name, GRAIN_TYPES[name], build) for name, build in _BUILDERS.items()
}
if set(_BUILDERS) != set(GRAIN_TYPES):  # the vocabulary and its SQL must list the same grains
    raise RuntimeError(f"grain builders and vocabulary differ: {set(_BUILDERS) ^ set(GRAIN_TYPES)}")


def apply_grain(x: exp.Expr, grain: str, ctx: GrainContext) -> tuple[exp.Expr, str]:
    """The expression for ``grain`` of the timestamp ``x`` and its data type."""
    found = GRAINS.get(grain)
    if found is None:
        raise Unsupported(f"the time grain `{grain}` is not supported")
    return found.build(x, ctx), found.data_type
