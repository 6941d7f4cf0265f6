"""The model service: the version each model serves, swapped atomically when its files change.

A model's files are read from its folder (``sluice.model.files.read_folder``) and checked as
a whole; a set that validates becomes the model's next version at once (``Project.models``
holds it; a query compiled on the old one finishes on it, and results are cached under the
version's hash, so they never cross versions). A set that does not validate leaves the last
good version serving; its issues are what ``validate`` and ``/readyz`` report. A model that has
never loaded is unavailable (``Project.broken``), never a server that will not start.

Changes come from the folder (``poll``, the live reload) or from the model YAML API
(``write``/``delete``), which records each change (git commit or change log).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sluice.config import ModelConfig
from sluice.errors import BadRequest, Conflict, ModelError, ModelIssue, NotFound, Unavailable
from sluice.model.files import read_folder
from sluice.model.loader import check_model
from sluice.models.branches import Branch, BranchStore, FileBranchStore, new_branch
from sluice.models.changes import Author, Change, ChangeRecorder
from sluice.models.files import checksum, key_of, path_for
from sluice.models.snapshots import SnapshotStore, schema_source
from sluice.project import LoadedModel, Project, derived_lookup, schema_lookup
from sluice.query.spec import is_uuid

log = logging.getLogger("sluice.models")

STALE_MESSAGE = "File has been modified since it was fetched"


@dataclass(frozen=True, slots=True)
class Checked:
    """One check of a model's files: the model when it validates, and every issue."""

    loaded: LoadedModel | None
    issues: tuple[ModelIssue, ...]

    @property
    def ok(self) -> bool:
        return self.loaded is not None and not any(i.severity == "error" for i in self.issues)


Fingerprint = tuple[tuple[str, int, int], ...]


class ModelService:
    def __init__(
        self,
        project: Project,
        *,
        branches: BranchStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.project = project
        self.changes = ChangeRecorder(project.config.server.state_dir)
        state_dir = project.config.server.state_dir
        self.branches = branches if branches is not None else FileBranchStore(state_dir)
        self._clock = clock
        # Branch models checked before, by branch id: (hash of their files, the check).
        self._branch_checks: dict[str, tuple[str, Checked]] = {}
        project.branch_model = self.branch_model
        self._lock = threading.RLock()  # one change of any model at a time
        self._versions: dict[str, int] = {}
        self._issues: dict[str, tuple[ModelIssue, ...]] = {}
        self._seen: dict[str, Fingerprint] = {}
        for cfg in project.config.models.values():
            self._versions[cfg.id] = self._next_version(0)
            self._issues[cfg.id] = self._initial_issues(cfg)
            self._seen[cfg.id] = fingerprint(cfg.path)

    # -- reading ----------------------------------------------------------------------------

    def config(self, model_id: str) -> ModelConfig:
        for cfg in self.project.config.models.values():
            if cfg.id == model_id:
                return cfg
        raise NotFound(f"Model {model_id} not found")

    def version(self, model_id: str) -> int:
        """A number that grows with every change the model serves."""
        self.config(model_id)
        return self._versions[model_id]

    def version_hash(self, model_id: str) -> str:
        """The hash of the version a model serves ("" while it serves none); compiled queries
        and cached results carry it."""
        loaded = self.project.models.get(model_id)
        return loaded.semantic.version if loaded is not None else ""

    def issues(self, model_id: str) -> tuple[ModelIssue, ...]:
        """The issues of the model's files as they are now (the serving version's warnings
        when they validate; every problem of the last change when they do not)."""
        self.config(model_id)
        return self._issues.get(model_id, ())

    def files(self, model_id: str) -> dict[str, str]:
        """The model's files as they are now: {relative path: text}."""
        return read_folder(self.config(model_id).path)

    def check(self, cfg: ModelConfig, files: Mapping[str, str]) -> Checked:
        """Check ``files`` as ``cfg``'s whole model (nothing is swapped)."""
        project = self.project
        if cfg.connection in project.unreachable:
            raise Unavailable(
                f"Model {cfg.name} is unavailable: its connection {cfg.connection} could not be "
                f"reached ({project.unreachable[cfg.connection]}); sluice retries in the background"
            )
        engine = project.engines[cfg.connection]
        conn = project.config.connections[cfg.connection]
        snapshot = SnapshotStore(project.config.server.state_dir).read(conn, engine)
        semantic, issues = check_model(
            Path(cfg.path),
            name=cfg.name,
            dialect=engine.dialect,
            column_types=schema_lookup(engine),
            derived_types=derived_lookup(engine),
            schema=schema_source(conn, snapshot),
            files=files,
        )
        loaded = LoadedModel(cfg, semantic, engine, snapshot.taken_at) if semantic else None
        return Checked(loaded, tuple(issues))

    # -- changing -----------------------------------------------------------------------------

    def reload(self, model_id: str) -> Checked:
        """Check the folder's files and serve them when they validate."""
        with self._lock:
            cfg = self.config(model_id)
            self._seen[model_id] = fingerprint(cfg.path)
            checked = self.check(cfg, read_folder(cfg.path))
            self._issues[model_id] = checked.issues
            if checked.ok and checked.loaded is not None:
                current = self.project.models.get(model_id)
                if current is None or current.semantic.version != checked.loaded.semantic.version:
                    self.project.models[model_id] = checked.loaded  # one atomic swap
                    self.project.broken.pop(model_id, None)
                    self._versions[model_id] = self._next_version(self._versions[model_id])
                    log.info("model %s: version %d serves", cfg.name, self._versions[model_id])
            else:
                for issue in checked.issues:
                    if issue.severity == "error":
                        log.error("model %s: %s", cfg.name, issue)
                log.error(
                    "model %s: the change does not validate; the last good version keeps serving",
                    cfg.name,
                )
            return checked

    def poll(self) -> list[str]:
        """Reload every model whose folder changed since it was last read (the live reload).
        Returns the ids of those reloaded."""
        changed = []
        for cfg in self.project.config.models.values():
            if cfg.connection in self.project.unreachable:
                continue
            if fingerprint(cfg.path) != self._seen.get(cfg.id):
                self.reload(cfg.id)
                changed.append(cfg.id)
        return changed

    def write(
        self,
        model_id: str,
        key: str,
        text: str | None,
        *,
        author: Author,
        message: str | None = None,
        previous: str | None = None,
        branch_id: str | None = None,
    ) -> Checked:
        """Write (``text``) or remove (None) one file, record the change, serve the result when
        it validates. A stale ``previous`` checksum is a 409; a file that does not parse or
        holds an unknown property is a 400 naming its line, and nothing is saved. With
        ``branch_id`` the file is the branch's (the shared model does not change)."""
        if branch_id:
            return self._write_branch(model_id, branch_id, key, text, author, message, previous)
        with self._lock:
            cfg = self.config(model_id)
            files = read_folder(cfg.path)
            path = path_for(key, files)
            if previous is not None and checksum(files.get(path, "")) != previous:
                raise Conflict(STALE_MESSAGE)
            if text is None:
                if path not in files:
                    raise NotFound(f"File {key} not found in model {cfg.name}")
                changed = {p: t for p, t in files.items() if p != path}
            else:
                changed = {**files, path: text}
                checked = self.check(cfg, changed)
                refuse_file_errors(path, checked.issues)
            target = Path(cfg.path) / path
            if text is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, text)
            action = "delete" if text is None else "write"
            default = f"{'Delete' if text is None else 'Update'} {key_of(path)}"
            self.changes.record(
                Path(cfg.path), Change(cfg.name, (path,), action, message or default, author)
            )
            return self.reload(model_id)

    # -- branches -----------------------------------------------------------------------------

    def create_branch(self, model_id: str, name: str, connection_id: str | None) -> Branch:
        cfg = self.config(model_id)
        conn_id = self.project.config.connections[cfg.connection].id
        if connection_id is not None and connection_id.lower() != conn_id:
            raise BadRequest(
                f"connectionId {connection_id} is not the connection of model {cfg.name}"
            )
        with self._lock:
            if any(b.name == name for b in self.list_branches(model_id)):
                raise BadRequest(f"Model {cfg.name} already has a branch named {name!r}")
            branch = new_branch(name, model_id, conn_id, self._clock())
            self.branches.put(branch)
        return branch

    def list_branches(self, model_id: str | None = None) -> list[Branch]:
        return [b for b in self.branches.all() if model_id is None or b.base_model_id == model_id]

    def branch(self, model_id: str, branch_id: str) -> Branch:
        """The branch ``branch_id`` of ``model_id``; 404 for one that does not exist."""
        found = self.branches.get(branch_id.lower()) if is_uuid(branch_id) else None
        if found is None or found.base_model_id != model_id:
            raise NotFound(f"Branch {branch_id} not found")
        return found

    def branch_named(self, model_id: str, name: str) -> Branch:
        for branch in self.list_branches(model_id):
            if branch.name == name:
                return branch
        raise NotFound(f"Branch {name} not found")

    def branch_files(self, branch: Branch) -> dict[str, str]:
        return branch.overlay(read_folder(self.config(branch.base_model_id).path))

    def check_branch(self, branch: Branch) -> Checked:
        """The branch's model over the shared model's files as they are now (checked again
        only when they changed)."""
        files = self.branch_files(branch)
        digest = checksum("\0".join(f"{p}\0{t}" for p, t in sorted(files.items())))
        cached = self._branch_checks.get(branch.id)
        if cached is not None and cached[0] == digest:
            return cached[1]
        checked = self.check(self.config(branch.base_model_id), files)
        self._branch_checks[branch.id] = (digest, checked)
        return checked

    def branch_model(self, model_id: str, branch_id: str) -> LoadedModel:
        """What ``Project.model`` answers for a branch: its model, or its issues as an error."""
        checked = self.check_branch(self.branch(model_id, branch_id))
        if not checked.ok or checked.loaded is None:
            raise ModelError(checked.issues)
        return checked.loaded

    def branch_version(self, branch: Branch) -> int:
        stamp = datetime.fromisoformat(branch.updated_at.replace("Z", "+00:00")).timestamp()
        return max(self.version(branch.base_model_id), int(stamp * 1000))

    def _write_branch(
        self,
        model_id: str,
        branch_id: str,
        key: str,
        text: str | None,
        author: Author,
        message: str | None,
        previous: str | None,
    ) -> Checked:
        with self._lock:
            branch = self.branch(model_id, branch_id)
            cfg = self.config(model_id)
            files = self.branch_files(branch)
            path = path_for(key, files)
            if previous is not None and checksum(files.get(path, "")) != previous:
                raise Conflict(STALE_MESSAGE)
            if text is None and path not in files:
                raise NotFound(f"File {key} not found in branch {branch.name}")
            if text is not None:
                refuse_file_errors(path, self.check(cfg, {**files, path: text}).issues)
            branch = branch.with_file(path, text, self._clock())
            self.branches.put(branch)
            action = "delete" if text is None else "write"
            default = f"{action.title()} {key_of(path)} on branch {branch.name}"
            self.changes.log(
                Change(
                    cfg.name, (path,), f"branch {branch.name}: {action}", message or default, author
                )
            )
            return self.check_branch(branch)

    def merge(
        self,
        model_id: str,
        name: str,
        *,
        author: Author,
        message: str | None = None,
        delete_branch: bool = False,
    ) -> Checked:
        """Apply the branch's files to the shared model at once: one change (one git commit),
        one new version."""
        with self._lock:
            branch = self.branch_named(model_id, name)
            cfg = self.config(model_id)
            root = Path(cfg.path)
            for path, text in branch.files.items():
                target = root / path
                if text is None:
                    target.unlink(missing_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write(target, text)
            if branch.files:
                change = Change(
                    cfg.name,
                    tuple(sorted(branch.files)),
                    "merge",
                    message or f"Merge branch {branch.name}",
                    author,
                )
                self.changes.record(root, change)
            if delete_branch:
                self.delete_branch(model_id, name)
            return self.reload(model_id)

    def delete_branch(self, model_id: str, name: str) -> None:
        with self._lock:
            branch = self.branch_named(model_id, name)
            self.branches.delete(branch.id)
            self._branch_checks.pop(branch.id, None)

    # -- helpers ------------------------------------------------------------------------------

    def _initial_issues(self, cfg: ModelConfig) -> tuple[ModelIssue, ...]:
        if cfg.id in self.project.broken:
            return self.project.broken[cfg.id]
        loaded = self.project.models.get(cfg.id)
        return tuple(loaded.semantic.warnings) if loaded is not None else ()

    def _next_version(self, previous: int) -> int:
        return max(previous + 1, int(self._clock() * 1000))


def refuse_file_errors(path: str, issues: tuple[ModelIssue, ...]) -> None:
    """A 400 for what is wrong in the file itself (it does not parse, an unknown property);
    what needs the whole model (an unknown reference) does not block a write."""
    own = [
        i
        for i in issues
        if i.file == path and (i.message.startswith("invalid YAML") or "unknown key" in i.message)
    ]
    if own:
        first = own[0]
        more = f" (and {len(own) - 1} more)" if len(own) > 1 else ""
        raise BadRequest(f"{key_of(path)} line {first.line}: {first.message}{more}")


def fingerprint(folder: Path) -> Fingerprint:
    """The model files of a folder with their modification times and sizes."""
    root = Path(folder)
    out = []
    try:
        for path in root.rglob("*"):
            rel = path.relative_to(root)
            if ".git" in rel.parts or not path.name.endswith((".yaml", ".yml")):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((str(rel), stat.st_mtime_ns, stat.st_size))
    except OSError:
        return ()
    return tuple(sorted(out))


def atomic_write(target: Path, text: str) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text)
    tmp.replace(target)
