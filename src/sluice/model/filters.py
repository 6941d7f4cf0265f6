"""The filter language: one typed AST shared by query filters and the model's YAML filters.

Query objects send typed filters (``{"type": "string", "kind": "EQUALS", ...}``, parsed in
``sluice.query``); measures and topics write the YAML syntax (``status: {is: Returned}``, parsed
here). Both become the same frozen values, which the compiler turns into SQL. Date filters keep
their literals as text: they are resolved against a clock only when compiled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

STRING_KINDS = frozenset({"EQUALS", "CONTAINS", "STARTS_WITH", "ENDS_WITH"})
NUMBER_KINDS = frozenset({"EQUALS", "GREATER_THAN", "LESS_THAN", "BETWEEN"})
DATE_KINDS = frozenset(
    {"BETWEEN", "ON_OR_AFTER", "BEFORE", "TIME_FOR_INTERVAL_DURATION", "TIME_FOR_UNIT_DURATION"}
)
# Date kinds that match a part of the date (``IS_ON_DAY_OF_WEEK: [Monday, Friday]``) -> the grain
# whose values they compare with.
DATE_PART_KINDS = {
    "IS_ON_DAY_OF_WEEK": "day_of_week_name",
    "IS_ON_DAY_OF_MONTH": "day_of_month",
    "IS_ON_DAY_OF_QUARTER": "day_of_quarter",
    "IS_ON_DAY_OF_YEAR": "day_of_year",
    "IS_IN_MONTH_OF_YEAR": "month_num",
    "IS_IN_QUARTER_OF_YEAR": "quarter_of_year",
    "IS_IN_WEEK_OF_YEAR": "week_of_year",
    "IS_AT_HOUR_OF_DAY": "hour_of_day",
}


class FilterSyntaxError(ValueError):
    """A filter is malformed; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Filter:
    is_negative: bool


@dataclass(frozen=True, slots=True)
class StringFilter(Filter):
    kind: str
    values: tuple[str, ...]
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class NumberFilter(Filter):
    kind: str
    values: tuple[Decimal, ...]
    is_inclusive: bool = False


@dataclass(frozen=True, slots=True)
class DateFilter(Filter):
    kind: str
    left_side: str
    right_side: str | None = None


@dataclass(frozen=True, slots=True)
class DatePartFilter(Filter):
    """The date's part (day of week, month, hour, ...) is one of ``values``."""

    kind: str  # a key of DATE_PART_KINDS
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserAttributeFilter(Filter):
    """The field equals (one of) the running user's values of the attribute ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class LegacyFilter(Filter):
    """A plain-string filter expression (``"last 90 days"``, ``">100"``); the compiler reads it
    by the field's type (``sluice.query.legacy``)."""

    expression: str


@dataclass(frozen=True, slots=True)
class NullFilter(Filter):
    """IS NULL; negated, IS NOT NULL."""


@dataclass(frozen=True, slots=True)
class BooleanFilter(Filter):
    """True; negated, false. ``treat_nulls_as_false`` makes NULL count as false."""

    treat_nulls_as_false: bool = False


@dataclass(frozen=True, slots=True)
class CompositeFilter(Filter):
    conjunction: str  # "AND" | "OR"
    filters: tuple[Filter, ...]


def to_decimal(value: Any, what: str) -> Decimal:
    """A number value as sent (number or numeric string) as an exact Decimal."""
    if isinstance(value, bool):
        raise FilterSyntaxError(f"{what}: {value!r} is not a number")
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise FilterSyntaxError(f"{what}: {value!r} is not a number") from None
        if number.is_finite():
            return number
    raise FilterSyntaxError(f"{what}: {value!r} is not a number")


# -- the YAML syntax (measure and topic filters) --------------------------------------------------

_NUMBER_OPS = {
    "greater_than": ("GREATER_THAN", False),
    "greater_than_or_equal_to": ("GREATER_THAN", True),
    "less_than": ("LESS_THAN", False),
    "less_than_or_equal_to": ("LESS_THAN", True),
}
_STRING_OPS = {"contains": "CONTAINS", "starts_with": "STARTS_WITH", "ends_with": "ENDS_WITH"}
YAML_OPERATORS = frozenset(
    {
        "is",
        "between",
        "before",
        "on_or_after",
        "between_dates",
        "time_for_duration",
        "or",
        "and",
        *_NUMBER_OPS,
        *_STRING_OPS,
    }
)


def parse_yaml_filter(spec: Any, field_type: str | None = None) -> Filter:
    """Parse one field's YAML filter (``{is: Returned}``, ``{not_contains: x}``, ...).

    ``field_type`` (``string``, ``number``, ``timestamp``, ``date``, ``boolean``) decides how an
    ``is`` value is read; without it, the value's own YAML type decides.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise FilterSyntaxError(f"a filter must be a mapping of operator to value, got {spec!r}")
    parts = [_parse_operator(str(op), value, field_type) for op, value in spec.items()]
    if len(parts) == 1:
        return parts[0]
    return CompositeFilter(is_negative=False, conjunction="AND", filters=tuple(parts))


def _parse_operator(op: str, value: Any, field_type: str | None) -> Filter:
    negative = op.startswith("not_")
    name = op[4:] if negative else op
    if op == "not":  # ``not: X`` is the negation of ``is: X``
        negative, name = True, "is"
    if name not in YAML_OPERATORS:
        raise FilterSyntaxError(
            f"unknown filter operator `{op}`; expected one of "
            + ", ".join(sorted(YAML_OPERATORS | {"not"}))
        )
    if name in ("or", "and"):
        if not isinstance(value, list) or not value:
            raise FilterSyntaxError(f"`{op}` takes a non-empty list of filters")
        subs = tuple(parse_yaml_filter(v, field_type) for v in value)
        return CompositeFilter(is_negative=negative, conjunction=name.upper(), filters=subs)
    if name == "is":
        return _parse_is(value, negative, field_type)
    if name in _NUMBER_OPS:
        kind, inclusive = _NUMBER_OPS[name]
        number = to_decimal(value, f"`{op}`")
        return NumberFilter(
            is_negative=negative, kind=kind, values=(number,), is_inclusive=inclusive
        )
    if name in _STRING_OPS:
        values = tuple(str(v) for v in (value if isinstance(value, list) else [value]))
        return StringFilter(is_negative=negative, kind=_STRING_OPS[name], values=values)
    if name == "between":
        low, high = _pair(value, op)
        if field_type in ("timestamp", "date"):
            return DateFilter(is_negative=negative, kind="BETWEEN", left_side=low, right_side=high)
        numbers = (to_decimal(low, f"`{op}`"), to_decimal(high, f"`{op}`"))
        return NumberFilter(is_negative=negative, kind="BETWEEN", values=numbers)
    if name == "between_dates":
        low, high = _pair(value, op)
        return DateFilter(is_negative=negative, kind="BETWEEN", left_side=low, right_side=high)
    if name == "before":
        return DateFilter(is_negative=negative, kind="BEFORE", left_side=str(value))
    if name == "on_or_after":
        return DateFilter(is_negative=negative, kind="ON_OR_AFTER", left_side=str(value))
    # time_for_duration: [start, duration]
    start, duration = _pair(value, op)
    return DateFilter(
        is_negative=negative,
        kind="TIME_FOR_INTERVAL_DURATION",
        left_side=start,
        right_side=duration,
    )


def _pair(value: Any, op: str) -> tuple[str, str]:
    if not isinstance(value, list) or len(value) != 2:
        raise FilterSyntaxError(f"`{op}` takes a list of two values, got {value!r}")
    return str(value[0]), str(value[1])


def _parse_is(value: Any, negative: bool, field_type: str | None) -> Filter:
    if value is None:
        return NullFilter(is_negative=negative)
    values = value if isinstance(value, list) else [value]
    if not values:
        raise FilterSyntaxError("`is` takes a value or a non-empty list of values")
    if any(v is None for v in values):
        raise FilterSyntaxError("`is: null` cannot be mixed with other values; use `or`")
    if field_type == "boolean" or (field_type is None and all(isinstance(v, bool) for v in values)):
        if len(values) != 1 or not isinstance(values[0], bool):
            raise FilterSyntaxError(f"a boolean filter takes true or false, got {value!r}")
        return BooleanFilter(is_negative=negative != (not values[0]))
    if field_type == "number" or (
        field_type is None and all(isinstance(v, int | float) for v in values)
    ):
        numbers = tuple(to_decimal(v, "`is`") for v in values)
        return NumberFilter(is_negative=negative, kind="EQUALS", values=numbers)
    if field_type in ("timestamp", "date"):
        if len(values) != 1:
            raise FilterSyntaxError("a date `is` filter takes one period, such as `2024-03`")
        return DateFilter(is_negative=negative, kind="TIME_FOR_UNIT_DURATION", left_side=str(value))
    return StringFilter(is_negative=negative, kind="EQUALS", values=tuple(str(v) for v in values))
