"""Filters -> SQL conditions (sqlglot trees).

Every user value becomes a sqlglot literal, so no value can change the statement's shape.
Substring tests use ``STRPOS`` rather than ``LIKE`` so ``%`` and ``_`` in a value match
literally. A negated value filter (``is_negative``) keeps NULL rows, as "is not X" reads:
``NOT (x = 'X') OR x IS NULL``; ``null`` filters are the exception, by definition.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlglot import exp

from sluice.compiler import dates
from sluice.errors import PlanError
from sluice.model.filters import (
    BooleanFilter,
    CompositeFilter,
    DateFilter,
    Filter,
    NullFilter,
    NumberFilter,
    StringFilter,
)


def condition(
    x: exp.Expr,
    f: Filter,
    *,
    field: str,
    now: datetime,
    week_start: str,
    is_date: bool = False,
) -> exp.Expr:
    """The condition ``f`` puts on the expression ``x`` (the field named ``field``)."""
    if isinstance(f, CompositeFilter):
        parts = [
            condition(x, sub, field=field, now=now, week_start=week_start, is_date=is_date)
            for sub in f.filters
        ]
        joined = exp.and_(*parts) if f.conjunction == "AND" else exp.or_(*parts)
        return exp.not_(exp.paren(joined)) if f.is_negative else exp.paren(joined)
    if isinstance(f, NullFilter):
        test = exp.Is(this=x.copy(), expression=exp.Null())
        return exp.not_(test) if f.is_negative else test
    if isinstance(f, BooleanFilter):
        if not f.is_negative:
            return exp.EQ(this=x.copy(), expression=exp.true())
        false = exp.EQ(this=x.copy(), expression=exp.false())
        if f.treat_nulls_as_false:
            return exp.paren(exp.or_(false, exp.Is(this=x.copy(), expression=exp.Null())))
        return false
    if isinstance(f, StringFilter):
        positive = _string(x, f)
    elif isinstance(f, NumberFilter):
        positive = _number(x, f)
    elif isinstance(f, DateFilter):
        positive = _date(x, f, field=field, now=now, week_start=week_start, is_date=is_date)
    else:  # pragma: no cover - the AST is closed
        raise PlanError(f'unsupported filter on "{field}"')
    if not f.is_negative:
        return positive
    keep_nulls = exp.Is(this=x.copy(), expression=exp.Null())
    return exp.paren(exp.or_(exp.not_(exp.paren(positive)), keep_nulls))


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
        elif f.kind == "ENDS_WITH":
            tests.append(exp.EndsWith(this=subject.copy(), expression=lit(v)))
        else:  # SQL_LIKE: the value is a LIKE pattern on purpose
            tests.append(exp.Like(this=subject.copy(), expression=lit(v)))
    return tests[0] if len(tests) == 1 else exp.paren(exp.or_(*tests))


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
    low, high = f.values
    return exp.Between(this=x.copy(), low=_num(low), high=_num(high))


def timestamp_literal(moment: datetime, as_date: bool) -> exp.Expr:
    if as_date and moment == dates.truncate(moment, "day"):
        return exp.cast(exp.Literal.string(moment.strftime("%Y-%m-%d")), exp.DataType.Type.DATE)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return exp.cast(exp.Literal.string(text), exp.DataType.Type.TIMESTAMP)


def _date(
    x: exp.Expr, f: DateFilter, *, field: str, now: datetime, week_start: str, is_date: bool
) -> exp.Expr:
    try:
        start, end = dates.resolve(f, now, week_start)
    except dates.DateLiteralError as exc:
        raise PlanError(f'Invalid date filter on "{field}": {exc}') from None
    parts: list[exp.Expr] = []
    if start is not None:
        parts.append(exp.GTE(this=x.copy(), expression=timestamp_literal(start, is_date)))
    if end is not None:
        parts.append(exp.LT(this=x.copy(), expression=timestamp_literal(end, is_date)))
    return parts[0] if len(parts) == 1 else exp.paren(exp.and_(*parts))
