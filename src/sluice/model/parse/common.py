"""What every parser of a model object shares: the warehouse's type callbacks, and reading a
YAML mapping's values while reporting what does not fit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sluice.errors import did_you_mean
from sluice.model.files import line_of
from sluice.model.issues import IssueLog
from sluice.model.types import Loc

# Column name -> type of a warehouse table (None when it does not exist): (table, schema).
ColumnTypes = Callable[[str, str | None], Mapping[str, str] | None]
# Column types of a derived table's SELECT (None when the warehouse rejects it).
DerivedTypes = Callable[[str], Mapping[str, str] | None]


def expect_mapping(value: Any, loc: Loc, what: str, log: IssueLog) -> Mapping[str, Any]:
    """``value`` if it is a mapping; empty if absent; reported and empty otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        log.error(loc, f"{what} must be a mapping")
        return {}
    return value


def warn_unknown_keys(
    spec: Mapping[str, Any], allowed: frozenset[str], file: str, what: str, log: IssueLog
) -> None:
    for key in spec:
        if key not in allowed:
            loc = Loc(file, line_of(spec, key))
            log.warn(loc, f"{what}: unknown key `{key}` ignored{did_you_mean(str(key), allowed)}")


def text_of(spec: Mapping[str, Any], key: str) -> str | None:
    """The value of ``key`` as text; None when absent."""
    value = spec.get(key)
    return None if value is None else str(value)
