"""Files sluice writes atomically: its state directory's (schema snapshots, branches) and a
model folder's (files changed through the model API, or by another replica)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(target: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``target`` through a temporary file (hidden, beside it) renamed over
    it, so a reader (or a crash) never sees half a file. ``mode``: the new file's permissions
    (None: the private 0600 of a temporary file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            if mode is not None:
                os.fchmod(out.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(target: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``target``, atomically (``write_text_atomic``)."""
    write_text_atomic(target, json.dumps(data))


def write_model_file(target: Path, text: str) -> None:
    """``write_text_atomic`` for a file of a model folder, which people, git and other tools
    read too: it keeps the permissions the file had, and a new file gets 0644."""
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    write_text_atomic(target, text, mode=mode)
