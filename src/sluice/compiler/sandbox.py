"""What a ``userEditedSQL`` statement may do, decided from its sqlglot tree (never a regex).

* **Raw mode** (``rewriteSql: false``): exactly one read-only ``SELECT``/``WITH`` statement. No
  ``COPY``, ``SET``, ``PRAGMA``, ``ATTACH``, ``INSTALL``, ``LOAD``, ``CREATE``, ``INSERT``,
  ``SELECT ... INTO``, transaction control or any statement sqlglot only knows as a command; no
  file path used as a table (``FROM '/etc/passwd'``, Spark's ``csv.`/path```); none of the
  functions in ``FORBIDDEN_FUNCTIONS``, which read files, run a query given as text or change a
  setting.
* **Semantic mode**: all of that, and every table the statement reads is the ``${topic}``, a
  CTE of the statement or a table of a view in the model's topic; any other table, and every
  table function (``read_text(...)``, ``glob(...)``, ``range(...)``), is ``FORBIDDEN``
  (``SqlNotAllowed``).

This is the first wall, not the only one: DuckDB connections run with external access off and
the configuration locked, PostgreSQL in read-only transactions (``sluice.engines``).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlglot import exp

from sluice.errors import SqlNotAllowed

# Statement kinds that write, change a setting, load code or talk to the file system.
_FORBIDDEN_NODES: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Copy, "COPY"),
    (exp.Set, "SET"),
    (exp.Pragma, "PRAGMA"),
    (exp.Attach, "ATTACH"),
    (exp.Detach, "DETACH"),
    (exp.Install, "INSTALL"),
    (exp.Command, "a command"),
    (exp.Create, "CREATE"),
    (exp.Drop, "DROP"),
    (exp.Alter, "ALTER"),
    (exp.Insert, "INSERT"),
    (exp.Update, "UPDATE"),
    (exp.Delete, "DELETE"),
    (exp.Merge, "MERGE"),
    (exp.Into, "SELECT ... INTO"),
    (exp.Use, "USE"),
    (exp.Transaction, "a transaction"),
    (exp.Commit, "COMMIT"),
    (exp.Rollback, "ROLLBACK"),
    (exp.LoadData, "LOAD DATA"),
    (exp.Lock, "a row lock (FOR UPDATE)"),
)

# Functions that read or list files, reach the network, run SQL given as text, or change the
# server, on any warehouse sluice speaks to (lower-case names).
FORBIDDEN_FUNCTIONS = frozenset(
    {
        # DuckDB
        "read_text",
        "read_blob",
        "read_csv",
        "read_csv_auto",
        "read_json",
        "read_json_auto",
        "read_json_objects",
        "read_ndjson",
        "read_ndjson_auto",
        "read_ndjson_objects",
        "read_parquet",
        "parquet_scan",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "sniff_csv",
        "glob",
        "getenv",
        "query",
        "query_table",
        "duckdb_secrets",
        "duckdb_extensions",
        "load_extension",
        # PostgreSQL
        "pg_read_file",
        "pg_read_binary_file",
        "pg_stat_file",
        "pg_ls_dir",
        "pg_ls_logdir",
        "pg_ls_waldir",
        "pg_ls_tmpdir",
        "pg_ls_archive_statusdir",
        "pg_ls_logicalsnapdir",
        "pg_ls_logicalmapdir",
        "pg_ls_replslotdir",
        "lo_import",
        "lo_export",
        "lo_get",
        "lo_put",
        "lo_from_bytea",
        "lo_create",
        "lo_unlink",
        "dblink",
        "dblink_exec",
        "dblink_connect",
        "dblink_send_query",
        "set_config",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_promote",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "table_to_xml",
        "table_to_xml_and_xmlschema",
        "schema_to_xml",
        "database_to_xml",
        "database_to_xml_and_xmlschema",
        # Spark
        "reflect",
        "java_method",
        "read_files",
        # Trino
        "system.sync_partition_metadata",
    }
)

# Spark reads a file with ``format.`path``` in FROM.
_FILE_FORMATS = frozenset(
    {"csv", "json", "parquet", "orc", "text", "binaryfile", "avro", "delta", "jdbc", "file"}
)


def check_raw(statements: list[exp.Expr | None]) -> exp.Query:
    """The one read-only query of a raw-mode ``userEditedSQL``, or ``Forbidden`` naming why."""
    found = [s for s in statements if s is not None]
    if len(found) != 1:
        raise SqlNotAllowed(
            f"userEditedSQL must be exactly one SELECT statement; got {len(found)} statements"
        )
    root = found[0]
    if not isinstance(root, exp.Query):
        raise SqlNotAllowed(
            f"userEditedSQL may only read: one SELECT or WITH statement, not {_kind(root)}"
        )
    check_read_only(root)
    for table in root.find_all(exp.Table):
        _check_not_a_file(table)
    return root


def check_semantic(
    root: exp.Expr, allowed_tables: Collection[str], placeholder: frozenset[int]
) -> None:
    """A semantic statement reads only its topic: ``allowed_tables`` (lower-case names, bare or
    ``schema.table``) and its own CTEs; ``placeholder`` holds the ids of ``${topic}`` tables."""
    check_read_only(root)
    ctes = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    for table in root.find_all(exp.Table):
        if id(table) in placeholder:
            continue
        if not isinstance(table.this, exp.Identifier):
            raise SqlNotAllowed(
                f"userEditedSQL may not call the table function {_function_name(table.this)!r}; "
                "read the model's tables through FROM ${<topic>}"
            )
        _check_not_a_file(table)
        name = table.name.lower()
        qualified = ".".join(p.lower() for p in (table.text("db"), table.name) if p)
        if table.text("catalog") or not (
            (qualified in allowed_tables) or (not table.text("db") and name in ctes)
        ):
            raise SqlNotAllowed(
                f"userEditedSQL may not read table {table.sql()!r}: semantic SQL reads the "
                "topic's tables only; write FROM ${<topic>}"
            )


def check_read_only(root: exp.Expr) -> None:
    for node in root.walk():
        for kind, name in _FORBIDDEN_NODES:
            if isinstance(node, kind):
                raise SqlNotAllowed(f"userEditedSQL may only read; {name} is not allowed")
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name.lower() in FORBIDDEN_FUNCTIONS:
                raise SqlNotAllowed(f"userEditedSQL may not call {name}()")


def _check_not_a_file(table: exp.Table) -> None:
    name = table.name
    if isinstance(table.this, exp.Identifier) and (
        any(c in name for c in "/\\:") or name.startswith(("~", ".")) or "." in name
    ):
        raise SqlNotAllowed(f"userEditedSQL may not read a file: {name!r}")
    if table.text("db").lower() in _FILE_FORMATS and not table.text("catalog"):
        raise SqlNotAllowed(f"userEditedSQL may not read a file: {table.sql()!r}")


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    if isinstance(node, exp.Func):
        return node.sql_name()
    return node.sql()[:40]


def _kind(node: exp.Expr) -> str:
    for kind, name in _FORBIDDEN_NODES:
        if isinstance(node, kind):
            return name
    return type(node).__name__.upper()


__all__ = ["FORBIDDEN_FUNCTIONS", "check_raw", "check_read_only", "check_semantic"]
