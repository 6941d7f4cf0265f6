"""The model service: the version each model serves, swapped atomically when its files change.

A model's files are read from its folder (``sluice.model.files.read_folder``) and checked as
a whole; a set that validates becomes the model's next version at once (``Project.models``
holds it; a query compiled on the old one finishes on it, and results are cached under the
version's hash, so they never cross versions). A set that does not validate leaves the last
good version serving; its issues are what ``validate`` and ``/readyz`` report. A model that has
never loaded is unavailable (``Project.broken``), never a server that will not start.

Changes come from the folder (``poll``, the live reload) or from the model YAML API
(``write``/``delete``), which records each change (git commit or change log). With replicas
(``sync``, Redis), a change made through the API is published first and every replica applies
it to its own copy of the folder (``sluice.models.sync``); the version number is the shared one.

``poll`` also watches ``sluice.yaml``'s ``models:`` entries (a model added, removed, or moved to
another folder or connection takes effect at once; other sections need a restart) and each
connection's schema snapshot (``sluice refresh`` run beside the server: its models reload).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sluice.config import Config, ModelConfig, load_config
from sluice.engines.snapshots import SnapshotStore, schema_source
from sluice.errors import BadRequest, Conflict, ModelError, ModelIssue, NotFound, Unavailable
from sluice.model.files import read_folder
from sluice.model.loader import check_model
from sluice.models.branches import Branch, BranchStore, FileBranchStore, new_branch
from sluice.models.changes import Author, Change, ChangeRecorder
from sluice.models.files import (
    Fingerprint,
    checksum,
    fingerprint,
    key_of,
    path_for,
    stamp,
)
from sluice.models.sync import ModelSync, SharedChange, SharedFile, apply_shared
from sluice.project import LoadedModel, Project, derived_lookup, schema_lookup
from sluice.query.spec import is_uuid
from sluice.storage import write_model_file

log = logging.getLogger("sluice.models")

STALE_MESSAGE = "File has been modified since it was fetched"
PUBLISH_ATTEMPTS = 20  # a write that keeps losing the race to other replicas gives up (409)


@dataclass(frozen=True, slots=True)
class Checked:
    """One check of a model's files: the model when it validates, and every issue."""

    loaded: LoadedModel | None
    issues: tuple[ModelIssue, ...]

    @property
    def ok(self) -> bool:
        return self.loaded is not None and not any(i.severity == "error" for i in self.issues)


class ModelService:
    def __init__(
        self,
        project: Project,
        *,
        branches: BranchStore | None = None,
        sync: ModelSync | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.project = project
        self.sync = sync
        self._sync_down = False  # Redis unreachable at the last poll (logged once)
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
        self._listeners: list[Callable[[Config], None]] = []
        # sluice.yaml as last read, and what it held beside the models (a change there: restart)
        self._config_stamp = stamp(project.config.path) if project.config.path else None
        self._config_base = _other_sections(_baseline(project.config))
        self._config_warned = self._config_base
        self._snapshots = SnapshotStore(project.config.server.state_dir)
        self._snapshot_stamps = {
            name: stamp(self._snapshots.path(name)) for name in project.config.connections
        }
        for cfg in project.config.models.values():
            self._track(cfg)

    def on_config(self, listener: Callable[[Config], None]) -> None:
        """Call ``listener`` with the new config whenever ``sluice.yaml``'s models change."""
        self._listeners.append(listener)

    def close(self) -> None:
        if self.sync is not None:
            self.sync.close()

    # -- reading ----------------------------------------------------------------------------

    def config(self, model_id: str) -> ModelConfig:
        for cfg in self.project.config.models.values():
            if cfg.id == model_id:
                return cfg
        raise NotFound(f"Model {model_id} not found")

    def version(self, model_id: str) -> int:
        """A number that grows with every change the model serves."""
        self.config(model_id)
        return self._versions.get(model_id, 0)

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
        """Check the folder's files and serve them when they validate (a new version)."""
        with self._lock:
            checked, swapped = self._reload(model_id)
            if swapped:
                self._bump(model_id)
            return checked

    def _reload(self, model_id: str, *, force: bool = False) -> tuple[Checked, bool]:
        """Check the folder's files, serve them when they validate; True when a new model
        serves (``force``: even when its files are the same, as after a new config entry)."""
        cfg = self.config(model_id)
        self._seen[model_id] = fingerprint(cfg.path)
        checked = self.check(cfg, read_folder(cfg.path))
        self._issues[model_id] = checked.issues
        swapped = False
        if checked.ok and checked.loaded is not None:
            current = self.project.models.get(model_id)
            if (
                force
                or current is None
                or current.semantic.version != checked.loaded.semantic.version
            ):
                self.project.models[model_id] = checked.loaded  # one atomic swap
                self.project.broken.pop(model_id, None)
                swapped = True
        else:
            for issue in checked.issues:
                if issue.severity == "error":
                    log.error("model %s: %s", cfg.name, issue)
            if model_id not in self.project.models:
                self.project.broken[model_id] = checked.issues  # unavailable, with why
            log.error(
                "model %s: the change does not validate; the last good version keeps serving",
                cfg.name,
            )
        return checked, swapped

    def poll(self) -> list[str]:
        """The live reload: apply ``sluice.yaml``'s model entries when the file changed, what
        other replicas changed through the API, then reload every model whose folder or schema
        snapshot changed since it was last read. Returns the ids of the models reloaded."""
        self._poll_config()
        changed = self._poll_shared()
        stale = self._poll_snapshots()
        for cfg in list(self.project.config.models.values()):
            if cfg.connection in self.project.unreachable:
                continue
            with self._lock:
                if self.project.config.model_by_id(cfg.id) != cfg:
                    continue  # removed or changed by the config meanwhile
                if cfg.connection in stale or fingerprint(cfg.path) != self._seen.get(cfg.id):
                    self.reload(cfg.id)
                    changed.append(cfg.id)
        return list(dict.fromkeys(changed))

    # -- replicas -----------------------------------------------------------------------------

    def catch_up(self, model_id: str, *, strict: bool = False) -> int:
        """Apply what other replicas changed through the API since this one last looked (one
        round trip when nothing did). Returns the shared version (0 without replicas). With
        Redis unreachable, a read goes on with this replica's files (``strict``: a write is
        refused with a 503 instead)."""
        if self.sync is None:
            return 0
        with self._lock:
            cfg = self.config(model_id)
            try:
                shared = self.sync.versions([model_id]).get(model_id)
                return self._adopt(cfg, shared)[1]
            except Unavailable as exc:
                if strict:
                    raise
                log.warning("model %s: serving this replica's files: %s", cfg.name, exc.message)
                return self._versions[model_id]

    def _poll_shared(self) -> list[str]:
        if self.sync is None:
            return []
        ids = [cfg.id for cfg in self.project.config.models.values()]
        try:
            shared = self.sync.versions(ids)
        except Unavailable as exc:
            if not self._sync_down:
                log.error("%s; each replica serves its own files until it is back", exc.message)
            self._sync_down = True
            return []
        if self._sync_down:
            log.info("Redis is reachable again: model changes are shared with the replicas")
            self._sync_down = False
        changed = []
        for model_id, version in shared.items():
            with self._lock:
                cfg = self.project.config.model_by_id(model_id)
                known = cfg is not None and model_id in self._versions
                if known and cfg is not None and self._adopt(cfg, version)[0]:
                    changed.append(model_id)
        return changed

    def _adopt(self, cfg: ModelConfig, shared: int | None) -> tuple[bool, int]:
        """Move to the shared version ``shared``: apply the files changed through the API since
        the version this replica serves. Returns whether a file changed here, and the shared
        version."""
        assert self.sync is not None
        if shared is None:  # none yet (a new model, or Redis lost its keys): start it
            shared = self.sync.version(cfg.id, self._versions[cfg.id])
        if shared <= self._versions[cfg.id]:
            return False, shared
        _, newer = self._apply(cfg, self.sync.files(cfg.id), self._versions[cfg.id])
        self._versions[cfg.id] = shared
        # Served without a version of its own (the change has one): also when the folder had
        # the files already, so the poll does not count them again as an edit on this disk.
        if newer and cfg.connection not in self.project.unreachable:
            self._reload(cfg.id)
        elif newer:
            self._seen[cfg.id] = fingerprint(cfg.path)
        return newer, shared

    def _apply(
        self, cfg: ModelConfig, files: Mapping[str, SharedFile], since: int
    ) -> tuple[bool, bool]:
        """``apply_shared`` to this replica's copy of ``cfg``'s folder."""
        return apply_shared(Path(cfg.path), cfg.name, files, since, self.changes)

    def _publish(self, model_id: str, expected: int, change: SharedChange) -> int | None:
        """Share an API change before it is written here: the new shared version, or None
        when another replica changed the model first. Without replicas: always written."""
        if self.sync is None:
            return 0
        return self.sync.publish(model_id, expected, change, self._next_version)

    def _bump(self, model_id: str) -> None:
        previous = self._versions[model_id]
        self._versions[model_id] = self._next_version(previous)
        if self.sync is not None:
            try:
                self._versions[model_id] = self.sync.bump(model_id, self._versions[model_id])
            except Unavailable as exc:  # this replica's number grows; the shared one later
                log.warning("model %s: the shared version did not move: %s", model_id, exc.message)
        log.info("model %s: version %d serves", model_id, self._versions[model_id])

    # -- sluice.yaml and schema snapshots ----------------------------------------------------

    def _poll_config(self) -> None:
        path = self.project.config.path
        if path is None:
            return
        now = stamp(path)
        if now == self._config_stamp:
            return
        self._config_stamp = now
        self.apply_config(path)

    def apply_config(self, path: Path) -> None:
        """Read ``sluice.yaml`` again and apply its ``models:`` entries; a file that does not
        load changes nothing (logged), and other sections wait for a restart (logged once)."""
        try:
            fresh = load_config(path)
        except Exception as exc:  # ConfigError, or anything the file makes the loader raise
            log.error("%s does not load; every model keeps serving as it was: %s", path, exc)
            return
        others = _other_sections(fresh)
        if others != self._config_base and others != self._config_warned:
            log.warning(
                "%s: connections, server or users changed; restart the server to apply "
                "(only models: entries apply while it runs)",
                path,
            )
        self._config_warned = others
        self._apply_models(fresh.models)

    def _apply_models(self, entries: Mapping[str, ModelConfig]) -> None:
        with self._lock:
            current = self.project.config
            keep: dict[str, ModelConfig] = {}
            for name, cfg in entries.items():
                if cfg.connection not in current.connections:
                    log.error(
                        "model %s: its connection %s is new in sluice.yaml; restart to apply",
                        name,
                        cfg.connection,
                    )
                    continue
                keep[name] = cfg
            old = {m.id: m for m in current.models.values()}
            new = {m.id: m for m in keep.values()}
            if old == new:
                return
            moved = [cfg for model_id, cfg in new.items() if old.get(model_id) != cfg]
            for cfg in moved:
                self._track(cfg, fresh=True)  # before the config names it: it has a version
            self._branch_checks.clear()
            self.project.config = dataclasses.replace(current, models=keep)
            for listener in self._listeners:
                listener(self.project.config)
            for model_id in old.keys() - new.keys():
                self.project.models.pop(model_id, None)
                self.project.broken.pop(model_id, None)
                for held in (self._versions, self._issues, self._seen):
                    held.pop(model_id, None)
                self._branch_checks.clear()
                log.info(
                    "model %s: removed from sluice.yaml; it no longer serves", old[model_id].name
                )
            for cfg in moved:
                what = "changed" if cfg.id in old else "added"
                if cfg.connection in self.project.unreachable:
                    continue  # loaded when the connection is back
                try:
                    checked, _ = self._reload(cfg.id, force=True)
                except Exception:
                    log.exception(
                        "model %s: %s in sluice.yaml, but it could not be read", cfg.name, what
                    )
                    continue
                self._bump(cfg.id)
                log.info(
                    "model %s: %s in sluice.yaml; %s",
                    cfg.name,
                    what,
                    "it serves" if checked.ok else "its files do not validate",
                )

    def _poll_snapshots(self) -> set[str]:
        """The connections whose schema snapshot changed on disk (``sluice refresh`` ran)."""
        stale = set()
        for name in self.project.config.connections:
            now = stamp(self._snapshots.path(name))
            if now != self._snapshot_stamps.get(name):
                self._snapshot_stamps[name] = now
                stale.add(name)
                log.info("connection %s: a new schema snapshot; its models are read again", name)
        return stale

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
            for _ in range(PUBLISH_ATTEMPTS):
                # the checksum is checked against the shared text
                seen = self.catch_up(model_id, strict=True)
                files = read_folder(cfg.path)
                path = path_for(key, files)
                if previous is not None and checksum(files.get(path, "")) != previous:
                    raise Conflict(STALE_MESSAGE)
                if text is None:
                    if path not in files:
                        raise NotFound(f"File {key} not found in model {cfg.name}")
                else:
                    checked = self.check(cfg, {**files, path: text})
                    refuse_file_errors(path, checked.issues)
                action = "delete" if text is None else "write"
                default = f"{'Delete' if text is None else 'Update'} {key_of(path)}"
                change = SharedChange({key_of(path): text}, action, message or default, author)
                version = self._publish(model_id, seen, change)
                if version is None:
                    continue  # another replica changed the model first: catch up, check again
                target = Path(cfg.path) / path
                if text is None:
                    target.unlink()
                else:
                    write_model_file(target, text)
                self.changes.record(
                    Path(cfg.path), Change(cfg.name, (path,), action, change.message, author)
                )
                return self._served(model_id, version)
            raise Conflict("The model kept changing on other replicas; fetch it and try again")

    def _served(self, model_id: str, version: int) -> Checked:
        """Serve the folder after an API change that made the shared ``version`` (0: no
        replicas, the version moves when the model served changes)."""
        if self.sync is None:
            return self.reload(model_id)
        self._versions[model_id] = max(version, self._versions[model_id])
        return self._reload(model_id)[0]

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
        updated = datetime.fromisoformat(branch.updated_at.replace("Z", "+00:00")).timestamp()
        return max(self.version(branch.base_model_id), int(updated * 1000))

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
            change = SharedChange(
                {key_of(path): text for path, text in branch.files.items()},
                "merge",
                message or f"Merge branch {branch.name}",
                author,
            )
            version = 0
            for _ in range(PUBLISH_ATTEMPTS):
                seen = self.catch_up(model_id, strict=True)
                found = self._publish(model_id, seen, change)
                if found is not None:
                    version = found
                    break
            else:
                raise Conflict("The model kept changing on other replicas; try the merge again")
            for path, text in branch.files.items():
                target = root / path
                if text is None:
                    target.unlink(missing_ok=True)
                else:
                    write_model_file(target, text)
            if branch.files:
                paths = tuple(sorted(branch.files))
                self.changes.record(root, Change(cfg.name, paths, "merge", change.message, author))
            if delete_branch:
                self.delete_branch(model_id, name)
            return self._served(model_id, version)

    def delete_branch(self, model_id: str, name: str) -> None:
        with self._lock:
            branch = self.branch_named(model_id, name)
            self.branches.delete(branch.id)
            self._branch_checks.pop(branch.id, None)

    # -- helpers ------------------------------------------------------------------------------

    def _track(self, cfg: ModelConfig, *, fresh: bool = False) -> None:
        """Start following a model: its version, issues and files (``fresh``: one added or
        changed while serving). With replicas, apply what was changed through the API while
        this replica was down."""
        if fresh:
            self._issues[cfg.id] = ()
        else:
            self._issues[cfg.id] = self._initial_issues(cfg)
        self._versions[cfg.id] = max(self._versions.get(cfg.id, 0), self._next_version(0))
        self._seen[cfg.id] = fingerprint(cfg.path)
        if self.sync is None:
            return
        try:
            self._versions[cfg.id] = self.sync.version(cfg.id, self._versions[cfg.id])
            applied, _ = self._apply(cfg, self.sync.files(cfg.id), 0)
        except Unavailable as exc:  # the next poll catches up
            log.warning("model %s: %s", cfg.name, exc.message)
            return
        if applied and not fresh and cfg.connection not in self.project.unreachable:
            self._reload(cfg.id)

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


def _baseline(config: Config) -> Config:
    """The file as it reads now (the server may run with settings the command line changed)."""
    if config.path is None:
        return config
    try:
        return load_config(config.path)
    except Exception:
        return config


def _other_sections(config: Config) -> tuple[object, ...]:
    """What ``sluice.yaml`` holds beside ``models:`` (changes to it need a restart)."""
    return (dict(config.connections), config.server, config.users)
