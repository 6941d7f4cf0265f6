"""Files sluice writes atomically: its state directory's (schema snapshots, branches) and a
model folder's (files changed through the model API, or by another replica)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file (hidden, beside it) renamed over
    it, so a reader (or a crash) never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(target: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``target``, atomically (``write_text_atomic``)."""
    write_text_atomic(target, json.dumps(data))
