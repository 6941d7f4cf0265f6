"""CSV, JSON and XLSX documents from an Arrow IPC stream, batch by batch."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import openpyxl
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sluice.results.arrow import BATCH_ROWS, ipc_stream
from sluice.results.columns import document_columns, unique_labels
from sluice.results.csvfile import csv_chunks
from sluice.results.documents import MEDIA_TYPES, document_chunks, too_many_rows
from sluice.results.jsonfile import json_chunks
from sluice.results.xlsxfile import MAX_ROWS

TABLE = pa.table(
    {
        "v.n": pa.array([1, None, 3], pa.int64()),
        "v.x": pa.array([1.5, float("nan"), float("inf")]),
        "v.d": pa.array([dt.date(2024, 1, 2), None, dt.date(2024, 3, 4)]),
        "v.ts": pa.array(
            [dt.datetime(2024, 1, 2, 3, 4, 5), None, None], pa.timestamp("us", tz="UTC")
        ),
        "v.s": ['a "quoted", text', None, "é"],
        "v.b": [True, False, None],
        "v.l": [[1, 2], None, []],
        "v.dec": pa.array([Decimal("1.50"), None, Decimal("-2.25")], pa.decimal128(6, 2)),
    }
)
FIELDS = {"v.n": {"label": "N"}, "v.x": {"label": "N", "format": {"value": "number_1"}}}


def test_unique_labels() -> None:
    assert unique_labels(["Count", "Count", "Count 2", "Count"]) == [
        "Count", "Count 2", "Count 2 2", "Count 3",
    ]  # fmt: skip


def test_columns_take_labels_and_applicable_formats() -> None:
    columns = document_columns(TABLE.schema, FIELDS)
    assert [c.label for c in columns][:3] == ["N", "N 2", "v.d"]
    assert columns[0].format is None and columns[1].format is not None


def test_csv_streams_one_chunk_per_batch_with_one_header() -> None:
    big = pa.table({"v.n": pa.array(range(3 * BATCH_ROWS))})
    reader = pa.ipc.open_stream(ipc_stream(big))
    chunks = list(csv_chunks(reader, document_columns(big.schema, {})))
    assert len(chunks) >= 4 and chunks[0] == b'"v.n"\n'
    assert max(len(c) for c in chunks) < 1 << 20  # never the whole document at once
    back = pacsv.read_csv(io.BytesIO(b"".join(chunks)))
    assert back.column("v.n").to_pylist() == list(range(3 * BATCH_ROWS))


def test_csv_writes_nested_values_as_json() -> None:
    text = b"".join(csv_chunks(TABLE.to_batches(), document_columns(TABLE.schema, FIELDS)))
    back = pacsv.read_csv(io.BytesIO(text))
    assert back.column("v.l").to_pylist() == ["[1, 2]", "", "[]"]  # a null is an empty field
    assert back.column("v.s").to_pylist() == ['a "quoted", text', "", "é"]


def test_json_types() -> None:
    text = b"".join(
        json_chunks(TABLE.to_batches(max_chunksize=1), document_columns(TABLE.schema, FIELDS))
    )
    rows = json.loads(text)
    assert rows[0] == {
        "N": 1, "N 2": 1.5, "v.d": "2024-01-02", "v.ts": "2024-01-02 03:04:05.000000Z",
        "v.s": 'a "quoted", text', "v.b": True, "v.l": [1, 2], "v.dec": 1.5,
    }  # fmt: skip
    assert rows[1]["N 2"] is None and rows[2]["N 2"] is None  # NaN, inf
    assert rows[2]["v.dec"] == -2.25
    formatted = json.loads(
        b"".join(
            json_chunks(TABLE.to_batches(), document_columns(TABLE.schema, FIELDS), formatted=True)
        )
    )
    assert [r["N 2"] for r in formatted] == ["1.5", "nan", "inf"]


def test_json_of_nothing_is_an_empty_array() -> None:
    assert b"".join(json_chunks([], [])) == b"[]"


@pytest.mark.parametrize("formatted", [False, True])
def test_xlsx_cells_are_typed(formatted: bool) -> None:
    data = b"".join(document_chunks("xlsx", ipc_stream(TABLE), FIELDS, formatted=formatted))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("N", "N 2", "v.d", "v.ts", "v.s", "v.b", "v.l", "v.dec")
    assert rows[1] == (1, 1.5, dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5),
                       'a "quoted", text', True, "[1, 2]", 1.5)  # fmt: skip
    assert rows[2][1] is None and rows[2][2] is None  # NaN and nulls are empty cells
    assert sheet["B2"].number_format == ("#,##0.0" if formatted else "General")
    assert sheet.freeze_panes == "A2"


def test_documents_from_an_open_file(tmp_path: pytest.TempPathFactory) -> None:
    path = f"{tmp_path}/r.arrows"
    with open(path, "wb") as out:
        out.write(ipc_stream(TABLE))
    source = pa.OSFile(path)
    text = b"".join(document_chunks("csv", source, FIELDS))
    assert source.closed and text.startswith(b'"N","N 2"')


def test_media_types_and_the_sheet_row_limit() -> None:
    assert MEDIA_TYPES["csv"] == "text/csv" and MEDIA_TYPES["json"] == "application/json"
    assert too_many_rows("xlsx", MAX_ROWS) is None
    assert "at most 1,048,575" in (too_many_rows("xlsx", MAX_ROWS + 1) or "")
    assert too_many_rows("csv", 10**9) is None
