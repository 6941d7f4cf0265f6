"""Filters -> SQL conditions (sqlglot trees).

Every user value becomes a sqlglot literal, so no value can change the statement's shape.
Substring tests use ``STRPOS`` rather than ``LIKE`` so ``%`` and ``_`` in a value match
literally. Negation (``is_negative``) keeps exactly the rows the positive condition does not
select, NULLs included: ``NOT COALESCE(cond, FALSE)``. So "is not X" keeps rows where the field
is NULL, while "is not empty" and "is not null" drop them (their positive forms select NULLs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from sluice.compiler import dates
from sluice.errors import PlanError
from sluice.model.filters import (
    BooleanFilter,
    CompositeFilter,
    DateFilter,
    DatePartFilter,
    Filter,
    FilterSyntaxError,
    LegacyFilter,
    NullFilter,
    NumberFilter,
    StringFilter,
    UserAttributeFilter,
)
from sluice.query import legacy

ATOMIC = (exp.Column, exp.Literal, exp.Func, exp.Paren, exp.Cast, exp.Null, exp.Boolean)


@dataclass(frozen=True, slots=True)
class FilterContext:
    """What a condition needs besides the filter: the clock and the running user."""

    now: datetime
    week_start: str
    fiscal_month_offset: int
    user_attributes: Mapping[str, Any]
    # Builds a date part (a grain) of a timestamp, for IS_ON_DAY_OF_WEEK and friends.
    date_part: Callable[[exp.Expr, str], exp.Expr]


def condition(
    x: exp.Expr,
    f: Filter,
    *,
    field: str,
    field_type: str,
    ctx: FilterContext,
    is_date: bool = False,
) -> exp.Expr:
    """The condition ``f`` puts on the expression ``x`` (the field named ``field``)."""
    x = x if isinstance(x, ATOMIC) else exp.paren(x)
    if isinstance(f, LegacyFilter):
        try:
            f = legacy.translate(f.expression, field_type)
        except FilterSyntaxError as exc:
            raise PlanError(f'Invalid filter on "{field}": {exc}') from None
    if isinstance(f, BooleanFilter):
        if not f.is_negative:
            return exp.EQ(this=x.copy(), expression=exp.true())
        false = exp.EQ(this=x.copy(), expression=exp.false())
        if f.treat_nulls_as_false:
            return exp.paren(exp.or_(false, exp.Is(this=x.copy(), expression=exp.Null())))
        return false
    positive: exp.Expr
    if isinstance(f, CompositeFilter):
        parts = [
            condition(x, sub, field=field, field_type=field_type, ctx=ctx, is_date=is_date)
            for sub in f.filters
        ]
        positive = exp.paren(
            balanced(exp.And if f.conjunction == "AND" else exp.Or, parts), copy=False
        )
    elif isinstance(f, NullFilter):
        positive = exp.Is(this=x.copy(), expression=exp.Null())
    elif isinstance(f, StringFilter):
        positive = _string(x, f)
    elif isinstance(f, NumberFilter):
        positive = _number(x, f)
    elif isinstance(f, DateFilter):
        positive = _date(x, f, field=field, ctx=ctx, is_date=is_date)
    elif isinstance(f, DatePartFilter):
        positive = _date_part(x, f, field, ctx)
    elif isinstance(f, UserAttributeFilter):
        positive = _user_attribute(x, f, field, field_type, ctx)
    else:  # pragma: no cover - the AST is closed
        raise PlanError(f'unsupported filter on "{field}"')
    if not f.is_negative:
        return positive
    if isinstance(f, NullFilter):  # IS NULL is never unknown
        return exp.not_(positive)
    return exp.not_(exp.Coalesce(this=positive, expressions=[exp.false()]))


def _string(x: exp.Expr, f: StringFilter) -> exp.Expr:
    if f.kind == "IS_EMPTY":
        empty = exp.EQ(this=x.copy(), expression=exp.Literal.string(""))
        return exp.paren(exp.or_(exp.Is(this=x.copy(), expression=exp.Null()), empty))

    def side(e: exp.Expr) -> exp.Expr:
        return exp.Lower(this=e) if f.case_insensitive else e

    def lit(v: str) -> exp.Expr:
        return side(exp.Literal.string(v))

    subject = side(x.copy())
    if f.kind == "EQUALS":
        if len(f.values) == 1:
            return exp.EQ(this=subject, expression=lit(f.values[0]))
        return exp.In(this=subject, expressions=[lit(v) for v in f.values])
    tests: list[exp.Expr] = []
    for v in f.values:
        if f.kind == "CONTAINS":
            pos = exp.StrPosition(this=subject.copy(), substr=lit(v))
            tests.append(exp.GT(this=pos, expression=exp.Literal.number(0)))
        elif f.kind == "STARTS_WITH":
            tests.append(exp.StartsWith(this=subject.copy(), expression=lit(v)))
        elif f.kind == "ENDS_WITH":  # RIGHT(x, LENGTH(v)) = v: PostgreSQL has no ENDS_WITH
            tail = exp.Right(this=subject.copy(), expression=exp.Length(this=lit(v)))
            tests.append(exp.EQ(this=tail, expression=lit(v)))
        else:  # SQL_LIKE: the value is a LIKE pattern on purpose
            tests.append(exp.Like(this=subject.copy(), expression=lit(v)))
    return tests[0] if len(tests) == 1 else exp.paren(balanced(exp.Or, tests), copy=False)


def _num(value: Decimal) -> exp.Expr:
    text = format(value, "f")
    return exp.Literal.number(text)


def _number(x: exp.Expr, f: NumberFilter) -> exp.Expr:
    if f.kind == "EQUALS":
        if len(f.values) == 1:
            return exp.EQ(this=x.copy(), expression=_num(f.values[0]))
        return exp.In(this=x.copy(), expressions=[_num(v) for v in f.values])
    if f.kind == "GREATER_THAN":
        if f.is_inclusive:
            return exp.GTE(this=x.copy(), expression=_num(f.values[0]))
        return exp.GT(this=x.copy(), expression=_num(f.values[0]))
    if f.kind == "LESS_THAN":
        if f.is_inclusive:
            return exp.LTE(this=x.copy(), expression=_num(f.values[0]))
        return exp.LT(this=x.copy(), expression=_num(f.values[0]))
    low, high = f.values  # BETWEEN: [low, high), as Omni's number filter reads it
    lower = exp.GTE(this=x.copy(), expression=_num(low))
    return exp.paren(exp.and_(lower, exp.LT(this=x.copy(), expression=_num(high))))


def timestamp_literal(moment: datetime, as_date: bool) -> exp.Expr:
    if as_date and moment == dates.truncate(moment, "day"):
        return exp.cast(exp.Literal.string(moment.strftime("%Y-%m-%d")), exp.DataType.Type.DATE)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return exp.cast(exp.Literal.string(text), exp.DataType.Type.TIMESTAMP)


def _date(x: exp.Expr, f: DateFilter, *, field: str, ctx: FilterContext, is_date: bool) -> exp.Expr:
    try:
        start, end = dates.resolve(f, ctx.now, ctx.week_start, ctx.fiscal_month_offset)
    except dates.DateLiteralError as exc:
        raise PlanError(f'Invalid date filter on "{field}": {exc}') from None
    parts: list[exp.Expr] = []
    if start is not None:
        parts.append(exp.GTE(this=x.copy(), expression=timestamp_literal(start, is_date)))
    if end is not None:
        parts.append(exp.LT(this=x.copy(), expression=timestamp_literal(end, is_date)))
    return parts[0] if len(parts) == 1 else exp.paren(exp.and_(*parts))


_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")  # fmt: skip
_PART_RANGES = {
    "IS_ON_DAY_OF_MONTH": (1, 31), "IS_ON_DAY_OF_QUARTER": (1, 92), "IS_ON_DAY_OF_YEAR": (1, 366),
    "IS_IN_MONTH_OF_YEAR": (1, 12), "IS_IN_QUARTER_OF_YEAR": (1, 4),
    "IS_IN_WEEK_OF_YEAR": (1, 53), "IS_AT_HOUR_OF_DAY": (0, 23),
}  # fmt: skip


def _date_part(x: exp.Expr, f: DatePartFilter, field: str, ctx: FilterContext) -> exp.Expr:
    """``IS_ON_DAY_OF_WEEK: [Monday]`` and friends: the date's part is one of the values."""
    from sluice.model.filters import DATE_PART_KINDS

    grain = DATE_PART_KINDS[f.kind]
    part = ctx.date_part(x.copy(), grain)
    if f.kind == "IS_ON_DAY_OF_WEEK":
        names = []
        for v in f.values:
            day = v.strip().lower()
            found = [d for d in _DAY_NAMES if d.startswith(day[:3])] if len(day) >= 3 else []
            if not found:
                raise PlanError(f'Invalid filter on "{field}": {v!r} is not a day of the week')
            names.append(exp.Literal.string(found[0].capitalize()))
        return exp.In(this=part, expressions=names)
    numbers: list[exp.Expr] = []
    low, high = _PART_RANGES[f.kind]
    for v in f.values:
        text = v.strip().lower().removeprefix("q")
        if f.kind == "IS_IN_MONTH_OF_YEAR" and not text.isdigit():
            match = [i for i, m in enumerate(_MONTHS, 1) if len(text) >= 3 and m.startswith(text)]
            text = str(match[0]) if match else text
        if not text.isdigit() or not low <= int(text) <= high:
            raise PlanError(
                f'Invalid filter on "{field}": {v!r} is not a valid value for {f.kind} '
                f"({low} to {high})"
            )
        numbers.append(exp.Literal.number(int(text)))
    return exp.In(this=part, expressions=numbers)


def _user_attribute(
    x: exp.Expr, f: UserAttributeFilter, field: str, field_type: str, ctx: FilterContext
) -> exp.Expr:
    if f.name not in ctx.user_attributes or ctx.user_attributes[f.name] is None:
        raise PlanError(
            f'Invalid filter on "{field}": the user attribute "{f.name}" is not set for the '
            "user running the query"
        )
    value = ctx.user_attributes[f.name]
    values = value if isinstance(value, list | tuple) else [value]
    if field_type == "number":
        try:
            literals = [_num(Decimal(str(v))) for v in values]
        except ArithmeticError:
            raise PlanError(
                f'Invalid filter on "{field}": user attribute "{f.name}" = {value!r} is not '
                "a number"
            ) from None
    else:
        literals = [exp.Literal.string(str(v)) for v in values]
    if not literals:
        return exp.false()
    return exp.In(this=x.copy(), expressions=literals)


def balanced(op: type[exp.And] | type[exp.Or], parts: list[exp.Expr]) -> exp.Expr:
    """``a OP b OP c ...`` as a balanced tree: ``exp.or_(*parts)`` nests one level per part,
    and every later pass over a tree thousands of levels deep costs quadratic time (or the
    stack); this one is log2(n) deep and renders the same SQL."""
    level = list(parts)
    while len(level) > 1:
        paired: list[exp.Expr] = [
            op(this=level[i], expression=level[i + 1]) for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
