"""Warehouse type names -> sluice data types (``number``, ``string``, ``date``, ``timestamp``,
``boolean``, ``unknown``), as one table of data per engine (like ``compiler.dialects``).

A ``TypeNames`` table matches a type name, case-insensitively and with spaces normalised, first
against its exact names, then against its prefixes (longest first), and answers ``unknown``
otherwise. Adding a type is adding an entry, not a branch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TypeNames:
    exact: Mapping[str, str]
    prefixes: Mapping[str, str] = field(default_factory=dict)
    # Reduces a full type name to the name the tables hold (Trino: `timestamp(3) with time
    # zone` -> `timestamp`); None: the name itself.
    base: Callable[[str], str] | None = None

    def data_type(self, type_name: str) -> str:
        name = " ".join(type_name.lower().split())
        if self.base is not None:
            name = self.base(name)
        found = self.exact.get(name)
        if found is not None:
            return found
        for prefix in sorted(self.prefixes, key=len, reverse=True):
            if name.startswith(prefix):
                return self.prefixes[prefix]
        return UNKNOWN


def names(data_type: str, *type_names: str) -> dict[str, str]:
    """``{name: data_type}`` for several names of one data type (a table-building helper)."""
    return dict.fromkeys(type_names, data_type)
