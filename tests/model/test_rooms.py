"""The rooms of ``model/``: only ``model/files.py`` touches the disk; everything else takes
texts, so the model can be loaded from an API's files as well as from a folder."""

from __future__ import annotations

import ast
from pathlib import Path

MODEL = Path(__file__).resolve().parents[2] / "src" / "sluice" / "model"
FILES_MODULE = MODEL / "files.py"
# Methods of ``Path`` (and of file objects) that read, list or change the disk.
DISK_METHODS = frozenset(
    {"open", "read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "glob", "rglob",
     "walk", "is_dir", "is_file", "exists", "stat", "mkdir", "unlink", "rmdir", "touch"}
)  # fmt: skip
DISK_MODULES = frozenset({"os", "shutil", "glob", "io", "tempfile"})


def disk_access(path: Path) -> list[str]:
    """Where the module's code reads or lists files: ``open(...)``, a ``Path`` disk method, or
    any use of ``os``/``shutil``/``glob``/``io``/``tempfile``, as ``line: what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "open":
                found.append(f"{node.lineno}: open()")
            elif isinstance(func, ast.Attribute) and func.attr in DISK_METHODS:
                found.append(f"{node.lineno}: .{func.attr}()")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in DISK_MODULES:
                    found.append(f"{node.lineno}: import {alias.name}")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in DISK_MODULES
        ):
            found.append(f"{node.lineno}: from {node.module} import ...")
    return sorted(found, key=lambda hit: int(hit.split(":", 1)[0]))


def test_only_the_files_module_touches_the_disk() -> None:
    modules = sorted(MODEL.rglob("*.py"))
    assert FILES_MODULE in modules and len(modules) > 5
    offenders = {
        str(path.relative_to(MODEL)): hits
        for path in modules
        if path != FILES_MODULE and (hits := disk_access(path))
    }
    assert not offenders, offenders


def test_the_check_sees_the_files_module_read_the_disk() -> None:
    """The check is not blind: it finds ``read_folder``'s reads and the folder test."""
    hits = disk_access(FILES_MODULE)
    assert any(".read_text()" in h for h in hits), hits
    assert any(".rglob()" in h for h in hits), hits
    assert any(".is_dir()" in h for h in hits), hits


def test_the_check_sees_every_kind_of_disk_access(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "import os\nfrom shutil import copy\n"
        "def f(p):\n    open(p)\n    p.read_bytes()\n    p.iterdir()\n    return p.glob('*')\n"
    )
    assert [h.split(": ", 1)[1] for h in disk_access(module)] == [
        "import os",
        "from shutil import ...",
        "open()",
        ".read_bytes()",
        ".iterdir()",
        ".glob()",
    ]
