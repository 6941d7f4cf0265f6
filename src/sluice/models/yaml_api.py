"""The model YAML API's answers (contract: omni-model-api.md §2 and §4), apart from HTTP.

``combined`` files are the model's files plus the schema-layer views no file extends (as YAML,
under ``<schema>/<table>.view``); ``extension`` files are only the ones people wrote.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sluice.config import ModelConfig
from sluice.engines.snapshots import SnapshotStore, schema_source
from sluice.errors import ModelIssue
from sluice.model.files import read_folder
from sluice.model.schema import (
    SCHEMA_FILE_PREFIX,
    SchemaOptions,
    build_schema_layer,
    file_key,
)
from sluice.models.files import checksum, keyed
from sluice.project import Project


def schema_files(project: Project, cfg: ModelConfig, files: Mapping[str, str]) -> dict[str, str]:
    """{key: YAML} of the schema-layer views that no file in ``files`` ({key: text}) extends."""
    conn = project.config.connections[cfg.connection]
    snapshot = SnapshotStore(project.config.server.state_dir).load(conn.name)
    if snapshot is None:
        return {}
    settings: Mapping[str, Any] = {}
    try:
        found = YAML(typ="safe").load(files.get("model", "")) if "model" in files else None
        settings = found if isinstance(found, Mapping) else {}
    except YAMLError:
        pass
    layer = build_schema_layer(
        snapshot, SchemaOptions.from_settings(settings, schema_source(conn, snapshot))
    )
    dumper = YAML(typ="safe")
    dumper.default_flow_style = False
    out = {}
    for name, view in layer.views.items():
        key = file_key(view.table, snapshot)
        if key in files or f"{name}.view" in files:
            continue
        buffer = io.StringIO()
        dumper.dump(_plain(view.data), buffer)
        out[key] = buffer.getvalue()
    return out


def files_answer(
    project: Project,
    cfg: ModelConfig,
    *,
    mode: str,
    selected: Iterable[str] | None,
    version: int,
    with_checksums: bool,
    overlay: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    files = keyed(read_folder(cfg.path) if overlay is None else overlay)
    if mode == "combined":
        files = {**schema_files(project, cfg, files), **files}
    if selected is not None:
        keep = set(selected)
        files = {k: v for k, v in files.items() if k in keep}
    body: dict[str, Any] = {
        "files": dict(sorted(files.items())),
        "version": version,
        "viewNames": {},
    }
    if with_checksums:
        body["checksums"] = {key: checksum(text) for key, text in sorted(files.items())}
    return body


def issue_answer(issue: ModelIssue) -> dict[str, Any]:
    """One issue as ``validate`` answers it."""
    path = issue.file
    if path.startswith(SCHEMA_FILE_PREFIX):
        schema, _, table = path[len(SCHEMA_FILE_PREFIX) :].partition(".")
        path = f"{schema}/{table}.view"
    else:
        for suffix in (".yaml", ".yml"):
            path = path.removesuffix(suffix)
    out: dict[str, Any] = {
        "message": issue.message,
        "is_warning": issue.severity == "warning",
        "yaml_path": path,
    }
    if issue.line > 0:
        out["line"] = issue.line
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
