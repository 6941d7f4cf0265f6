"""``GetSqlInfo``: what this Flight SQL server is and supports, as the spec's dense union."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

# SqlInfo ids (FlightSql.proto) -> value. str: string_value, bool: bool_value, int: int32_bitmask
# where the spec says bitmask/enum (kept as small ints here), else bigint_value.
SERVER_NAME, SERVER_VERSION, SERVER_ARROW_VERSION = 0, 1, 2
SERVER_READ_ONLY, SERVER_SQL, SERVER_SUBSTRAIT = 3, 4, 5
SERVER_TRANSACTION, SERVER_CANCEL = 8, 9
SQL_DDL_CATALOG, SQL_DDL_SCHEMA, SQL_DDL_TABLE = 500, 501, 502
SQL_IDENTIFIER_QUOTE_CHAR = 504

VALUE_TYPE = pa.dense_union(
    [
        pa.field("string_value", pa.string()),
        pa.field("bool_value", pa.bool_()),
        pa.field("bigint_value", pa.int64()),
        pa.field("int32_bitmask", pa.int32()),
        pa.field("string_list", pa.list_(pa.string())),
        pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32()))),
    ]
)
SCHEMA = pa.schema(
    [pa.field("info_name", pa.uint32(), nullable=False), pa.field("value", VALUE_TYPE, False)]
)


def infos(version: str) -> dict[int, str | bool | int]:
    return {
        SERVER_NAME: "sluice",
        SERVER_VERSION: version,
        SERVER_ARROW_VERSION: pa.__version__,
        SERVER_READ_ONLY: True,
        SERVER_SQL: True,
        SERVER_SUBSTRAIT: False,
        SERVER_TRANSACTION: 0,  # SQL_SUPPORTED_TRANSACTION_NONE
        SERVER_CANCEL: True,
        SQL_DDL_CATALOG: False,
        SQL_DDL_SCHEMA: False,
        SQL_DDL_TABLE: False,
        SQL_IDENTIFIER_QUOTE_CHAR: '"',
    }


def sql_info_table(version: str, wanted: Sequence[int]) -> pa.Table:
    """The requested infos (all known ones when ``wanted`` is empty); unknown ids are left out."""
    known = infos(version)
    ids = [i for i in wanted if i in known] if wanted else sorted(known)
    strings: list[str] = []
    bools: list[bool] = []
    ints: list[int] = []
    type_ids: list[int] = []
    offsets: list[int] = []
    for info in ids:
        value = known[info]
        if isinstance(value, bool):
            type_ids.append(1)
            offsets.append(len(bools))
            bools.append(value)
        elif isinstance(value, int):
            type_ids.append(3)
            offsets.append(len(ints))
            ints.append(value)
        else:
            type_ids.append(0)
            offsets.append(len(strings))
            strings.append(value)
    children = [
        pa.array(strings, pa.string()),
        pa.array(bools, pa.bool_()),
        pa.array([], pa.int64()),
        pa.array(ints, pa.int32()),
        pa.array([], pa.list_(pa.string())),
        pa.array([], pa.map_(pa.int32(), pa.list_(pa.int32()))),
    ]
    value_array = pa.UnionArray.from_dense(
        pa.array(type_ids, pa.int8()),
        pa.array(offsets, pa.int32()),
        children,
        [f.name for f in VALUE_TYPE],
    )
    return pa.Table.from_arrays([pa.array(ids, pa.uint32()), value_array], schema=SCHEMA)
