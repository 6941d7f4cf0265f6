"""Typed filters from the query object (contract §5) -> the shared filter AST."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.errors import PlanError
from sluice.model.filters import (
    DATE_KINDS,
    DATE_PART_KINDS,
    NUMBER_KINDS,
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
    to_decimal,
)

STRING_KINDS = frozenset({"EQUALS", "CONTAINS", "STARTS_WITH", "ENDS_WITH", "IS_EMPTY", "SQL_LIKE"})
FILTER_TYPES = ("string", "number", "date", "boolean", "null", "composite", "user_attribute")


def parse_filter(field: str, spec: Any) -> Filter | None:
    """Parse the filter of ``field`` as sent; raise PlanError naming the field on bad input.

    None means the filter selects nothing to filter: ``cancel_query_filter: true``, or a boolean
    filter without ``is_negative`` (a placeholder Omni ignores).
    """
    try:
        return _parse(spec)
    except FilterSyntaxError as exc:
        raise PlanError(f'Invalid filter on "{field}": {exc}') from None


def ignore_if_unjoinable(spec: Any) -> bool:
    return isinstance(spec, Mapping) and spec.get("ignore_if_unjoinable") is True


def _parse(spec: Any) -> Filter | None:
    if isinstance(spec, str):
        if not spec.strip():
            raise FilterSyntaxError("an empty filter expression")
        return LegacyFilter(is_negative=False, expression=spec.strip())
    if not isinstance(spec, Mapping):
        raise FilterSyntaxError(f"a filter must be an object, got {spec!r}")
    if spec.get("cancel_query_filter") is True:
        return None
    ftype = str(spec.get("type", "")).lower()
    negative = spec.get("is_negative")
    if ftype == "boolean" and negative is None:
        return None
    negative = False if negative is None else negative
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
        parts = tuple(p for p in (_parse(s) for s in subs) if p is not None)
        if not parts:
            return None
        return CompositeFilter(is_negative=negative, conjunction=conj, filters=parts)
    if ftype == "user_attribute":
        name = spec.get("user_attribute_name")
        if not isinstance(name, str) or not name:
            raise FilterSyntaxError("a user_attribute filter needs `user_attribute_name`")
        return UserAttributeFilter(is_negative=negative, name=name)
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
    if kind in DATE_PART_KINDS:
        values = _values(spec) or _split(spec.get("left_side"))
        if not values:
            raise FilterSyntaxError(f"a {kind} date filter needs `values`")
        return DatePartFilter(is_negative=negative, kind=kind, values=tuple(str(v) for v in values))
    if kind not in DATE_KINDS:
        known = sorted(DATE_KINDS | set(DATE_PART_KINDS))
        raise FilterSyntaxError(
            f"unknown date filter kind {kind!r}; expected one of {', '.join(known)}"
        )
    left = _side(spec.get("left_side"))
    right = _side(spec.get("right_side"))
    if kind == "BEFORE":  # Omni puts BEFORE's bound on the right (older clients: the left)
        left, right = right or left, None
    if left is None:
        side = "right_side" if kind == "BEFORE" else "left_side"
        raise FilterSyntaxError(f"a {kind} date filter needs `{side}`")
    needs_right = kind in ("BETWEEN", "TIME_FOR_INTERVAL_DURATION")
    if needs_right and right is None:
        raise FilterSyntaxError(f"a {kind} date filter needs `right_side`")
    return DateFilter(
        is_negative=negative, kind=kind, left_side=left, right_side=right if needs_right else None
    )


def _side(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    return [part.strip() for part in str(value).split(",") if part.strip()]
