"""Atomic writes: the state directory's JSON and a model folder's files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sluice.storage import write_json_atomic, write_model_file, write_text_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_model_file_is_readable_like_its_folder_and_keeps_its_permissions(
    tmp_path: Path,
) -> None:
    new = tmp_path / "views" / "orders.view.yaml"
    write_model_file(new, "a: 1\n")
    assert new.read_text() == "a: 1\n" and mode(new) == 0o644
    new.chmod(0o640)
    write_model_file(new, "a: 2\n")
    assert new.read_text() == "a: 2\n" and mode(new) == 0o640
    assert [p.name for p in new.parent.iterdir()] == ["orders.view.yaml"]  # no temporary left


def test_state_files_are_private_and_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "schema" / "warehouse.json"
    write_json_atomic(target, {"tables": []})
    assert json.loads(target.read_text()) == {"tables": []} and mode(target) == 0o600
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})  # not JSON: nothing is replaced
    assert json.loads(target.read_text()) == {"tables": []}
    assert [p.name for p in target.parent.iterdir()] == ["warehouse.json"]
    write_text_atomic(target, "{}")
    assert target.read_text() == "{}"
