"""Arrow table -> Arrow IPC *stream* bytes -> standard base64, as a job line's ``result`` carries.

Every official client reads ``result`` with an IPC *stream* reader (``pa.ipc.open_stream``), so
the file format would break them. The table is encoded once; the base64 text is what goes on the
wire and the IPC bytes are what the job store keeps on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pybase64


@dataclass(frozen=True, slots=True)
class EncodedResult:
    """One result, encoded: the IPC stream bytes and their base64 text (ASCII bytes)."""

    ipc: pa.Buffer
    b64: bytes
    num_rows: int

    @property
    def num_bytes(self) -> int:
        return int(self.ipc.size)


# Explicit options: ``pa.ipc.new_stream`` re-reads its defaults from the environment per call.
IPC_OPTIONS = pa.ipc.IpcWriteOptions()
# Rows per record batch on the wire: readers of a large result (the CSV writer, a client's
# stream reader) then hold one batch at a time, not the whole result.
BATCH_ROWS = 65_536


def ipc_stream(table: pa.Table) -> pa.Buffer:
    """Serialize ``table`` as an Arrow IPC stream (schema message, batches, end-of-stream).

    Two passes: the first only measures (no bytes are copied), so the second writes into one
    buffer of exactly the right size instead of a growing one (no re-allocation copies, and no
    peak of twice the result while a buffer doubles).
    """
    mock = pa.MockOutputStream()
    _write(mock, table)
    buffer = pa.allocate_buffer(mock.size())
    _write(pa.FixedSizeBufferWriter(buffer), table)
    return buffer


def ipc_size(table: pa.Table) -> int:
    """The size of ``table``'s IPC stream, measured without writing it."""
    mock = pa.MockOutputStream()
    _write(mock, table)
    return int(mock.size())


def _write(sink: pa.NativeFile, table: pa.Table) -> None:
    with pa.ipc.RecordBatchStreamWriter(sink, table.schema, options=IPC_OPTIONS) as writer:
        writer.write_table(table, max_chunksize=BATCH_ROWS)


def b64encode(data: bytes | pa.Buffer) -> bytes:
    """Standard (RFC 4648, padded, ``+/``) base64, SIMD-accelerated by pybase64."""
    return pybase64.b64encode(memoryview(data))


def encode_table(table: pa.Table) -> EncodedResult:
    ipc = ipc_stream(table)
    return EncodedResult(ipc=ipc, b64=b64encode(ipc), num_rows=table.num_rows)


def decode_table(b64: str | bytes) -> pa.Table:
    """The inverse, as the clients do it (used by tests and the bench)."""
    raw = pybase64.b64decode(b64, validate=True)
    with pa.ipc.open_stream(pa.BufferReader(raw)) as reader:
        return reader.read_all()


def read_ipc_stream(data: bytes | pa.Buffer) -> pa.Table:
    with pa.ipc.open_stream(pa.BufferReader(data)) as reader:
        return reader.read_all()
