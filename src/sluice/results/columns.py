"""The columns of a result document (CSV, JSON, XLSX): header labels, types and formats.

Documents are headed by each field's **label** (``summary.fields[name].label``), not its name.
Labels need not be unique (two views may both have a "Count"), so repeats get a number:
"Count", "Count 2", "Count 3".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sluice.results.formats import ValueFormat, applies_to, format_array, parse_format


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the result column (field name as requested)
    label: str  # the unique header
    arrow_type: pa.DataType
    format: ValueFormat | None  # recognised and applicable to this column's values

    def formatted(self, array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """The values as display strings when the column has a format, else unchanged."""
        return array if self.format is None else format_array(array, self.format)


def unique_labels(labels: Iterable[str]) -> list[str]:
    """Number repeated labels: ["Count", "Count"] -> ["Count", "Count 2"]."""
    taken: set[str] = set()
    out: list[str] = []
    for label in labels:
        candidate, n = label, 1
        while candidate in taken:
            n += 1
            candidate = f"{label} {n}"
        taken.add(candidate)
        out.append(candidate)
    return out


def document_columns(schema: pa.Schema, fields: Mapping[str, Mapping[str, Any]]) -> list[Column]:
    """One column per result column, described by ``summary.fields`` (missing: named as is)."""
    labels = unique_labels(str((fields.get(f.name) or {}).get("label") or f.name) for f in schema)
    columns = []
    for field, label in zip(schema, labels, strict=True):
        fmt = parse_format(_format_name(fields.get(field.name)))
        if fmt is not None and not applies_to(fmt, field.type):
            fmt = None
        columns.append(Column(field.name, label, field.type, fmt))
    return columns


def _format_name(meta: Mapping[str, Any] | None) -> str | None:
    value = (meta or {}).get("format")
    if isinstance(value, Mapping):
        value = value.get("value")
    return value if isinstance(value, str) else None


def is_nested(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
        or pa.types.is_struct(arrow_type)
        or pa.types.is_map(arrow_type)
    )


def nested_as_json(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Lists, structs and maps as JSON text (CSV and spreadsheets have no nested cells)."""
    return pa.array(
        [None if v is None else json.dumps(v, default=str) for v in array.to_pylist()],
        pa.string(),
    )


def finite_or_null(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Floating-point NaN and infinities become nulls (JSON and spreadsheets have neither)."""
    if not pa.types.is_floating(array.type):
        return array
    bad = pc.fill_null(pc.or_(pc.is_nan(array), pc.is_inf(array)), False)
    if not pc.any(bad).as_py():
        return array
    return pc.if_else(bad, pa.scalar(None, array.type), array)


def labels_of(columns: Sequence[Column]) -> list[str]:
    return [c.label for c in columns]
