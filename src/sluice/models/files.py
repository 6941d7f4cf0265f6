"""Model files as the model YAML API names them (contract: omni-model-api.md §2).

A file's key is its path in the model folder without the ``.yaml``/``.yml`` suffix: ``model``,
``relationships``, ``<name>.topic``, ``<name>.view``, ``<schema>/<table>.view``. Checksums are
opaque to clients: a hash of the text, so a writer that read an older text is told (409).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

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
