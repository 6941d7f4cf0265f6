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
_OPTIONS = pa.ipc.IpcWriteOptions()


def ipc_stream(table: pa.Table) -> pa.Buffer:
    """Serialize ``table`` as an Arrow IPC stream (schema message, batches, end-of-stream)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.RecordBatchStreamWriter(sink, table.schema, options=_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue()


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
