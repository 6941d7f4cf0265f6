"""Imports point one way: the pure layers (model, query, compiler) never import I/O layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sluice"
PURE = ("model", "query", "compiler", "postquery")
FORBIDDEN = ("sluice.engines", "sluice.api", "sluice.jobs", "sluice.cache", "sluice.auth",
             "sluice.results", "sluice.project", "sluice.cli", "sluice.config",
             "duckdb", "pyarrow.csv", "fastapi", "starlette", "uvicorn", "sqlite3", "redis",
             "httpx", "requests", "socket", "subprocess")  # fmt: skip


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_import_no_io(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files
    for path in files:
        bad = {n for n in imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_model_does_not_import_later_layers() -> None:
    for path in (PACKAGE / "model").rglob("*.py"):
        later = {n for n in imports(path) if n.startswith(("sluice.query", "sluice.compiler"))}
        assert not later, f"{path.name} imports {sorted(later)}"


def test_only_the_replicas_package_talks_to_redis() -> None:
    """One job service, cache and auth layer; the Redis stores live behind their protocols."""
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "replicas":
            continue
        talks = {n for n in imports(path) if n == "redis" or n.startswith("redis.")}
        assert not talks, f"{path.relative_to(PACKAGE)} imports {sorted(talks)}"
