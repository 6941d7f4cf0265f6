"""A result as a JSON array of row objects keyed by column label, streamed batch by batch.

Values keep their JSON types (numbers, strings, booleans, null); dates and timestamps are
ISO text (``2024-03-01``, ``2024-03-01 10:30:00``, with ``Z`` when the column has a time zone),
decimals are numbers, NaN and infinities are null, lists and structs are nested JSON. With
``formatResults`` a formatted column's values are its display strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sluice.results.columns import Column, finite_or_null

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)


def json_values(array: pa.Array | pa.ChunkedArray, column: Column, *, formatted: bool) -> list[Any]:
    """One column's values, ready for the JSON encoder."""
    kind = array.type
    if formatted and column.format is not None:
        ready = column.formatted(array)
    elif pa.types.is_temporal(kind) and not pa.types.is_duration(kind):
        ready = pc.cast(array, pa.string())
    elif pa.types.is_decimal(kind):
        ready = pc.cast(array, pa.float64())
    else:
        ready = finite_or_null(array)
    values: list[Any] = ready.to_pylist()
    return values


def json_chunks(
    batches: Iterable[pa.RecordBatch], columns: Sequence[Column], *, formatted: bool = False
) -> Iterator[bytes]:
    labels = [c.label for c in columns]
    yield b"["
    first = True
    for batch in batches:
        if batch.num_rows == 0:
            continue
        values = [
            json_values(batch.column(i), column, formatted=formatted)
            for i, column in enumerate(columns)
        ]
        rows = [dict(zip(labels, row, strict=True)) for row in zip(*values, strict=True)]
        text = _ENCODER.encode(rows)[1:-1]  # the rows without the enclosing brackets
        yield (text if first else "," + text).encode()
        first = False
    yield b"]"
