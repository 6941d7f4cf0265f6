"""Arrow IPC stream + base64: what every client decodes with ``pa.ipc.open_stream``."""

from __future__ import annotations

import base64
import datetime as dt
import decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.results.arrow import b64encode, decode_table, encode_table

ints = st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=50)
texts = st.lists(st.one_of(st.none(), st.text(max_size=20)), max_size=50)


@settings(max_examples=50, deadline=None)
@given(ints, texts)
def test_round_trip_through_the_stream_reader(
    numbers: list[int | None], words: list[str | None]
) -> None:
    n = min(len(numbers), len(words))
    table = pa.table(
        {
            "view.count": pa.array(numbers[:n], pa.int64()),
            "view.name[x]": pa.array(words[:n], pa.string()),
        }
    )
    encoded = encode_table(table)
    assert encoded.num_rows == n
    # Standard padded base64, exactly what the SDK's base64.b64decode expects.
    assert encoded.b64 == base64.b64encode(encoded.ipc.to_pybytes())
    with pa.ipc.open_stream(pa.BufferReader(base64.b64decode(encoded.b64))) as reader:
        assert reader.read_all().equals(table)


def test_the_payload_is_a_stream_not_a_file() -> None:
    encoded = encode_table(pa.table({"a": [1]}))
    with pytest.raises(pa.ArrowInvalid):
        pa.ipc.open_file(pa.BufferReader(encoded.ipc))


def test_typical_result_types_survive() -> None:
    table = pa.table(
        {
            "d": pa.array([dt.date(2024, 1, 1), None]),
            "ts": pa.array([dt.datetime(2024, 1, 1, 12), None], pa.timestamp("us")),
            "dec": pa.array([decimal.Decimal("1.25"), None], pa.decimal128(38, 2)),
            "b": pa.array([True, None]),
            "f": pa.array([1.5, None]),
        }
    )
    assert decode_table(encode_table(table).b64).equals(table)


def test_empty_tables_keep_their_schema() -> None:
    table = pa.table({"a": pa.array([], pa.int64())})
    decoded = decode_table(b64encode(encode_table(table).ipc))
    assert decoded.schema == table.schema and decoded.num_rows == 0
