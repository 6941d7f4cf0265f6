"""Small vectorised helpers shared by the post-query passes: group ids, masked takes, casts, text.

Group ids are the workhorse. ``group_ids(table, names)`` numbers the distinct combinations of
``names`` in the order they first appear, treating NULL as an ordinary value (two NULLs are the
same group), so joins and pivots built on it are null-safe without a per-row Python loop.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NULL_TEXT = "∅"


def _column_codes(column: pa.ChunkedArray | pa.Array) -> tuple[IntArray, int]:
    """Codes of one column's values (first-appearance order, NULL is a value) and their count."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_null(array.type):
        return np.zeros(len(array), dtype=np.int64), 1
    try:
        encoded = pc.dictionary_encode(array, null_encoding="encode")
    except pa.ArrowNotImplementedError:  # nested types: hash their Python form (small results)
        seen: dict[str, int] = {}
        codes = [seen.setdefault(repr(v), len(seen)) for v in array.to_pylist()]
        return np.asarray(codes, dtype=np.int64), len(seen)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return indices, len(encoded.dictionary)


def group_ids(table: pa.Table, names: Sequence[str]) -> tuple[IntArray, int]:
    """Dense ids ``0..count-1`` of the combinations of ``names``, numbered by first appearance.

    With no names every row is in group 0 (and ``count`` is 1 unless the table is empty).
    """
    rows = table.num_rows
    ids = np.zeros(rows, dtype=np.int64)
    if not names:
        return ids, 1 if rows else 0
    count = 0
    for position, name in enumerate(names):
        codes, cardinality = _column_codes(table.column(name))
        if position == 0:
            ids, count = codes, cardinality
        else:  # combine, then re-densify so the next product stays below rows**2
            ids, count = _column_codes(pa.array(ids * cardinality + codes))
    return ids, count


def first_rows(ids: IntArray) -> IntArray:
    """For dense ids numbered by first appearance: the row index where each id first appears."""
    _, index = np.unique(ids, return_index=True)
    return index.astype(np.int64, copy=False)


def masked_take(column: pa.ChunkedArray | pa.Array, index: IntArray) -> pa.Array:
    """``column.take(index)`` where a negative index gives NULL."""
    indices = pa.array(index, type=pa.int64(), mask=index < 0)
    taken = column.take(indices)
    return taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken


def match_rows(left: pa.Table, right: pa.Table, keys: Sequence[str]) -> IntArray:
    """For each row of ``left``, the index of the last ``right`` row with equal ``keys`` (else -1).

    NULL equals NULL. ``right``'s key columns are cast to ``left``'s types where they differ.
    """
    if not keys:
        last = right.num_rows - 1
        return np.full(left.num_rows, last if last >= 0 else -1, dtype=np.int64)
    columns = {}
    for key in keys:
        lcol = left.column(key).combine_chunks()
        rcol = right.column(key).combine_chunks()
        lcol, rcol = unify(lcol, rcol)
        columns[key] = pa.concat_arrays([lcol, rcol])
    ids, count = group_ids(pa.table(columns), keys)
    left_ids, right_ids = ids[: left.num_rows], ids[left.num_rows :]
    position = np.full(count, -1, dtype=np.int64)
    position[right_ids] = np.arange(right.num_rows, dtype=np.int64)
    return position[left_ids]


def unify(a: pa.Array, b: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Bring two arrays to one type: one to the other's when safe, else float64 or text.

    Used where totals meet the result; it never raises (as a last resort ``b`` becomes NULL).
    """
    if a.type == b.type:
        return a, b
    for target in (a.type, b.type):
        try:
            return a.cast(target), b.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue
    if _numeric(a.type) and _numeric(b.type):
        return a.cast(pa.float64(), safe=False), b.cast(pa.float64(), safe=False)
    try:
        return a.cast(pa.string()), b.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return a, pa.nulls(len(b), type=a.type)  # irreconcilable: ``b``'s values are lost


def append(column: pa.ChunkedArray | pa.Array, tail: pa.Array) -> pa.Array:
    """``column`` followed by ``tail``, reconciling their types with :func:`unify`."""
    head = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    head, tail = unify(head, tail)
    return pa.concat_arrays([head, tail])


def _numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def is_numeric(kind: pa.DataType) -> bool:
    """Integer, floating, decimal, or all-NULL: usable as a number."""
    return _numeric(kind) or bool(pa.types.is_null(kind))


def scalar_values(array: pa.Array) -> list[Any]:
    """Python values of a small array, timestamps at microsecond precision (never pandas)."""
    if pa.types.is_timestamp(array.type) and array.type.unit == "ns":
        array = array.cast(pa.timestamp("us", tz=array.type.tz), safe=False)
    return list(array.to_pylist())


def render(value: Any) -> str:
    """A pivot value as the text of a column name (see ``sluice.postquery.pivot``)."""
    if value is None:
        return NULL_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}.{value.microsecond:06d}" if value.microsecond else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        text = str(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def json_value(value: Any) -> Any:
    """A pivot value as JSON carries it: dates and timestamps as text, decimals as numbers."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.date | dt.datetime):
        return render(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)
