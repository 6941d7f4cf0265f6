"""``resultType`` documents (contract §7): a finished result as one CSV, JSON or XLSX document,
or (``arrow``, a sluice extension) as the Arrow IPC stream itself.

The source is the encoded result itself (the Arrow IPC stream a job or the cache holds), read
one record batch at a time; nothing here needs the whole result as Python objects or the whole
document in memory. An ``arrow`` body is that stream's bytes as they are stored, in chunks: it
is never decoded nor re-encoded, so it is exactly what the NDJSON line's base64 ``result`` holds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa

from sluice.results.columns import document_columns
from sluice.results.csvfile import csv_chunks
from sluice.results.jsonfile import json_chunks
from sluice.results.xlsxfile import MAX_ROWS, write_xlsx

MEDIA_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "arrow": "application/vnd.apache.arrow.stream",
}
# The file name each document is offered under (IANA: ``.arrows`` for the Arrow stream format).
FILE_NAMES = {kind: f"result.{kind}" for kind in MEDIA_TYPES} | {"arrow": "result.arrows"}
_CHUNK = 1 << 20

IpcSource: TypeAlias = "pa.Buffer | pa.NativeFile"  # an Arrow IPC stream, in memory or an open file


def too_many_rows(result_type: str, num_rows: int) -> str | None:
    """Why a result of ``num_rows`` cannot be this document, or None."""
    if result_type == "xlsx" and num_rows > MAX_ROWS:
        return (
            f"the result has {num_rows:,} rows and a spreadsheet holds at most {MAX_ROWS:,}; "
            'add filters, lower the limit or ask for resultType "csv"'
        )
    return None


def ipc_size(source: IpcSource) -> int | None:
    """The number of bytes ``ipc_chunks`` will send (None when a file cannot tell)."""
    if isinstance(source, pa.Buffer):
        return int(source.size)
    try:
        return int(source.size()) - int(source.tell())
    except (OSError, pa.ArrowException):
        return None


def ipc_chunks(source: IpcSource, chunk: int = _CHUNK) -> Iterator[bytes | memoryview]:
    """The stored Arrow IPC stream as it is, ``chunk`` bytes at a time (views of an in-memory
    buffer: no copy; reads of a file from its current position, closed at the end). Blocking for
    a file: iterate it in a worker thread."""
    if isinstance(source, pa.Buffer):
        view = memoryview(source)
        for start in range(0, len(view), chunk):
            yield view[start : start + chunk]
        return
    try:
        while block := source.read(chunk):
            yield block
    finally:
        source.close()


def document_chunks(
    result_type: str,
    source: IpcSource,
    fields: Mapping[str, Mapping[str, Any]],
    *,
    formatted: bool = False,
    temp_dir: Path | None = None,
) -> Iterator[bytes | memoryview]:
    """The document's bytes, in chunks. Blocking: iterate it in a worker thread."""
    if result_type == "arrow":
        yield from ipc_chunks(source)
        return
    reader = pa.ipc.open_stream(source)
    try:
        columns = document_columns(reader.schema, fields)
        if result_type == "csv":
            yield from csv_chunks(reader, columns, formatted=formatted)
        elif result_type == "json":
            yield from json_chunks(reader, columns, formatted=formatted)
        elif result_type == "xlsx":
            with tempfile.TemporaryFile(dir=temp_dir) as out:
                write_xlsx(reader, columns, out, formatted=formatted)
                out.seek(0)
                yield from iter(lambda: out.read(_CHUNK), b"")
        else:
            raise ValueError(f"unknown result type {result_type!r}")
    finally:
        reader.close()
        if isinstance(source, pa.NativeFile):
            source.close()
