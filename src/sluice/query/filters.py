"""Typed filters from the query object (contract §5) -> the shared filter AST."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.errors import PlanError
from sluice.model.filters import (
    DATE_KINDS,
    NUMBER_KINDS,
    BooleanFilter,
    CompositeFilter,
    DateFilter,
    Filter,
    FilterSyntaxError,
    NullFilter,
    NumberFilter,
    StringFilter,
    to_decimal,
)

STRING_KINDS = frozenset({"EQUALS", "CONTAINS", "STARTS_WITH", "ENDS_WITH", "IS_EMPTY", "SQL_LIKE"})
FILTER_TYPES = ("string", "number", "date", "boolean", "null", "composite")


def parse_filter(field: str, spec: Any) -> Filter:
    """Parse the filter of ``field`` as sent; raise PlanError naming the field on bad input."""
    try:
        return _parse(spec)
    except FilterSyntaxError as exc:
        raise PlanError(f'Invalid filter on "{field}": {exc}') from None


def _parse(spec: Any) -> Filter:
    if isinstance(spec, str):
        raise FilterSyntaxError(
            f"plain-string filter expressions ({spec!r}) are not supported yet; send a typed "
            'filter such as {"type": "string", "kind": "EQUALS", "values": ["x"]}'
        )
    if not isinstance(spec, Mapping):
        raise FilterSyntaxError(f"a filter must be an object, got {spec!r}")
    ftype = str(spec.get("type", "")).lower()
    negative = spec.get("is_negative", False)
    if not isinstance(negative, bool):
        raise FilterSyntaxError("`is_negative` must be true or false")
    kind = str(spec.get("kind", "")).upper()
    if ftype == "string":
        return _string(spec, kind or "EQUALS", negative)
    if ftype == "number":
        return _number(spec, kind or "EQUALS", negative)
    if ftype == "date":
        return _date(spec, kind, negative)
    if ftype == "boolean":
        return BooleanFilter(
            is_negative=negative, treat_nulls_as_false=bool(spec.get("treat_nulls_as_false"))
        )
    if ftype == "null":
        return NullFilter(is_negative=negative)
    if ftype == "composite":
        conj = str(spec.get("conjunction", "AND")).upper()
        subs = spec.get("filters")
        if conj not in ("AND", "OR"):
            raise FilterSyntaxError(f"composite conjunction must be AND or OR, got {conj!r}")
        if not isinstance(subs, list) or not subs:
            raise FilterSyntaxError("a composite filter needs a non-empty `filters` list")
        return CompositeFilter(
            is_negative=negative, conjunction=conj, filters=tuple(_parse(s) for s in subs)
        )
    raise FilterSyntaxError(
        f"unknown filter type {spec.get('type')!r}; expected one of {', '.join(FILTER_TYPES)}"
    )


def _values(spec: Mapping[str, Any]) -> list[Any]:
    values = spec.get("values", [])
    if values is None:
        return []
    if not isinstance(values, list):
        return [values]
    return values


def _string(spec: Mapping[str, Any], kind: str, negative: bool) -> Filter:
    if kind not in STRING_KINDS:
        raise FilterSyntaxError(
            f"unknown string filter kind {kind!r}; expected one of "
            + ", ".join(sorted(STRING_KINDS))
        )
    values = _values(spec)
    if any(isinstance(v, Mapping | list) for v in values):
        raise FilterSyntaxError("string filter values must be strings")
    if kind != "IS_EMPTY" and not values:
        raise FilterSyntaxError(f"a {kind} string filter needs at least one value")
    return StringFilter(
        is_negative=negative,
        kind=kind,
        values=tuple("" if v is None else str(v) for v in values),
        case_insensitive=bool(spec.get("case_insensitive", False)),
    )


def _number(spec: Mapping[str, Any], kind: str, negative: bool) -> Filter:
    if kind not in NUMBER_KINDS:
        raise FilterSyntaxError(
            f"unknown number filter kind {kind!r}; expected one of "
            + ", ".join(sorted(NUMBER_KINDS))
        )
    values = tuple(to_decimal(v, "number filter") for v in _values(spec))
    wanted = 2 if kind == "BETWEEN" else None
    if wanted and len(values) != wanted:
        raise FilterSyntaxError("a BETWEEN number filter takes exactly two values [low, high]")
    if not values:
        raise FilterSyntaxError(f"a {kind} number filter needs a value")
    if kind in ("GREATER_THAN", "LESS_THAN") and len(values) != 1:
        raise FilterSyntaxError(f"a {kind} number filter takes exactly one value")
    return NumberFilter(
        is_negative=negative,
        kind=kind,
        values=values,
        is_inclusive=bool(spec.get("is_inclusive", False)),
    )


def _date(spec: Mapping[str, Any], kind: str, negative: bool) -> Filter:
    if kind not in DATE_KINDS:
        raise FilterSyntaxError(
            f"unknown date filter kind {kind!r}; expected one of {', '.join(sorted(DATE_KINDS))}"
        )
    left = spec.get("left_side")
    right = spec.get("right_side")
    if left is None or str(left).strip() == "":
        raise FilterSyntaxError(f"a {kind} date filter needs `left_side`")
    needs_right = kind in ("BETWEEN", "TIME_FOR_INTERVAL_DURATION")
    if needs_right and (right is None or str(right).strip() == ""):
        raise FilterSyntaxError(f"a {kind} date filter needs `right_side`")
    return DateFilter(
        is_negative=negative,
        kind=kind,
        left_side=str(left).strip(),
        right_side=str(right).strip() if needs_right and right is not None else None,
    )
