"""The first-ten-minutes CLI: --version and -h, `query -c`, exit codes, markup printed as text,
warnings with a "did you mean", `--output` choices, `keys revoke <secret>`, `keys list` piped,
personal tokens by user name or email, and the demo's key kept across runs."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.config import load_config
from sluice.stores.embedded.tokens import SqliteTokenStore
from tests.api.support import ALICE, write_project
from tests.conftest import DEMO_MODEL, Runner


def invoke(*args: str, width: int = 200) -> object:
    return CliRunner().invoke(app, list(args), terminal_width=width)


@pytest.fixture(scope="module")
def demo_config(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("polish") / "sluice.yaml"
    path.write_text(
        f"connections:\n  w: {{engine: duckdb, database: '{demo_db}'}}\n"
        f"models:\n  shop: {{connection: w, path: '{DEMO_MODEL}'}}\n"
    )
    return path


@pytest.fixture()
def project(tmp_path: Path, demo_db: Path) -> Path:
    return write_project(tmp_path / "project", demo_db)


def test_version_and_short_help() -> None:
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert result.stdout.strip() == f"sluice {version('sluice-semantic')}"  # type: ignore[attr-defined]
    short = invoke("-h")
    assert short.exit_code == 0 and "Commands" in short.stdout  # type: ignore[attr-defined]
    assert invoke("query", "-h").exit_code == 0  # type: ignore[attr-defined]


def test_query_takes_dash_c_and_prints_grains_and_values_as_text(demo_config: Path) -> None:
    body = {"join_paths_from_topic_name": "order_items",
            "fields": ["order_items.created_at[month]", "order_items.created_at[year]", "order_items.count"],
            "limit": 3}  # fmt: skip
    result = invoke("query", "-c", str(demo_config), "--json", json.dumps(body))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "order_items.created_at[month]" in out and "order_items.created_at[year]" in out


def test_query_prints_markup_in_values_as_it_is(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.yaml").write_text("week_start_day: Monday\n")
    (model / "stores.view.yaml").write_text(
        "sql: SELECT '[bold]store_9[/bold] [x]' AS name UNION ALL SELECT '[red]plain'\n"
        "dimensions:\n  name:\n    primary_key: true\nmeasures:\n  count:\n    aggregate_type: count\n"
    )
    config = tmp_path / "sluice.yaml"
    config.write_text(
        "connections:\n  w: {engine: duckdb}\nmodels:\n  m: {connection: w, path: model}\n"
    )
    body = {"table": "stores", "fields": ["stores.name", "stores.count"],
            "sorts": [{"column_name": "stores.name"}]}  # fmt: skip
    result = invoke("query", "-c", str(config), "--json", json.dumps(body))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "[bold]store_9[/bold] [x]" in out and "[red]plain" in out


def test_misspelled_grain_and_field_warn_with_a_suggestion(demo_config: Path) -> None:
    body = {"join_paths_from_topic_name": "order_items",
            "fields": ["order_items.created_at[mnth]", "order_items.totl_sale_price", "order_items.count"]}  # fmt: skip
    result = invoke("query", "-c", str(demo_config), "--json", json.dumps(body), "--output", "json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "unknown grain `mnth`; did you mean `month`?" in err
    assert "has no field `totl_sale_price`; did you mean `total_sale_price`?" in err
    assert 'left out "order_items.created_at[mnth]"' in err
    rows = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert list(rows[0]) == ["order_items.count"]


def test_compiled_warnings_name_the_cause(runner: Runner) -> None:
    compiled = runner.compile({"join_paths_from_topic_name": "order_items",
                               "fields": ["order_items.created_at[mnth]", "ordr_items.count",
                                          "products.category[month]", "order_items.count"]})  # fmt: skip
    assert compiled.missing_fields == (
        "order_items.created_at[mnth]", "ordr_items.count", "products.category[month]",
    )  # fmt: skip
    assert compiled.warnings == (
        'left out "order_items.created_at[mnth]": unknown grain `mnth`; did you mean `month`?',
        'left out "ordr_items.count": no view `ordr_items`; did you mean `order_items`?',
        'left out "products.category[month]": `products.category` is not a time field and takes no grain',
    )


def test_output_xlsx_is_refused(demo_config: Path) -> None:
    result = invoke("query", "-c", str(demo_config), "--json", "{}", "--output", "xlsx")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "xlsx" in result.output  # type: ignore[attr-defined]


def test_a_missing_config_exits_2_everywhere(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope" / "sluice.yaml")
    for args in (["query", "-c", missing, "--json", "{}"], ["keys", "list", "-c", missing],
                 ["serve", "-c", missing]):  # fmt: skip
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)  # type: ignore[attr-defined]


def test_keys_revoke_accepts_the_secret_itself(project: Path) -> None:
    created = invoke("keys", "create", "-c", str(project), "--name", "notebook")
    secret = created.stdout.strip().splitlines()[-1]  # type: ignore[attr-defined]
    revoked = invoke("keys", "revoke", secret, "-c", str(project))
    assert revoked.exit_code == 0, revoked.output  # type: ignore[attr-defined]
    store = SqliteTokenStore(load_config(project).server.state_dir)
    try:
        assert store.lookup(secret) is not None
        assert store.list() == []  # revoked: not listed without --all
    finally:
        store.close()


def test_keys_list_is_not_cut_when_piped(project: Path) -> None:
    for name in ("a-rather-long-key-name-for-the-nightly-export", "second"):
        invoke("keys", "create", "-c", str(project), "--name", name)
    listed = invoke("keys", "list", "-c", str(project), width=80)
    lines = listed.stdout.splitlines()  # type: ignore[attr-defined]
    assert any("a-rather-long-key-name-for-the-nightly-export" in line for line in lines)
    assert any(re.search(r"sluice_org_\S+…", line) for line in lines)


@pytest.mark.parametrize("who", ["alice", "Alice", "alice@example.com", ALICE])
def test_personal_tokens_by_user_name_or_email(project: Path, who: str) -> None:
    created = invoke("keys", "create", "-c", str(project), "--personal", "--user", who)
    assert created.exit_code == 0, created.output  # type: ignore[attr-defined]
    secret = created.stdout.strip().splitlines()[-1]  # type: ignore[attr-defined]
    store = SqliteTokenStore(load_config(project).server.state_dir)
    try:
        token = store.lookup(secret)
        assert token is not None and token.user_id == ALICE
    finally:
        store.close()


def test_the_demo_keeps_its_key_across_runs(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    args = ["demo", "--dir", str(folder), "--scale", "0.002", "--as-of", "2025-12-31", "--no-serve"]
    first = invoke(*args)
    assert first.exit_code == 0, first.output  # type: ignore[attr-defined]
    key = re.search(r"^export KEY=(\S+)$", first.stdout, re.M)  # type: ignore[attr-defined]
    assert key is not None
    key_file = folder / "demo-key"
    assert key_file.read_text().strip() == key.group(1)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "readable by you only" in first.stdout  # type: ignore[attr-defined]
    assert "Ctrl+C" not in first.stdout  # type: ignore[attr-defined]
    assert "--no-serve" in first.stdout  # type: ignore[attr-defined]

    second = invoke(*args)
    assert second.exit_code == 0, second.output  # type: ignore[attr-defined]
    assert f"export KEY={key.group(1)}" in second.stdout  # type: ignore[attr-defined]
    store = SqliteTokenStore(load_config(folder / "sluice.yaml").server.state_dir)
    try:
        tokens = store.list(include_revoked=True)
        assert len(tokens) == 1 and tokens[0].revoked_at is None
        revoked = invoke("keys", "revoke", tokens[0].id, "-c", str(folder / "sluice.yaml"))
        assert revoked.exit_code == 0
    finally:
        store.close()
    # Only `keys revoke` ends it; the next run makes a new key and keeps that one.
    third = invoke(*args)
    new_key = re.search(r"^export KEY=(\S+)$", third.stdout, re.M)  # type: ignore[attr-defined]
    assert new_key is not None and new_key.group(1) != key.group(1)
    assert key_file.read_text().strip() == new_key.group(1)
