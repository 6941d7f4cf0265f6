"""The Flight SQL endpoint with real clients (ADBC's Flight SQL driver, ``pyarrow.flight``)
against a real ``sluice serve``: catalog, auth, errors, literals, cancel, the shared cache."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import httpx
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from sluice.flight.protocol import message, pack
from sluice.flight.sqlinfo import SERVER_NAME, SERVER_READ_ONLY
from tests.api.support import BOB
from tests.conftest import Runner
from tests.flight.conftest import FlightServer

pytestmark = pytest.mark.slow

OI = "ecommerce.topics.order_items"


def connect(server: FlightServer, key: str, **db_kwargs: str) -> Any:
    kwargs = {"adbc.flight.sql.authorization_header": f"Bearer {key}", **db_kwargs}
    return flightsql.connect(server.uri, db_kwargs=kwargs, autocommit=True)


@pytest.fixture(scope="module")
def conn(flight_server: FlightServer) -> Iterator[Any]:
    connection = connect(flight_server, flight_server.keys.org)
    yield connection
    connection.close()


def query(conn: Any, sql: str) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(sql)
        table: pa.Table = cur.fetch_arrow_table()
        return table


def error_of(conn: Any, sql: str) -> str:
    with conn.cursor() as cur, pytest.raises(adbc_driver_manager.Error) as caught:
        cur.execute(sql)
    text = str(caught.value)
    assert "Traceback" not in text and 'File "' not in text  # never a stack trace on the wire
    return text


def pyarrow_client(server: FlightServer) -> tuple[flight.FlightClient, flight.FlightCallOptions]:
    client = flight.connect(server.uri)
    headers = [(b"authorization", f"Bearer {server.keys.org}".encode())]
    return client, flight.FlightCallOptions(headers=headers)


# -- the catalog ----------------------------------------------------------------------------------


def test_get_objects_lists_models_topics_views_and_typed_fields(conn: Any) -> None:
    objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
    catalogs = {c["catalog_name"]: c for c in objects}
    assert set(catalogs) == {"ecommerce", "lab"}
    schemas = {s["db_schema_name"]: s for s in catalogs["ecommerce"]["catalog_db_schemas"]}
    assert set(schemas) == {"topics", "views"}
    topics = {t["table_name"]: t for t in schemas["topics"]["db_schema_tables"]}
    assert {"order_items", "events", "users"} <= set(topics)
    views = {t["table_name"] for t in schemas["views"]["db_schema_tables"]}
    assert {"order_items", "products", "distribution_centers"} <= views
    columns = {c["column_name"] for c in topics["order_items"]["table_columns"]}
    assert {"order_items.status", "order_items.total_sale_price", "products.category"} <= columns


def test_table_schema_carries_kind_label_and_arrow_type(conn: Any) -> None:
    schema = conn.adbc_get_table_schema(
        "order_items", catalog_filter="ecommerce", db_schema_filter="topics"
    )
    status = schema.field("order_items.status")
    total = schema.field("order_items.total_sale_price")
    created = schema.field("order_items.created_at")
    assert status.type == pa.string() and status.metadata[b"sluice.kind"] == b"dimension"
    assert total.type == pa.float64() and total.metadata[b"sluice.kind"] == b"measure"
    assert total.metadata[b"sluice.label"] == b"Total Sale Price"
    assert pa.types.is_timestamp(created.type)


def test_catalog_commands_over_pyarrow_flight(flight_server: FlightServer) -> None:
    client, options = pyarrow_client(flight_server)

    def fetch(name: str, **values: Any) -> pa.Table:
        descriptor = flight.FlightDescriptor.for_command(pack(message(name, **values)))
        info = client.get_flight_info(descriptor, options)
        table: pa.Table = client.do_get(info.endpoints[0].ticket, options).read_all()
        assert table.schema.equals(info.schema)
        return table

    assert fetch("CommandGetCatalogs").column("catalog_name").to_pylist() == ["ecommerce", "lab"]
    schemas = fetch("CommandGetDbSchemas", catalog="lab").to_pylist()
    assert schemas == [
        {"catalog_name": "lab", "db_schema_name": "topics"},
        {"catalog_name": "lab", "db_schema_name": "views"},
    ]
    tables = fetch("CommandGetTables", catalog="ecommerce", db_schema_filter_pattern="top%")
    assert set(tables.column("db_schema_name").to_pylist()) == {"topics"}
    assert "table_schema" not in tables.column_names
    with_schema = fetch(
        "CommandGetTables", catalog="ecommerce", table_name_filter_pattern="users",
        include_schema=True,
    )  # fmt: skip
    assert with_schema.num_rows == 2  # the topic and the view
    parsed = pa.ipc.read_schema(pa.py_buffer(with_schema.column("table_schema")[0].as_py()))
    assert "users.count" in parsed.names
    assert fetch("CommandGetPrimaryKeys", table="users").num_rows == 0
    assert fetch("CommandGetTableTypes").column("table_type").to_pylist() == ["TABLE"]
    info = fetch("CommandGetSqlInfo", info=[SERVER_NAME, SERVER_READ_ONLY]).to_pylist()
    assert info == [
        {"info_name": SERVER_NAME, "value": "sluice"},
        {"info_name": SERVER_READ_ONLY, "value": True},
    ]


# -- semantic SQL ---------------------------------------------------------------------------------


def test_aliases_name_the_columns_in_select_order(conn: Any, runner: Runner) -> None:
    got = query(
        conn,
        f"""SELECT MEASURE("order_items.count") AS items, "order_items.status" AS status
            FROM {OI} GROUP BY status ORDER BY status""",
    )
    assert got.column_names == ["items", "status"]
    want = runner.sql("SELECT count(*), status FROM order_items GROUP BY 2 ORDER BY 2")
    assert got.column("items").to_pylist() == want.column(0).to_pylist()
    assert got.column("status").to_pylist() == want.column(1).to_pylist()


@pytest.mark.parametrize(
    "literal",
    [
        "Levi's",
        "x'; DROP TABLE order_items; --",
        "SELECT",
        "' OR '1'='1",
        "%",
        "\\'",
    ],
)
def test_filter_values_with_quotes_and_keywords_stay_literals(
    conn: Any, runner: Runner, literal: str
) -> None:
    quoted = literal.replace("'", "''")
    got = query(
        conn,
        f"""SELECT "products.brand", MEASURE("order_items.count") FROM {OI}
            WHERE "products.brand" IN ('{quoted}', 'NOT A BRAND') GROUP BY 1""",
    )
    want = runner.sql(
        f"""SELECT p.brand, count(*) FROM order_items oi
            JOIN inventory_items ii ON oi.inventory_item_id = ii.id
            JOIN products p ON ii.product_id = p.id
            WHERE p.brand IN ('{quoted}', 'NOT A BRAND') GROUP BY 1"""
    )
    rows = sorted(zip(*(c.to_pylist() for c in got.columns), strict=True))
    assert rows == sorted(zip(*(c.to_pylist() for c in want.columns), strict=True))
    if literal == "Levi's":
        assert got.num_rows == 1
    # The warehouse is intact.
    assert query(conn, f'SELECT MEASURE("order_items.count") FROM {OI}').num_rows == 1


# -- errors ---------------------------------------------------------------------------------------


def test_a_bad_key_is_unauthenticated(flight_server: FlightServer) -> None:
    bad = connect(flight_server, "sluice_org_not_a_key")
    try:
        text = error_of(bad, f'SELECT MEASURE("order_items.count") FROM {OI}')
    finally:
        bad.close()
    assert "UNAUTHENTICATED" in text and "Invalid bearer token" in text


def test_basic_auth_with_the_key_as_password(flight_server: FlightServer) -> None:
    kwargs = {"username": "anyone", "password": flight_server.keys.org}
    basic = flightsql.connect(flight_server.uri, db_kwargs=kwargs, autocommit=True)
    try:
        assert query(basic, f'SELECT MEASURE("order_items.count") FROM {OI}').num_rows == 1
    finally:
        basic.close()
    wrong = {"username": "anyone", "password": "not-a-key"}
    with pytest.raises(adbc_driver_manager.Error, match="UNAUTHENTICATED"):
        flightsql.connect(flight_server.uri, db_kwargs=wrong, autocommit=True)


def test_a_forbidden_user_is_permission_denied(flight_server: FlightServer) -> None:
    """A personal key acting as another user: the HTTP rule, as PERMISSION_DENIED."""
    header = "adbc.flight.sql.rpc.call_header.x-sluice-user-id"
    alice = connect(flight_server, flight_server.keys.alice, **{header: BOB})
    try:
        text = error_of(alice, f'SELECT MEASURE("order_items.count") FROM {OI}')
    finally:
        alice.close()
    assert "PermissionDenied" in text and "act as their own user" in text


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (f"SELECT * FROM {OI}", "SELECT * is not supported: name the fields"),
        ("SELECT * FROM ecommerce.views.products", "products.category"),
        ("DROP TABLE order_items", "raw SQL (DROP) is not passed through"),
        ("SELECT sale_price FROM order_items", "Name the model as the catalog"),
        (
            f'SELECT "order_items.status" FROM {OI} o JOIN users u ON o.user_id = u.id',
            "JOINS is not supported: raw SQL",
        ),
        (f'SELECT SUM("order_items.sale_price") FROM {OI}', "aggregates are the model's"),
        ("SELEC 1", "SQL syntax error"),
        (f'SELECT "order_items.nope" FROM {OI}', "order_items.nope"),
        ('SELECT MEASURE("order_items.count") FROM nope.topics.x', "Model nope not found"),
        (
            f'SELECT "order_items.status", "order_items.count" FROM {OI} GROUP BY 1',
            'write MEASURE("order_items.count")',
        ),
        (
            f'SELECT "order_items.status" FROM {OI} WHERE "order_items.status" = "users.state"',
            "literal",
        ),
        (
            f'SELECT "order_items.status" FROM {OI} WHERE "order_items.status" = \'a\' OR '
            "\"users.state\" = 'b'",
            "OR may only join conditions on one field",
        ),
    ],
)
def test_what_is_not_a_semantic_query_gets_a_clear_error(
    conn: Any, sql: str, expected: str
) -> None:
    assert expected in error_of(conn, sql)


# -- the same machinery ---------------------------------------------------------------------------


def test_the_same_query_over_http_afterwards_is_a_cache_hit(
    conn: Any, flight_server: FlightServer
) -> None:
    got = query(
        conn,
        f"""SELECT "users.traffic_source", MEASURE("order_items.total_sale_price") FROM {OI}
            GROUP BY 1 ORDER BY 1 LIMIT 7""",
    )
    body = {
        "query": {
            "modelId": model_id(flight_server, "ecommerce"),
            "join_paths_from_topic_name": "order_items",
            "fields": ["users.traffic_source", "order_items.total_sale_price"],
            "sorts": [{"column_name": "users.traffic_source", "sort_descending": False}],
            "limit": 7,
        }
    }
    response = httpx.post(
        f"{flight_server.http.url}/api/v1/query/run",
        json=body,
        headers={"Authorization": f"Bearer {flight_server.keys.org}"},
        timeout=30,
    )
    lines = [line for line in response.text.splitlines() if '"status"' in line]
    job = httpx.Response(200, content=lines[0]).json()
    assert job["status"] == "COMPLETE"
    assert job["summary"]["cache_type"] == "EXACT"
    assert job["cache_metadata"]["num_rows"] == got.num_rows > 0


def model_id(server: FlightServer, name: str) -> str:
    response = httpx.get(
        f"{server.http.url}/api/v1/models",
        params={"name": name},
        headers={"Authorization": f"Bearer {server.keys.org}"},
    )
    return str(response.json()["records"][0]["id"])


def running_on(server: FlightServer, connection: str) -> float:
    text = httpx.get(f"{server.http.url}/metrics").text
    prefix = f'sluice_connection_running{{connection="{connection}"}} '
    values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


def test_a_client_cancel_stops_a_slow_query(flight_server: FlightServer) -> None:
    """A 200,000 x 200,000 cross join (minutes of DuckDB work); the call's deadline passes, the
    job is cancelled and the warehouse statement interrupted."""
    client, options = pyarrow_client(flight_server)
    slow = 'SELECT MEASURE("cross.checksum") FROM lab.views."cross"'
    descriptor = flight.FlightDescriptor.for_command(
        pack(message("CommandStatementQuery", query=slow))
    )
    deadline = flight.FlightCallOptions(headers=options.headers, timeout=3)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        call = pool.submit(client.get_flight_info, descriptor, deadline)
        began = time.monotonic()
        while running_on(flight_server, "lab") < 1:  # the statement is on the warehouse
            assert time.monotonic() - began < 10, "the statement never started"
            time.sleep(0.05)
        with pytest.raises((flight.FlightTimedOutError, flight.FlightCancelledError)):
            call.result(timeout=30)
    began = time.monotonic()
    while running_on(flight_server, "lab") > 0:
        assert time.monotonic() - began < 15, "the statement was not interrupted"
        time.sleep(0.1)
    # The connection is free again: a quick query on it answers at once.
    quick = 'SELECT MEASURE("numbers.total") FROM lab.topics.numbers'
    descriptor = flight.FlightDescriptor.for_command(
        pack(message("CommandStatementQuery", query=quick))
    )
    info = client.get_flight_info(descriptor, options)
    assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 1


def test_a_ticket_is_fetched_once_and_only_by_its_organization(
    flight_server: FlightServer,
) -> None:
    client, options = pyarrow_client(flight_server)
    sql = f'SELECT "order_items.status", MEASURE("order_items.count") FROM {OI} GROUP BY 1'
    descriptor = flight.FlightDescriptor.for_command(
        pack(message("CommandStatementQuery", query=sql))
    )
    info = client.get_flight_info(descriptor, options)
    other = flight.FlightCallOptions(
        headers=[(b"authorization", f"Bearer {flight_server.keys.other_org}".encode())]
    )
    with pytest.raises(flight.FlightServerError, match="Unknown or expired ticket"):
        client.do_get(info.endpoints[0].ticket, other).read_all()
    assert (
        client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == info.total_records
    )
    with pytest.raises(flight.FlightServerError, match="Unknown or expired ticket"):
        client.do_get(info.endpoints[0].ticket, options).read_all()


def test_pandas_reads_through_adbc(conn: Any, runner: Runner) -> None:
    import pandas as pd

    sql = f"""SELECT "order_items.status" AS status, MEASURE("order_items.count") AS items
              FROM {OI} GROUP BY 1 ORDER BY 1"""
    frame = pd.read_sql(sql, conn)
    want = runner.sql("SELECT status, count(*) FROM order_items GROUP BY 1 ORDER BY 1")
    assert list(frame.columns) == ["status", "items"]
    assert frame["status"].tolist() == want.column(0).to_pylist()
    assert frame["items"].tolist() == want.column(1).to_pylist()


def test_cancel_flight_info_drops_a_result_not_yet_fetched(flight_server: FlightServer) -> None:
    client, options = pyarrow_client(flight_server)
    sql = f'SELECT "users.gender", MEASURE("order_items.count") FROM {OI} GROUP BY 1'
    descriptor = flight.FlightDescriptor.for_command(
        pack(message("CommandStatementQuery", query=sql))
    )
    info = client.get_flight_info(descriptor, options)
    raw = info.serialize()
    length = len(raw)
    varint = bytearray()
    while True:  # CancelFlightInfoRequest { FlightInfo info = 1; }
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    body = b"\x0a" + bytes(varint) + raw
    results = list(client.do_action(flight.Action("CancelFlightInfo", body), options))
    assert [r.body.to_pybytes() for r in results] == [b"\x08\x01"]  # CANCEL_STATUS_CANCELLED
    with pytest.raises(flight.FlightServerError, match="Unknown or expired ticket"):
        client.do_get(info.endpoints[0].ticket, options).read_all()
    again = list(client.do_action(flight.Action("CancelFlightInfo", body), options))
    assert [r.body.to_pybytes() for r in again] == [b"\x08\x03"]  # NOT_CANCELLABLE: gone


def test_updates_are_refused(flight_server: FlightServer) -> None:
    client, options = pyarrow_client(flight_server)
    descriptor = flight.FlightDescriptor.for_command(
        pack(message("CommandStatementUpdate", query="DELETE FROM order_items"))
    )
    with pytest.raises(flight.FlightServerError, match="semantic queries only"):
        client.get_flight_info(descriptor, options)
    plain = flight.FlightDescriptor.for_path("order_items")
    with pytest.raises(flight.FlightServerError, match="Not a Flight SQL command"):
        client.get_flight_info(plain, options)
