"""``sluice validate`` on a broken copy of the demo model reports every planted error.

Each planted error is found with the file and the line it sits on; validation never stops at
the first problem.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.errors import ModelError
from sluice.model import check_model, load_model
from tests.conftest import DEMO_MODEL


def line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


@pytest.fixture
def broken(tmp_path: Path) -> tuple[Path, list[tuple[str, int, str]]]:
    """A copy of the demo model with planted errors, and (file, line, message regex) for each."""
    folder = tmp_path / "model"
    shutil.copytree(DEMO_MODEL, folder)
    items = folder / "order_items.view.yaml"
    text = items.read_text().replace(
        "measures:\n",
        "  double_price:\n    sql: ${sale_prise} * 2\n    type: number\n"
        "  bad_view_ref:\n    sql: ${customers.name}\n    type: string\n"
        "measures:\n"
        "  status:\n    aggregate_type: count\n"
        "  weird_total:\n    sql: ${sale_price}\n    aggregate_type: summ\n"
        "  loop_a:\n    sql: ${loop_b} + 1\n"
        "  loop_b:\n    sql: ${loop_a} * 2\n",
        1,
    )
    items.write_text(text)
    rels = folder / "relationships.yaml"
    rels.write_text(
        rels.read_text()
        + "\n- join_from_view: order_items\n  join_to_view: customers\n"
        + "  on_sql: ${order_items.user_id} = ${customers.id}\n"
        + "  relationship_type: many_to_one\n"
    )
    topic = folder / "order_items.topic.yaml"
    topic.write_text(topic.read_text().replace("joins:\n", "joins:\n  events: {}\n", 1))
    assert "  events: {}" in topic.read_text()
    (folder / "users.view").write_text("dimensions:\n  id:\n    primary_key: true\n")
    f = "order_items.view.yaml"
    expected = [
        (f, line_of(items, "double_price:"), r"\$\{sale_prise\} names no field of `order_items`; did you mean `sale_price`"),
        (f, line_of(items, "bad_view_ref:"), r"unknown view `customers`"),
        (f, _second(items, "  status:"), r"both a dimension and a measure"),
        (f, line_of(items, "aggregate_type: summ"), r"unknown aggregate_type `summ`; did you mean `sum`"),
        (f, line_of(items, "loop_a:"), r"reference cycle: order_items.loop_a -> order_items.loop_b -> order_items.loop_a"),
        ("relationships.yaml", line_of(rels, "join_to_view: customers"), r"join_to_view `customers`: no such view"),
        ("order_items.topic.yaml", line_of(topic, "events: {}"), r"joins `events` to `order_items`, but no relationship"),
        ("users.view.yaml", 1, r"duplicate view `users` \(also in users.view\)"),
    ]  # fmt: skip
    return folder, expected


def _second(path: Path, text: str) -> int:
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(text)]
    assert len(hits) >= 2, hits
    return hits[1]


def test_check_model_reports_every_planted_error(
    broken: tuple[Path, list[tuple[str, int, str]]],
) -> None:
    folder, expected = broken
    _, issues = check_model(folder)
    errors = [i for i in issues if i.severity == "error"]
    for file, line, pattern in expected:
        hits = [
            i for i in errors if i.file == file and i.line == line and re.search(pattern, i.message)
        ]
        assert hits, f"not reported: {file}:{line} /{pattern}/\nreported:\n" + "\n".join(map(str, errors))  # fmt: skip


def test_load_model_raises_with_all_issues(broken: tuple[Path, list[tuple[str, int, str]]]) -> None:
    folder, expected = broken
    with pytest.raises(ModelError) as info:
        load_model(folder)
    assert len([i for i in info.value.issues if i.severity == "error"]) >= len(expected)


def test_cli_validate_prints_file_and_line_and_fails(
    broken: tuple[Path, list[tuple[str, int, str]]],
) -> None:
    folder, expected = broken
    result = CliRunner().invoke(app, ["validate", str(folder)], terminal_width=400)
    assert result.exit_code == 1, result.output
    for file, line, _ in expected:
        assert f"{folder / file}:{line}" in result.output, result.output


def test_cli_validate_clean_model_against_warehouse(demo_db: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(DEMO_MODEL), "--database", str(demo_db)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_missing_column_is_reported_against_warehouse(tmp_path: Path, demo_db: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(DEMO_MODEL, folder)
    view = folder / "products.view.yaml"
    view.write_text(view.read_text().replace("dimensions:\n", "dimensions:\n  colour: {}\n", 1))
    result = CliRunner().invoke(
        app, ["validate", str(folder), "--database", str(demo_db)], terminal_width=400
    )
    assert result.exit_code == 1
    assert f"products.view.yaml:{line_of(view, 'colour:')}" in result.output
    assert "no column `colour`" in result.output


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.view.yaml").write_text("dimensions:\n  id: {primary_key: true\n  name: {}\n")
    _, issues = check_model(folder)
    assert issues and issues[0].file == "a.view.yaml" and issues[0].line >= 2
    assert "invalid YAML" in issues[0].message


def test_an_indentation_error_is_one_issue_with_a_hint(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(DEMO_MODEL, folder)
    view = folder / "order_items.view.yaml"
    lines = view.read_text().splitlines()
    broken = next(i for i, text in enumerate(lines) if text == "  user_id:")
    lines[broken] = " " + lines[broken]
    view.write_text("\n".join(lines) + "\n")
    _, issues = check_model(folder)
    assert [(i.file, i.line) for i in issues] == [("order_items.view.yaml", broken + 1)]
    assert "invalid YAML" in issues[0].message and "indentation" in issues[0].message


def test_dollar_braces_inside_inline_braces_hint_to_quote(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.view.yaml").write_text(
        "dimensions:\n  amount: {}\nmeasures:\n  total: {sql: ${amount}, aggregate_type: sum}\n"
    )
    _, issues = check_model(folder)
    assert len(issues) == 1 and issues[0].line == 4
    assert "must be quoted" in issues[0].message


def test_tabs_hint_to_indent_with_spaces(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.view.yaml").write_text("dimensions:\n\tid: {}\n")
    _, issues = check_model(folder)
    assert len(issues) == 1 and "spaces, not tabs" in issues[0].message


def test_relationships_that_do_not_parse_do_not_cascade(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(DEMO_MODEL, folder)
    (folder / "relationships.yaml").write_text("- join_from_view: order_items\n join_to_view: x\n")
    _, issues = check_model(folder)
    assert [i.file for i in issues] == ["relationships.yaml"], issues


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "empty")], terminal_width=400)
    assert result.exit_code == 1
    assert "no views" in result.output and ":0" not in result.output


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "nope")], terminal_width=400)
    assert result.exit_code == 2
    assert "no such file or folder" in result.output and ":0" not in result.output
