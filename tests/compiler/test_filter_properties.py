"""Property tests: string filter values always match literally and never change SQL shape.

Values include quotes, backslashes, ``%``, ``_``, semicolons, comments and SQL keywords. For
each, the compiled query runs on DuckDB over rows built around the value, and the matched ids
must equal a reference evaluation in Python; and the statement, with its string literals
blanked, must have the same tree as for a harmless value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from sluice.compiler import compile_query
from sluice.model import SemanticModel, load_model
from sluice.query import parse_query

MODEL_ID = "6e0ab1f6-0c0e-4b8e-9b55-0f4c0a3a1d11"
NASTY = ["'", "''", "\\", "\\'", "%", "_", "%_%", ";", "--", "/*", "*/", "' OR 1=1 --",
         "'; DROP TABLE things; --", "SELECT", "NULL", "\"", "`", "$1", "?", "${x}",
         "\n", "\t"]  # fmt: skip

values = st.one_of(
    st.sampled_from(NASTY),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=12,
    ),
    st.lists(st.sampled_from([*NASTY, "a", "B", "z9"]), min_size=1, max_size=4).map("".join),
)
ascii_values = st.lists(
    st.sampled_from([*"aAbBzZ09 '%_\\;-\"", "--", "OR"]), min_size=1, max_size=8
).map("".join)
KINDS = ("EQUALS", "CONTAINS", "STARTS_WITH", "ENDS_WITH")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> SemanticModel:
    folder: Path = tmp_path_factory.mktemp("model")
    (folder / "things.view.yaml").write_text(
        "dimensions:\n  id:\n    primary_key: true\n  name: {}\nmeasures:\n"
        "  count:\n    aggregate_type: count\n"
    )
    types = {"things": {"id": "number", "name": "string"}}
    return load_model(folder, column_types=lambda table, _schema: types.get(table))


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE things (id INTEGER, name VARCHAR)")
    yield conn
    conn.close()


def rows_for(value: str) -> list[str | None]:
    return [value, value + "x", "x" + value, "x" + value + "x", value.upper(), value.lower(),
            "plain", "", None, value.replace("%", "a").replace("_", "b") + "!"]  # fmt: skip


def reference(kind: str, value: str, name: str | None, negative: bool, ci: bool) -> bool:
    if name is None:
        return negative  # negated filters keep NULL rows; positive ones never match NULL
    subject, target = (name.lower(), value.lower()) if ci else (name, value)
    hit = {
        "EQUALS": subject == target,
        "CONTAINS": target in subject,
        "STARTS_WITH": subject.startswith(target),
        "ENDS_WITH": subject.endswith(target),
    }[kind]
    return hit != negative


def compile_filter(model: SemanticModel, kind: str, value: str, negative: bool, ci: bool) -> str:
    body = {
        "modelId": MODEL_ID,
        "table": "things",
        "fields": ["things.id"],
        "filters": {
            "things.name": {
                "type": "string",
                "kind": kind,
                "values": [value],
                "is_negative": negative,
                "case_insensitive": ci,
            }
        },
        "limit": None,
    }
    return compile_query(model, parse_query(body)).sql


def shape(sql: str) -> str:
    statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    assert len(statements) == 1, f"a filter value produced {len(statements)} statements"
    tree = statements[0].transform(
        lambda n: exp.Literal.string("?") if isinstance(n, exp.Literal) and n.is_string else n
    )
    return tree.sql(dialect="duckdb")


def check(db: duckdb.DuckDBPyConnection, model: SemanticModel, value: str, kind: str,
          negative: bool, ci: bool) -> None:  # fmt: skip
    rows = rows_for(value)
    db.execute("DELETE FROM things")
    db.executemany("INSERT INTO things VALUES (?, ?)", list(enumerate(rows)))
    sql = compile_filter(model, kind, value, negative, ci)
    got = sorted(r[0] for r in db.execute(sql).fetchall())
    want = sorted(i for i, name in enumerate(rows) if reference(kind, value, name, negative, ci))
    assert got == want, f"{kind} {value!r} negative={negative}: got {got}, want {want}\n{sql}"
    assert shape(sql) == shape(compile_filter(model, kind, "harmless", negative, ci))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values, kind=st.sampled_from(KINDS), negative=st.booleans())
def test_string_values_match_literally(
    db: duckdb.DuckDBPyConnection, model: SemanticModel, value: str, kind: str, negative: bool
) -> None:
    check(db, model, value, kind, negative, ci=False)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=ascii_values, kind=st.sampled_from(KINDS), negative=st.booleans())
def test_case_insensitive_values_match_literally(
    db: duckdb.DuckDBPyConnection, model: SemanticModel, value: str, kind: str, negative: bool
) -> None:
    check(db, model, value, kind, negative, ci=True)


@pytest.mark.parametrize("value", NASTY)
def test_each_nasty_value_in_an_in_list(
    db: duckdb.DuckDBPyConnection, model: SemanticModel, value: str
) -> None:
    rows = rows_for(value)
    db.execute("DELETE FROM things")
    db.executemany("INSERT INTO things VALUES (?, ?)", list(enumerate(rows)))
    body = {
        "modelId": MODEL_ID,
        "table": "things",
        "fields": ["things.name", "things.count"],
        "filters": {"things.name": {"type": "string", "values": [value, "plain"]}},
    }
    sql = compile_query(model, parse_query(body)).sql
    got = {r[0]: r[1] for r in db.execute(sql).fetchall()}
    want: dict[str, int] = {}
    for name in rows:
        if name in (value, "plain"):
            want[name] = want.get(name, 0) + 1
    assert got == want
