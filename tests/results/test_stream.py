"""``write_ipc``: a reader streamed into one IPC stream, in memory when small and a file when
large; ``ResultFile``: one file, many names, each holder removing only its own."""

from __future__ import annotations

import gc
from pathlib import Path

import pyarrow as pa
import pytest

from sluice.results.arrow import ipc_stream, read_ipc_stream
from sluice.results.stream import ResultFile, write_ipc


class TooLarge(Exception):
    pass


def table(rows: int) -> pa.Table:
    return pa.table(
        {"n": pa.array(range(rows), pa.int64()), "s": [f"row {i}" for i in range(rows)]}
    )


def reader(t: pa.Table, chunk: int = 1000) -> pa.RecordBatchReader:
    return t.to_reader(max_chunksize=chunk)


def test_a_small_result_stays_in_memory(tmp_path: Path) -> None:
    t = table(100)
    written = write_ipc(reader(t), inline_max=1 << 20, spill_dir=tmp_path)
    assert isinstance(written.data, pa.Buffer) and written.num_rows == 100
    assert read_ipc_stream(written.data).equals(t)
    assert written.data.equals(ipc_stream(t))  # the same bytes as encoding the whole table
    assert not list(tmp_path.iterdir())


def test_a_large_result_goes_to_one_file_that_reads_back_whole(tmp_path: Path) -> None:
    t = table(50_000)
    written = write_ipc(reader(t), inline_max=64 * 1024, spill_dir=tmp_path)
    data = written.data
    assert isinstance(data, ResultFile) and data.path.parent == tmp_path
    assert data.size == data.path.stat().st_size == written.num_bytes > 64 * 1024
    assert read_ipc_stream(data.read_buffer()).equals(t)
    with pa.ipc.open_stream(data.open()) as stream:
        assert stream.read_all().equals(t)


def test_without_a_spill_dir_a_large_result_stays_in_memory(tmp_path: Path) -> None:
    t = table(50_000)
    written = write_ipc(reader(t), inline_max=1024, spill_dir=None)
    assert isinstance(written.data, pa.Buffer)
    assert read_ipc_stream(written.data).equals(t)


def test_the_size_check_stops_the_stream_and_removes_the_partial_file(tmp_path: Path) -> None:
    seen: list[int] = []

    def check(size: int) -> None:
        seen.append(size)
        if size > 300_000:
            raise TooLarge(size)

    consumed = []

    def batches() -> object:
        for batch in table(200_000).to_batches(max_chunksize=1000):
            consumed.append(batch.num_rows)
            yield batch

    source = pa.RecordBatchReader.from_batches(table(1).schema, batches())
    with pytest.raises(TooLarge):
        write_ipc(source, inline_max=64 * 1024, spill_dir=tmp_path, check=check)
    assert not list(tmp_path.iterdir())
    assert seen == sorted(seen) and seen[-1] > 300_000
    assert sum(consumed) < 200_000  # stopped early: the rest was never read


def test_a_result_files_own_name_goes_with_it_and_links_keep_the_bytes(tmp_path: Path) -> None:
    t = table(50_000)
    written = write_ipc(reader(t), inline_max=1024, spill_dir=tmp_path)
    data = written.data
    assert isinstance(data, ResultFile)
    spool = data.path
    kept, cached = tmp_path / "job.arrows", tmp_path / "entry.arrows"
    assert data.link(kept) and data.link(cached)
    assert kept.stat().st_ino == cached.stat().st_ino == spool.stat().st_ino
    assert spool.stat().st_nlink == 3
    del data, written
    gc.collect()
    assert not spool.exists() and kept.stat().st_nlink == 2
    cached.unlink()  # the cache evicts its entry: the job's name still reads
    assert read_ipc_stream(pa.py_buffer(kept.read_bytes())).equals(t)


def test_linking_a_file_that_is_gone_says_so(tmp_path: Path) -> None:
    gone = ResultFile(tmp_path / "missing.tmp", 10)
    assert not gone.link(tmp_path / "target.arrows")
    assert not (tmp_path / "target.arrows").exists()
