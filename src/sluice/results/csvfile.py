"""A result as CSV, streamed: one record batch in, one chunk of CSV text out.

``pyarrow.csv.CSVWriter`` does the encoding (vectorised, off the GIL); the text of one batch
is handed on and dropped before the next batch is read, so a million-row export never holds
the whole CSV in memory. The header is the columns' labels.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from sluice.results.columns import Column, is_nested, nested_as_json

_OPTIONS = pacsv.WriteOptions(include_header=True, batch_size=16_384)


def output_schema(columns: Sequence[Column], *, formatted: bool) -> pa.Schema:
    def kind(c: Column) -> pa.DataType:
        if (formatted and c.format is not None) or is_nested(c.arrow_type):
            return pa.string()
        return c.arrow_type

    return pa.schema([pa.field(c.label, kind(c)) for c in columns])


def prepare_batch(
    batch: pa.RecordBatch, columns: Sequence[Column], schema: pa.Schema, *, formatted: bool
) -> pa.RecordBatch:
    """``batch`` with the document's column labels, formats and text for nested values."""
    arrays = []
    for i, column in enumerate(columns):
        array = batch.column(i)
        if formatted and column.format is not None:
            array = column.formatted(array)
        elif is_nested(column.arrow_type):
            array = nested_as_json(array)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def csv_chunks(
    batches: Iterable[pa.RecordBatch], columns: Sequence[Column], *, formatted: bool = False
) -> Iterator[bytes]:
    schema = output_schema(columns, formatted=formatted)
    sink = io.BytesIO()
    writer = pacsv.CSVWriter(sink, schema, write_options=_OPTIONS)
    try:
        yield _drain(sink)  # the header
        for batch in batches:
            writer.write_batch(prepare_batch(batch, columns, schema, formatted=formatted))
            chunk = _drain(sink)
            if chunk:
                yield chunk
    finally:
        writer.close()
    tail = _drain(sink)
    if tail:
        yield tail


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate(0)
    return data
