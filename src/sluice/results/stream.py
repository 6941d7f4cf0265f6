"""A result streamed from the engine into its Arrow IPC stream: in memory when small, a file
when large, written once.

``write_ipc`` reads a ``RecordBatchReader`` batch by batch and writes each batch into the IPC
stream writer at once, so the whole result is never held as a table. The first batches are held
until they add up to more than ``inline_max`` bytes: a result that ends before that is one
in-memory buffer (kept inline by the job store); a larger one goes to a file in ``spill_dir``
from then on, its ``ResultFile``.

A ``ResultFile``'s own name (``<uuid>.tmp``) lives as long as the object: whoever keeps the
result beyond that (the job store, the result cache) hard-links the file under its own name
(``link``). One copy of the bytes is on disk whatever holds it, and each holder deletes only its
own name: the job store's expiry never removes what the cache still serves, nor the other way
round; the bytes go with the last name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from sluice.results.arrow import IPC_OPTIONS

SPILL_SUFFIX = ".tmp"  # a half-written or unowned file: the result cache removes them at start


class ResultFile:
    """A result's IPC stream in a file, under a private name removed when this object goes."""

    __slots__ = ("__weakref__", "_remove", "path", "size")

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._remove = weakref.finalize(self, _unlink, path)

    def open(self) -> pa.NativeFile:
        """The IPC stream, for reading batch by batch (the caller closes it)."""
        return pa.OSFile(str(self.path))

    def read_buffer(self) -> pa.Buffer:
        """The whole IPC stream as one buffer, memory-mapped (nothing is copied)."""
        return pa.memory_map(str(self.path)).read_buffer()

    def link(self, target: Path) -> bool:
        """Put the bytes at ``target`` as another name of the same file (a copy where hard
        links cannot be made). False when the file is gone."""
        return link_file(self.path, target)

    def discard(self) -> None:
        """Remove the private name now (holders' links keep the bytes)."""
        self._remove()

    def __repr__(self) -> str:
        return f"ResultFile({str(self.path)!r}, size={self.size})"


def link_file(source: Path, target: Path) -> bool:
    """Put ``source``'s bytes at ``target`` (replacing it): a hard link, else a copy; through a
    temporary name, so a reader never sees half a file. False when ``source`` is gone."""
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}{SPILL_SUFFIX}")
    try:
        os.link(source, tmp)
    except FileNotFoundError:
        return False
    except OSError:  # another file system, or links not allowed: copy
        try:
            shutil.copyfile(source, tmp)
        except FileNotFoundError:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            return False
    os.replace(tmp, target)
    return True


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@dataclass(frozen=True, slots=True)
class WrittenResult:
    data: pa.Buffer | ResultFile  # the IPC stream: in memory (small) or a file (large)
    schema: pa.Schema
    num_rows: int
    write_s: float  # time spent encoding and writing (the rest was the engine's)

    @property
    def num_bytes(self) -> int:
        return self.data.size if isinstance(self.data, ResultFile) else int(self.data.size)


def write_ipc(
    reader: pa.RecordBatchReader,
    *,
    inline_max: int,
    spill_dir: Path | None,
    check: Callable[[int], None] | None = None,
) -> WrittenResult:
    """Stream ``reader`` into one IPC stream (see the module). ``check(bytes so far)`` is called
    after every batch and may raise (a result over the server's limit): the statement is then
    left unread and a partial file is removed. Without ``spill_dir`` the result stays in
    memory whatever its size."""
    schema = reader.schema
    held: list[pa.RecordBatch] = []
    held_bytes = 0
    num_rows = 0
    write_s = 0.0
    spilled: _Spill | None = None
    try:
        for batch in reader:
            began = time.perf_counter()
            num_rows += batch.num_rows
            if spilled is not None:
                spilled.writer.write_batch(batch)
                size = spilled.sink.tell()
            else:
                held.append(batch)
                held_bytes += pa.ipc.get_record_batch_size(batch)
                size = held_bytes
                if spill_dir is not None and held_bytes > inline_max:
                    spilled = _Spill(spill_dir, schema)
                    for kept in held:
                        spilled.writer.write_batch(kept)
                    held.clear()
                    size = spilled.sink.tell()
            write_s += time.perf_counter() - began
            if check is not None:
                check(size)
        began = time.perf_counter()
        if spilled is not None:
            done = spilled.finish()
            result = WrittenResult(done, schema, num_rows, write_s)
        else:
            sink = pa.BufferOutputStream()
            with pa.ipc.RecordBatchStreamWriter(sink, schema, options=IPC_OPTIONS) as writer:
                for kept in held:
                    writer.write_batch(kept)
            buffer = sink.getvalue()
            if check is not None:
                check(int(buffer.size))
            result = WrittenResult(buffer, schema, num_rows, write_s)
    except BaseException:
        if spilled is not None:
            spilled.abort()
        raise
    return dataclasses.replace(result, write_s=write_s + time.perf_counter() - began)


class _Spill:
    """The file a large result is written to, and its IPC stream writer."""

    def __init__(self, directory: Path, schema: pa.Schema) -> None:
        self.path = directory / f"{uuid.uuid4().hex}{SPILL_SUFFIX}"
        self.sink = pa.OSFile(str(self.path), "wb")
        try:
            self.writer = pa.ipc.RecordBatchStreamWriter(self.sink, schema, options=IPC_OPTIONS)
        except BaseException:
            self.sink.close()
            _unlink(self.path)
            raise

    def finish(self) -> ResultFile:
        self.writer.close()
        size = int(self.sink.tell())
        self.sink.close()
        return ResultFile(self.path, size)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        with contextlib.suppress(Exception):
            self.sink.close()
        _unlink(self.path)
