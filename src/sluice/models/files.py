"""Model files as the model YAML API names them (contract: omni-model-api.md §2).

A file's key is its path in the model folder without the ``.yaml``/``.yml`` suffix: ``model``,
``relationships``, ``<name>.topic``, ``<name>.view``, ``<schema>/<table>.view``. Checksums are
opaque to clients: a hash of the text, so a writer that read an older text is told (409).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from sluice.errors import BadRequest

KEY = re.compile(r"(model|relationships|([\w\-]+/)?[\w\-]+\.(view|topic|query\.view))")
SUFFIXES = (".yaml", ".yml")


def key_of(path: str) -> str:
    """The key of a file at ``path`` (relative to the model folder)."""
    for suffix in SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def keyed(files: Mapping[str, str]) -> dict[str, str]:
    """{key: text} of {relative path: text}."""
    return {key_of(path): text for path, text in files.items()}


def path_for(key: str, files: Mapping[str, str]) -> str:
    """The relative path a key is stored at: the existing file's, else ``<key>.yaml``. A key
    that is not a model file's (or would leave the folder) is a 400."""
    if not KEY.fullmatch(key):
        raise BadRequest(
            f"fileName {key!r} is not a model file: use `model`, `relationships`, "
            "`<name>.topic`, `<name>.view` or `<schema>/<table>.view`"
        )
    return local_path(key, files)


def local_path(key: str, files: Mapping[str, str]) -> str:
    """Where ``files`` keep the file ``key``: its existing path, else ``<key>.yaml``."""
    for path in files:
        if key_of(path) == key:
            return path
    return key + ".yaml"


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def select(files: Mapping[str, str], pattern: str | None) -> dict[str, str]:
    """The files whose key is ``pattern`` exactly, else those it matches as a regular
    expression (searched anywhere in the key); all without a pattern."""
    if not pattern:
        return dict(files)
    if pattern in files:
        return {pattern: files[pattern]}
    try:
        found = re.compile(pattern)
    except re.error as exc:
        raise BadRequest(
            f"fileName {pattern!r} is neither a file nor a regular expression: {exc}"
        ) from None
    return {key: text for key, text in files.items() if found.search(key)}


# -- watching a folder --------------------------------------------------------------------------

Fingerprint = tuple[tuple[str, int, int], ...]
Stamp = tuple[int, int] | None  # a file's modification time and size; None: no file


def fingerprint(folder: Path | str) -> Fingerprint:
    """The model files of a folder with their modification times and sizes."""
    root = Path(folder)
    out = []
    try:
        for path in root.rglob("*"):
            rel = path.relative_to(root)
            if ".git" in rel.parts or not path.name.endswith(SUFFIXES):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((str(rel), stat.st_mtime_ns, stat.st_size))
    except OSError:
        return ()
    return tuple(sorted(out))


def stamp(path: Path | str) -> Stamp:
    """A file's modification time and size (None when it is missing)."""
    try:
        found = Path(path).stat()
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size)
