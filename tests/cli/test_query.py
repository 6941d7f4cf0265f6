"""``sluice query``: one query in process, printed as a table (in the fields' formats), as JSON
or CSV, or as SQL only; bad input exits non-zero with a message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from tests.conftest import DEMO_MODEL, Runner


@pytest.fixture(scope="module")
def config(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "sluice.yaml"
    path.write_text(
        f"connections:\n  w: {{engine: duckdb, database: '{demo_db}'}}\n"
        f"models:\n  shop: {{connection: w, path: '{DEMO_MODEL}'}}\n"
    )
    return path


QUERY = {"join_paths_from_topic_name": "order_items", "fields": ["order_items.status", "order_items.total_sale_price"],
         "sorts": [{"column_name": "order_items.status"}]}  # fmt: skip


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args), terminal_width=200)


def test_json_output_equals_hand_sql(config: Path, runner: Runner) -> None:
    result = invoke(
        "query", "--config", str(config), "--json", json.dumps(QUERY), "--output", "json"
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    rows = json.loads(result.stdout.splitlines()[0])  # type: ignore[attr-defined]
    want = runner.sql(
        "SELECT status, sum(sale_price) FROM order_items GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert [r["order_items.status"] for r in rows] == [w["status"] for w in want]
    assert [r["order_items.total_sale_price"] for r in rows] == pytest.approx(
        [w["sum(sale_price)"] for w in want]
    )


def test_table_uses_field_formats_and_sql_only(config: Path) -> None:
    table = invoke("query", "--config", str(config), "--json", json.dumps(QUERY))
    assert table.exit_code == 0 and "$" in table.stdout and "row(s)" in table.stdout  # type: ignore[attr-defined]
    sql = invoke("query", "--config", str(config), "--json", json.dumps(QUERY), "--sql")
    assert sql.stdout.startswith("SELECT") and "GROUP BY" in sql.stdout  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ("{bad", 2, "--json is not valid JSON"),
        (
            json.dumps(
                {"join_paths_from_topic_name": "order_items", "fields": ["order_items.nope"]}
            ),
            1,
            "no valid fields",
        ),
        (
            json.dumps({"join_paths_from_topic_name": "nope", "fields": ["order_items.count"]}),
            1,
            "Topic nope not found",
        ),
    ],
)
def test_bad_input_exits_with_a_message(config: Path, body: str, code: int, message: str) -> None:
    result = invoke("query", "--config", str(config), "--json", body)
    assert result.exit_code == code  # type: ignore[attr-defined]
    assert message in " ".join(result.output.split())  # type: ignore[attr-defined]
