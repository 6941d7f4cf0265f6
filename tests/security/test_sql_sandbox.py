"""Attack the SQL sandbox as a key holder would: read a secret file, the process environment,
another organization's results; write a file; change a setting; load code. Through semantic SQL
mode, raw SQL mode, filters, field names, sorts and calculations, as an organization key, a plain
user's personal token and a user allowed raw SQL.

Each probe must answer without the secret anywhere in the response (decoded results included),
without a file appearing, without a setting changing, and never with a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import pytest

from sluice.results.arrow import decode_table
from tests.api.support import BOB, OTHER_ORG
from tests.security.conftest import Target

# Statements that read the server's files or environment, or change it. ``{secret}`` is the
# secret file, ``{state}`` the state dir, ``{canary}`` a folder that must stay empty.
READS = [
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_csv_auto('{secret}')",
    "SELECT * FROM read_blob('{secret}')",
    "SELECT * FROM '{secret}'",
    "SELECT * FROM read_text('/proc/self/environ')",
    "SELECT * FROM read_blob('/proc/self/environ')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('{state}/**')",
    "SELECT * FROM read_blob('{state}/sluice.db')",
    "SELECT * FROM read_blob('{state}/results/*')",
    "SELECT * FROM read_json('{secret}')",
    "SELECT * FROM read_parquet('{secret}')",
    "SELECT * FROM sniff_csv('{secret}')",
    "SELECT * FROM query('SELECT * FROM read_text(''{secret}'')')",
    "WITH t AS (SELECT * FROM read_text('{secret}')) SELECT * FROM t",
    "SELECT (SELECT content FROM read_text('{secret}')) AS x",
    "SELECT * FROM users WHERE EXISTS (SELECT 1 FROM read_text('{secret}'))",
]
CHANGES = [
    "COPY (SELECT 42) TO '{canary}/x.csv'",
    "SELECT 1; COPY (SELECT 42) TO '{canary}/y.csv'",
    "SET memory_limit='1MB'",
    "SELECT 1; SET memory_limit='1MB'",
    "PRAGMA memory_limit='1MB'",
    "RESET memory_limit",
    "SET GLOBAL enable_external_access = true",
    "INSTALL httpfs",
    "LOAD httpfs",
    "ATTACH '{canary}/z.duckdb' AS z",
    "CREATE TEMP TABLE pwned AS SELECT 1 AS x",
    "CREATE TABLE pwned AS SELECT 1 AS x",
    "SELECT 1 AS x INTO pwned",
    "INSERT INTO users SELECT * FROM users LIMIT 1",
    "DELETE FROM users",
    "DROP TABLE users",
    "CHECKPOINT",
    "EXPORT DATABASE '{canary}/db'",
    "CALL pragma_version()",
]


def probes(target: Target) -> list[str]:
    values = {
        "secret": str(target.secret_file),
        "state": str(target.state_dir),
        "canary": str(target.canary_dir),
    }
    return [p.format(**values) for p in READS + CHANGES]


def table_functions() -> list[str]:
    """Every table function of the DuckDB sluice runs, read from DuckDB itself."""
    with duckdb.connect() as conn:
        rows = conn.sql(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE function_type = 'table' ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def run(target: Target, query: dict[str, Any], key: str, user: str | None = None) -> httpx.Response:
    params = {"userId": user} if user else {}
    body = {"query": {"modelId": target.api.model_id(), "limit": 20, **query}}
    return target.api.post("/api/v1/query/run", key=key, params=params, json=body)


def answer_text(response: httpx.Response) -> str:
    """The whole answer with every Arrow result decoded to text, so a leak cannot hide in
    base64."""
    parts = [response.text]
    if response.headers.get("content-type") == "text/ndjson":
        for line in response.text.splitlines():
            obj = json.loads(line)
            if isinstance(obj, dict) and obj.get("result"):
                parts.append(str(decode_table(obj["result"]).to_pylist()))
    return "\n".join(parts)


def assert_safe(target: Target, response: httpx.Response, probe: str) -> dict[str, Any] | None:
    assert response.status_code < 500 or _job_failed_in_warehouse(response), (
        probe,
        response.status_code,
        response.text[:300],
    )
    text = answer_text(response)
    assert target.secret not in text, probe
    assert "root:x:0:0" not in text, probe
    assert list(target.canary_dir.iterdir()) == [], probe
    lines = [json.loads(x) for x in response.text.splitlines() if x.startswith("{")]
    jobs = [x for x in lines if "job_id" in x]
    return jobs[0] if jobs else None


def _job_failed_in_warehouse(response: httpx.Response) -> bool:
    """A 500 is allowed only as the warehouse's own refusal (a QUERY error), never INTERNAL."""
    try:
        body = response.json()
    except ValueError:
        return False
    detail = str(body.get("detail", ""))
    return "request id" not in detail.lower() and "internal" not in detail.lower()


def semantic(sql: str) -> dict[str, Any]:
    return {"join_paths_from_topic_name": "order_items", "userEditedSQL": sql}


def raw(sql: str) -> dict[str, Any]:
    return {"userEditedSQL": sql, "rewriteSql": False}


@pytest.fixture(scope="module")
def settings_before(target: Target) -> Iterator[list[Any]]:
    """The settings an attack would change, read before; the last test compares them."""
    yield current_settings(target)


def current_settings(target: Target) -> list[Any]:
    sql = (
        "SELECT current_setting('memory_limit') AS m, "
        "current_setting('enable_external_access') AS e, "
        "current_setting('lock_configuration') AS l"
    )
    response = run(target, raw(sql), target.api.keys.org, BOB)
    (job,) = [x for x in map(json.loads, response.text.splitlines()) if "job_id" in x]
    assert job["status"] == "COMPLETE", job
    return list(decode_table(job["result"]).to_pylist()[0].values())


def test_settings_are_read_first(settings_before: list[Any]) -> None:
    assert settings_before[1:] == [False, True]


@pytest.mark.parametrize("who", ["org", "alice", "bob"])
def test_semantic_sql_reads_only_the_topic(target: Target, who: str) -> None:
    keys = target.api.keys
    key, user = {"org": (keys.org, None), "alice": (keys.alice, None), "bob": (keys.org, BOB)}[who]
    for probe in probes(target):
        job = assert_safe(target, run(target, semantic(probe), key, user), probe)
        assert job is None or job["status"] == "ERROR", (probe, job)


def test_raw_sql_may_only_read(target: Target) -> None:
    for probe in probes(target):
        response = run(target, raw(probe), target.api.keys.org, BOB)
        job = assert_safe(target, response, probe)
        assert job is None or job["status"] == "ERROR", (probe, job)
        assert job is None or job["error_type"] in ("FORBIDDEN", "PLAN", "QUERY"), (probe, job)


def test_raw_sql_is_refused_for_keys_without_the_permission(target: Target) -> None:
    for key in (target.api.keys.org, target.api.keys.alice):
        response = run(target, raw("SELECT 1 AS x"), key)
        job = assert_safe(target, response, "SELECT 1")
        assert job is not None and job["error_type"] == "FORBIDDEN", job


def test_every_duckdb_table_function_is_refused_in_semantic_mode(target: Target) -> None:
    functions = table_functions()
    assert len(functions) > 20 and "read_text" in functions  # read from DuckDB, not a list here
    for name in functions:
        probe = f"SELECT * FROM {name}('{target.secret_file}')"
        job = assert_safe(target, run(target, semantic(probe), target.api.keys.org), probe)
        assert job is not None and job["status"] == "ERROR", (probe, job)
        # UNNEST is array syntax, not a table function: it may reach DuckDB, which refuses a
        # string; every other name is refused before any SQL runs.
        allowed = ("FORBIDDEN", "PLAN", "QUERY") if name == "unnest" else ("FORBIDDEN", "PLAN")
        assert job["error_type"] in allowed, (probe, job)


def test_no_duckdb_table_function_reads_a_file_in_raw_mode(target: Target) -> None:
    for name in table_functions():
        for probe in (
            f"SELECT * FROM {name}('{target.secret_file}')",
            f"SELECT * FROM {name}('{target.state_dir}/**')",
        ):
            assert_safe(target, run(target, raw(probe), target.api.keys.org, BOB), probe)


def test_another_organizations_result_cannot_be_read_back(target: Target) -> None:
    # The first organization's job stores the secret in its result (state_dir/sluice.db).
    marked = raw(f"SELECT '{target.secret}' AS s")
    first = run(target, marked, target.api.keys.org, BOB)
    assert first.status_code == 200
    assert target.secret in answer_text(first)
    for probe in (
        f"SELECT * FROM read_blob('{target.state_dir}/sluice.db')",
        f"SELECT * FROM read_blob('{target.state_dir}/**')",
        f"SELECT * FROM glob('{target.state_dir}/**')",
    ):
        response = run(target, semantic(probe), target.api.keys.other_org)
        assert_safe(target, response, probe)


def test_values_names_sorts_and_calculations_stay_data(target: Target) -> None:
    """Statement text where a value, a field name, a sort or a calculation goes is a value or
    an unknown name, never SQL."""
    keys = target.api.keys
    base = {"join_paths_from_topic_name": "order_items", "fields": ["users.state"]}
    for probe in probes(target)[:8]:
        cases: list[dict[str, Any]] = [
            {**base, "filters": {"users.state": probe}},
            {**base, "filters": {"users.state": {"kind": "EQUALS", "values": [probe]}}},
            {**base, "filters": {"users.state": {"kind": "CONTAINS", "values": [probe]}}},
            {**base, "fields": ["users.state", probe]},
            {**base, "sorts": [{"column_name": probe, "sort_descending": False}]},
            {**base, "calculations": [{"calc_name": "c", "original_formula": f"={probe}"}]},
            {
                **base,
                "calculations": [
                    {"calc_name": "c", "sql_expression": {"type": "raw", "sql": probe}}
                ],
            },
        ]
        for query in cases:
            for key, user in ((keys.org, None), (keys.alice, None), (keys.org, BOB)):
                response = run(target, query, key, user)
                assert response.status_code < 500, (query, response.text[:300])
                assert_safe(target, response, probe)


def test_zz_no_setting_changed_and_queries_still_run(
    target: Target, settings_before: list[Any]
) -> None:
    assert current_settings(target) == settings_before
    ok = run(
        target,
        {"join_paths_from_topic_name": "order_items", "fields": ["users.state"]},
        target.api.keys.org,
    )
    (job,) = [x for x in map(json.loads, ok.text.splitlines()) if "job_id" in x]
    assert job["status"] == "COMPLETE", job
    assert list(target.canary_dir.iterdir()) == []
    assert OTHER_ORG  # the second organization attacked above
