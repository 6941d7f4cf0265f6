"""Branches (contract: omni-model-api.md §3): a named overlay of changed or deleted files on
top of a shared model. A branch stores only the files it changes, so it sees later changes of
its base; it lives in the state directory (embedded) or in Redis (replicas share it).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sluice.errors import BadRequest
from sluice.storage import write_json_atomic

NAME = re.compile(r"[\w\-/]+")


def now_iso(clock: float) -> str:
    return (
        datetime.fromtimestamp(clock, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass(frozen=True, slots=True)
class Branch:
    id: str
    name: str
    base_model_id: str
    connection_id: str
    created_at: str
    updated_at: str
    # {path relative to the model folder: text, or None for a file the branch deletes}
    files: Mapping[str, str | None] = field(default_factory=dict)

    def overlay(self, base: Mapping[str, str]) -> dict[str, str]:
        """The branch's files over ``base`` ({relative path: text})."""
        out = dict(base)
        for path, text in self.files.items():
            if text is None:
                out.pop(path, None)
            else:
                out[path] = text
        return out

    def with_file(self, path: str, text: str | None, clock: float) -> Branch:
        return replace(self, files={**self.files, path: text}, updated_at=now_iso(clock))

    def answer(self) -> dict[str, Any]:
        """As ``POST /api/v1/models`` and the model list show it."""
        return {
            "id": self.id,
            "name": self.name,
            "modelKind": "BRANCH",
            "baseModelId": self.base_model_id,
            "connectionId": self.connection_id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "deletedAt": None,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "base_model_id": self.base_model_id,
            "connection_id": self.connection_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "files": dict(self.files),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Branch:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            base_model_id=str(data["base_model_id"]),
            connection_id=str(data["connection_id"]),
            created_at=str(data["created_at"]),
            updated_at=str(data["updated_at"]),
            files=dict(data.get("files") or {}),
        )


def new_branch(name: str, base_model_id: str, connection_id: str, clock: float) -> Branch:
    if not NAME.fullmatch(name):
        raise BadRequest(f"modelName {name!r} is not a branch name (letters, digits, _ - /)")
    stamp = now_iso(clock)
    return Branch(str(uuid.uuid4()), name, base_model_id, connection_id, stamp, stamp)


class BranchStore(Protocol):
    def all(self) -> list[Branch]: ...

    def get(self, branch_id: str) -> Branch | None: ...

    def put(self, branch: Branch) -> None: ...

    def delete(self, branch_id: str) -> None: ...

    def close(self) -> None: ...


class FileBranchStore:
    """One JSON file per branch in ``state_dir/branches``, each written atomically."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "branches"
        self._lock = threading.Lock()

    def _path(self, branch_id: str) -> Path:
        return self.folder / f"{uuid.UUID(branch_id)}.json"

    def all(self) -> list[Branch]:
        out = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                out.append(Branch.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, KeyError):
                continue
        return out

    def get(self, branch_id: str) -> Branch | None:
        try:
            return Branch.from_json(json.loads(self._path(branch_id).read_text()))
        except (OSError, ValueError, KeyError):
            return None

    def put(self, branch: Branch) -> None:
        with self._lock:
            write_json_atomic(self._path(branch.id), branch.to_json())

    def delete(self, branch_id: str) -> None:
        self._path(branch_id).unlink(missing_ok=True)

    def close(self) -> None:
        return None


class RedisBranchStore:
    """Branches in one Redis hash (``<prefix>:branches``), shared by every replica."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._key = f"{prefix}:branches"

    def all(self) -> list[Branch]:
        raw = self._client.hgetall(self._key)
        return sorted(
            (Branch.from_json(json.loads(v)) for v in raw.values()), key=lambda b: b.created_at
        )

    def get(self, branch_id: str) -> Branch | None:
        raw = self._client.hget(self._key, branch_id)
        return Branch.from_json(json.loads(raw)) if raw else None

    def put(self, branch: Branch) -> None:
        self._client.hset(self._key, branch.id, json.dumps(branch.to_json()))

    def delete(self, branch_id: str) -> None:
        self._client.hdel(self._key, branch_id)

    def close(self) -> None:
        self._client.close()
