"""Imports point one way: the pure layers (model, query, compiler) never import I/O layers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sluice"
README = PACKAGE.parents[1] / "README.md"
PURE = ("model", "query", "compiler", "postquery")
FORBIDDEN = ("sluice.engines", "sluice.api", "sluice.jobs", "sluice.cache", "sluice.auth",
             "sluice.results", "sluice.project", "sluice.cli", "sluice.server", "sluice.config",
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


# The one module of a pure layer that may touch files: it reads a model folder into texts.
READS_FILES = {Path("model/files.py")}
_FILE_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "glob", "rglob",
                 "scandir", "listdir", "mkdir", "rmdir", "unlink", "touch", "symlink_to"}  # fmt: skip
_FILE_MODULES = {"os", "shutil", "tempfile", "glob", "io"}


def file_calls(source: str) -> list[str]:
    """Where ``source`` reads, lists or changes files: ``open()``, a ``Path`` disk method, or a
    call into ``os``/``shutil``/``tempfile``/``glob``/``io``."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            calls.append(f"open() on line {node.lineno}")
        elif isinstance(func, ast.Attribute):
            base = func.value
            while isinstance(base, ast.Attribute):  # os.path.exists -> os
                base = base.value
            if func.attr in _FILE_METHODS or (
                isinstance(base, ast.Name) and base.id in _FILE_MODULES
            ):
                calls.append(f"{ast.unparse(func)}() on line {node.lineno}")
    return calls


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_touch_no_file(layer: str) -> None:
    """No file I/O in the pure layers: they take texts and values, and hand back values."""
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel not in READS_FILES:
            assert not file_calls(path.read_text()), f"{rel} touches files"


def test_the_file_check_sees_every_kind_of_access() -> None:
    assert file_calls((PACKAGE / next(iter(READS_FILES))).read_text())  # the reader reads
    planted = "open('x')\nPath('x').read_text()\nos.path.exists('x')\nshutil.copy('a', 'b')"
    assert len(file_calls(planted)) == 4
    assert file_calls("text.replace('a', 'b')\nnode.walk()\ndataclasses.replace(x)") == []


def test_model_does_not_import_later_layers() -> None:
    for path in (PACKAGE / "model").rglob("*.py"):
        later = {n for n in imports(path) if n.startswith(("sluice.query", "sluice.compiler"))}
        assert not later, f"{path.name} imports {sorted(later)}"


def test_only_the_redis_stores_talk_to_redis() -> None:
    """One job service, cache and auth layer; the Redis stores live behind their protocols."""
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[:2] == ("stores", "redis"):
            continue
        talks = {n for n in imports(path) if n == "redis" or n.startswith("redis.")}
        assert not talks, f"{path.relative_to(PACKAGE)} imports {sorted(talks)}"


def test_the_redis_stores_are_imported_only_where_stores_are_chosen() -> None:
    """Outside ``stores/redis/``, only ``stores/select.py`` names them, and only inside the
    functions that run when a Redis URL is configured (never at module level)."""
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[:2] == ("stores", "redis"):
            continue
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        names = {n.module for n in top if isinstance(n, ast.ImportFrom) and n.module}
        names |= {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        assert not {n for n in names if n.startswith("sluice.stores.redis")}, rel
        if rel != Path("stores/select.py"):
            assert not {n for n in imports(path) if n.startswith("sluice.stores.redis")}, rel


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sluice_imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` for every ``from sluice... import names`` and ``import sluice...``."""
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sluice"):
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names if a.name.startswith("sluice"))
    return out


def test_no_private_name_is_imported_across_modules() -> None:
    """A leading underscore means "this module's own": another module importing it is a room
    reaching into another's cupboard. Make the name public, or move the code."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, names in _sluice_imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                offenders.append(f"{path.relative_to(PACKAGE)}: {module} {private}")
    assert not offenders, "\n".join(offenders)


def test_the_import_graph_has_no_cycle() -> None:
    """Every import, lazy ones included, points one way: no module needs one that needs it."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, names in _sluice_imports(path):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            targets = targets or ([module] if module in modules else [])
            graph[name].update(t for t in targets if t != name)
    # Package __init__ files re-export their modules; an edge into a package is an edge into
    # whatever its __init__ imports, which the walk below follows.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def readme_layers() -> list[str]:
    """The rooms of ``src/sluice/`` in the order of the README's architecture block, top
    (imported by everything below) to bottom (``cli/``, which may import anything)."""
    text = README.read_text()
    section = text[text.index("## Architecture") :]
    block = section[section.index("```\n") + 4 :]
    block = block[: block.index("```")]
    return [m.group(1) for m in re.finditer(r"^([a-z_]+(?:\.py|/))", block, re.M)]


def _room(module: str) -> str:
    """``sluice.jobs.worker`` -> ``jobs/``; ``sluice.server`` -> ``server.py``."""
    name = module.split(".")[1]
    return f"{name}/" if (PACKAGE / name).is_dir() else f"{name}.py"


def test_the_readme_names_every_room_once() -> None:
    layers = readme_layers()
    assert len(layers) == len(set(layers)), layers
    rooms = {f"{p.name}/" for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    rooms |= {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert set(layers) == rooms, (sorted(rooms - set(layers)), sorted(set(layers) - rooms))
    assert layers[-2:] == ["server.py", "cli/"], layers[-2:]


def test_every_import_points_up_the_readme_order() -> None:
    """A room imports only from the rooms above it in the README (lazy imports included):
    ``server.py`` wires everything but the CLI, and ``cli/`` sits on top of all of it."""
    rank = {room: i for i, room in enumerate(readme_layers())}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel == Path("__init__.py"):
            continue
        room = f"{rel.parts[0]}/" if len(rel.parts) > 1 else rel.name
        for module, _ in _sluice_imports(path):
            if module == "sluice":
                continue
            target = _room(module)
            if target == room:
                continue
            if rank[target] > rank[room]:
                offenders.append(f"{rel} ({room}) imports {module} ({target})")
    assert not offenders, "\n".join(offenders)
