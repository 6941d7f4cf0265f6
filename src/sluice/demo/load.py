"""Copy the demo warehouse from its DuckDB file into PostgreSQL, fast.

Each table streams out of DuckDB as Arrow record batches and into PostgreSQL through ADBC bulk
ingest (binary ``COPY``): no row-by-row inserts and no Python objects per row. Column types
follow the Arrow types DuckDB hands out: ``INTEGER`` stays ``integer``, ``DOUBLE`` stays
``double precision``, ``TIMESTAMP`` stays ``timestamp without time zone``, ``VARCHAR`` becomes
``text``. Every table is replaced in one transaction, so readers see the old data or the new,
never half of it; each table is analyzed afterwards so the planner has statistics at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from sluice.demo.data import STEPS
from sluice.engines.duckdb import connect_sandboxed
from sluice.errors import SluiceError
from sluice.extras import needs

__all__ = ["LoadError", "load_demo_postgres"]

#: Rows per Arrow record batch streamed from DuckDB to PostgreSQL.
BATCH_ROWS = 256 * 1024


class LoadError(SluiceError):
    """The copy failed; the message names the table and carries the server's message."""

    code = "QUERY"


def load_demo_postgres(
    duckdb_path: Path,
    url: str,
    schema: str = "public",
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Copy every demo table from ``duckdb_path`` into ``schema`` of the database at ``url``.

    Existing tables of the same names in ``schema`` are replaced. ``progress(table, index,
    total)`` is called before each table and once more as ``progress("done", total, total)``.
    Returns the row count of each table, in load order.
    """
    with needs("postgres", "sluice load-demo"):
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc_pg

        from sluice.engines.postgres import error_message, quote_ident
    path = Path(duckdb_path)
    if not path.is_file():
        raise LoadError(f"demo database {str(path)!r} does not exist")
    total = len(STEPS)
    counts: dict[str, int] = {}
    source = connect_sandboxed(path)
    try:
        try:
            target = adbc_pg.connect(url, autocommit=False)
        except adbc_driver_manager.Error as exc:
            raise LoadError(f"cannot connect to postgres: {error_message(exc)}") from None
        with target, target.cursor() as cur:
            step = "schema"
            try:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
                for index, table in enumerate(STEPS):
                    step = table
                    if progress is not None:
                        progress(table, index, total)
                    reader = source.sql(f"SELECT * FROM {table}").to_arrow_reader(BATCH_ROWS)
                    cur.adbc_ingest(table, reader, mode="replace", db_schema_name=schema)
                    counts[table] = _count(source, table)
                target.commit()
                step = "analyze"
                for table in STEPS:  # fresh statistics now, not whenever autovacuum runs
                    cur.execute(f"ANALYZE {quote_ident(schema)}.{quote_ident(table)}")
                target.commit()
            except adbc_driver_manager.Error as exc:
                target.rollback()
                raise LoadError(f"loading {step} into postgres: {error_message(exc)}") from None
    finally:
        source.close()
    if progress is not None:
        progress("done", total, total)
    return counts


def _count(source: duckdb.DuckDBPyConnection, table: str) -> int:
    row = source.sql(f"SELECT count(*) FROM {table}").fetchall()
    return int(row[0][0])
