"""The walls under the statement check: what the engines refuse on their own, so a statement the
check missed (or a function DuckDB adds later) still cannot read a file or change a setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.compiler.sandbox import check_raw
from sluice.engines.duckdb import DuckDBEngine
from sluice.errors import QueryError, SqlNotAllowed


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM glob('{folder}/*')",
        "COPY (SELECT 42) TO '{folder}/out.csv'",
        "SET memory_limit = '1MB'",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "ATTACH '{folder}/x.duckdb'",
        "INSTALL httpfs",
        "LOAD httpfs",
    ],
)
def test_duckdb_refuses_files_and_settings(duck: DuckDBEngine, tmp_path: Path, sql: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t")
    with pytest.raises(QueryError) as caught:
        duck.execute(sql.format(secret=secret, folder=tmp_path))
    assert "s3cr3t" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]
    assert duck.execute("SELECT current_setting('memory_limit') AS m").num_rows == 1


def test_duckdb_still_reads_its_own_file(duck: DuckDBEngine) -> None:
    assert duck.execute("SELECT count(*) AS n FROM users").column(0)[0].as_py() > 0


def test_postgres_runs_every_statement_read_only(postgres_url: str) -> None:
    from sluice.engines.postgres import PostgresEngine

    engine = PostgresEngine(postgres_url, pool_size=1)
    try:
        with pytest.raises(QueryError, match="read-only"):
            engine.execute("CREATE TABLE sluice_pwned (x int)")
        assert engine.execute("SELECT current_setting('transaction_read_only') AS r").column(
            0
        ).to_pylist() == ["on"]
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("spark", "SELECT * FROM csv.`/etc/passwd`"),
        ("spark", "SELECT * FROM parquet.`/data/x.parquet`"),
        ("spark", "SELECT reflect('java.lang.System', 'getenv')"),
        ("postgres", "SELECT pg_read_file('/etc/passwd')"),
        ("postgres", "SELECT set_config('default_transaction_read_only', 'off', false)"),
        ("postgres", "SELECT query_to_xml('select 1', true, true, '')"),
        ("postgres", "SELECT * FROM pg_ls_dir('/')"),
        ("postgres", "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x"),
        ("trino", "SELECT 1; SELECT 2"),
        ("duckdb", "SELECT * FROM '/etc/passwd'"),
    ],
)
def test_the_statement_check_holds_on_every_dialect(dialect: str, sql: str) -> None:
    import sqlglot

    with pytest.raises(SqlNotAllowed):
        check_raw(list(sqlglot.parse(sql, dialect=dialect)))
