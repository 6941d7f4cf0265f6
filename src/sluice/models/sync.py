"""Model changes shared by replicas (with Redis: ``sluice.stores.redis.models``).

Every replica serves its own copy of a model folder. A change made through the model API (a
write, a delete, a merge) is published before it is written to disk: each changed file's key
with its new text (None: deleted), the change's id, author and message, and the model's next
shared version. The shared store keeps the current text of every file changed that way and one
version counter per model, so a replica notices a change by reading the counter (one round trip
per poll), applies what changed to its own folder, and a replica that was down catches up when
it starts. Publishing is conditional on the version the writer last saw: two writers never both
win, and a stale ``previousChecksum`` is a 409 on every replica.

Files edited on one host's disk are that host's business: they are not published (only the
version number moves, so it keeps growing with every change a replica serves).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sluice.model.files import read_folder
from sluice.models.changes import Author, Change, ChangeRecorder
from sluice.models.files import local_path
from sluice.storage import write_model_file

log = logging.getLogger("sluice.models")


@dataclass(frozen=True, slots=True)
class SharedChange:
    """One change made through the API: {file key: text, or None when deleted}."""

    files: Mapping[str, str | None]
    action: str  # "write" | "delete" | "merge"
    message: str
    author: Author
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file's current content in the shared store, and the change that wrote it."""

    key: str
    text: str | None  # None: deleted
    version: int  # the model's shared version that change made
    change: str  # the change's id
    action: str
    message: str
    author: Author

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "version": self.version,
            "change": self.change,
            "action": self.action,
            "message": self.message,
            "author": {"name": self.author.name, "email": self.author.email},
        }

    @classmethod
    def from_json(cls, key: str, data: Mapping[str, Any]) -> SharedFile:
        author = data.get("author") or {}
        text = data.get("text")
        return cls(
            key=key,
            text=None if text is None else str(text),
            version=int(data.get("version") or 0),
            change=str(data.get("change") or ""),
            action=str(data.get("action") or "write"),
            message=str(data.get("message") or ""),
            author=Author(str(author.get("name") or ""), str(author.get("email") or "")),
        )


def shared_files(change: SharedChange, version: int) -> list[SharedFile]:
    return [
        SharedFile(key, text, version, change.id, change.action, change.message, change.author)
        for key, text in sorted(change.files.items())
    ]


class ModelSync(Protocol):
    def version(self, model_id: str, initial: int) -> int:
        """The model's shared version; ``initial`` becomes it when there is none yet."""
        ...

    def versions(self, model_ids: Sequence[str]) -> dict[str, int | None]:
        """The shared version of each model (None: none yet), in one round trip."""
        ...

    def files(self, model_id: str) -> dict[str, SharedFile]:
        """Every file changed through the API, by key, as it is now."""
        ...

    def publish(
        self,
        model_id: str,
        expected: int,
        change: SharedChange,
        next_version: Callable[[int], int],
    ) -> int | None:
        """Store ``change`` and move the version to ``next_version(current)``, only if the
        version is still ``expected``. Returns the new version, or None when another replica
        changed the model first (catch up and try again)."""
        ...

    def bump(self, model_id: str, at_least: int) -> int:
        """Move the version past the current one (to ``at_least`` or more) without a change
        to share: a replica served something new from its own disk."""
        ...

    def close(self) -> None: ...


def apply_shared(
    root: Path, name: str, files: Mapping[str, SharedFile], since: int, changes: ChangeRecorder
) -> tuple[bool, bool]:
    """Write into the model folder ``root`` (model ``name``) the shared files newer than
    ``since`` whose text differs from the folder's; record each change as the replica that made
    it did (git commit or change log). Returns whether a file was written, and whether any is
    newer than ``since`` (written now, or already here: replicas that share one folder)."""
    local = read_folder(root)
    by_change: dict[str, tuple[SharedFile, list[str]]] = {}
    newer = False
    for key, entry in sorted(files.items()):
        if entry.version <= since:
            continue
        newer = True
        path = local_path(key, local)
        if local.get(path) == entry.text:
            continue  # already here (the same folder, or applied before): idempotent
        target = root / path
        if entry.text is None:
            target.unlink(missing_ok=True)
        else:
            write_model_file(target, entry.text)
        by_change.setdefault(entry.change, (entry, []))[1].append(path)
    for entry, paths in by_change.values():
        change = Change(name, tuple(paths), entry.action, entry.message, entry.author)
        try:
            changes.record(root, change)
        except Exception:
            log.exception("model %s: recording a change from another replica failed", name)
    if by_change:
        log.info(
            "model %s: applied %d change(s) made through the API on another replica",
            name,
            len(by_change),
        )
    return bool(by_change), newer
