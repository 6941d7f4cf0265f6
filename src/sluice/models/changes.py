"""Who changed which model file when: a git commit when the model folder is a git work tree,
else one JSON line in an append-only log in the state directory."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sluice.errors import InternalError

log = logging.getLogger("sluice.models")


@dataclass(frozen=True, slots=True)
class Author:
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Change:
    model: str  # the model's name
    paths: tuple[str, ...]  # relative to the model folder
    action: str  # "write" | "delete" | "merge"
    message: str
    author: Author


def in_git(folder: Path) -> bool:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"


class ChangeRecorder:
    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "model-changes"

    def log_path(self, model: str) -> Path:
        return self.folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', model)}.jsonl"

    def record(self, folder: Path, change: Change) -> None:
        """Commit the change's files (git) or append it to the model's change log."""
        if in_git(folder):
            self._commit(folder, change)
            return
        self.log(change)

    def log(self, change: Change) -> None:
        """Append the change to the model's change log."""
        self.folder.mkdir(parents=True, exist_ok=True)
        line = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": change.model,
            "files": list(change.paths),
            "action": change.action,
            "message": change.message,
            "author": change.author.name,
            "email": change.author.email,
        }
        with open(self.log_path(change.model), "a") as out:
            out.write(json.dumps(line) + "\n")

    def _commit(self, folder: Path, change: Change) -> None:
        author = f"{change.author.name} <{change.author.email}>"
        identity = [
            "-c",
            f"user.name={change.author.name}",
            "-c",
            f"user.email={change.author.email}",
        ]
        paths = list(change.paths)
        _git(folder, ["add", "-A", "--", *paths])
        staged = _git(folder, ["diff", "--cached", "--name-only", "--", *paths])
        if not staged.strip():
            return  # the same text again: nothing to commit
        _git(
            folder,
            [*identity, "commit", "-q", "-m", change.message, "--author", author, "--", *paths],
        )


def _git(folder: Path, args: Sequence[str]) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        log.error("git %s failed in %s: %s", args[0], folder, done.stderr.strip())
        raise InternalError(f"git {args[-1] if args else ''} failed: {done.stderr.strip()}")
    return done.stdout
