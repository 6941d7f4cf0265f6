"""The model's files: the one module of ``model/`` that touches the disk.

``read_folder`` reads a folder's model files into texts (``folder_exists`` asks first);
everything after it takes texts.
``read_texts`` turns those texts into YAML trees that remember their line numbers
(``line_of``), reporting invalid YAML with a hint for the usual mistakes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from sluice.model.issues import IssueLog
from sluice.model.types import Loc


@dataclass
class YamlFile:
    path: str  # relative to the model folder
    data: Any
    name: str | None = None  # the view's name, where the path does not say it (schema layer)


@dataclass
class ModelFiles:
    """A folder's parsed files by kind (``model.yaml`` and ``relationships.yaml`` at most once)."""

    views: list[YamlFile] = field(default_factory=list)
    topics: list[YamlFile] = field(default_factory=list)
    model: YamlFile | None = None
    relationships: YamlFile | None = None


def file_kind(path: Path) -> str | None:
    """ "model", "relationships", "views", "topics", or None for a file that is not the model's."""
    name = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    name = name[: -len(".yml")] if name.endswith(".yml") else name
    if name == "model":
        return "model"
    if name == "relationships":
        return "relationships"
    if name.endswith(".view"):
        return "views"
    if name.endswith(".topic"):
        return "topics"
    return None


def file_stem(relpath: str) -> str:
    """The view or topic a file defines: ``sales/orders.view.yaml`` -> ``orders``."""
    name = Path(relpath).name
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name.rsplit(".", 1)[0]


def folder_exists(root: Path) -> bool:
    return root.is_dir()


def read_folder(root: Path) -> dict[str, str]:
    """The model files of a folder: {path relative to it: text}, model files only."""
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(p for p in root.rglob("*") if p.is_file() and file_kind(p) is not None)
        if ".git" not in path.relative_to(root).parts
    }


def read_texts(texts: Mapping[str, str], dialect: str, log: IssueLog) -> tuple[ModelFiles, str]:
    """The model files among ``texts`` parsed as YAML, and a digest of them and ``dialect``.
    A file that does not parse is reported and left out (its name goes to ``log.unparsed``)."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    files = ModelFiles()
    digest = hashlib.sha256(dialect.encode())
    for rel in sorted(texts):
        kind = file_kind(Path(rel))
        if kind is None:
            continue
        text = texts[rel]
        digest.update(rel.encode() + b"\0" + text.encode() + b"\0")
        try:
            data = yaml.load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            hint = _yaml_hint(problem, text.splitlines(), line)
            log.error(Loc(rel, line), f"invalid YAML: {problem}{hint}")
            log.unparsed.add(file_stem(rel) if kind in ("views", "topics") else kind)
            continue
        file = YamlFile(rel, data)
        if kind == "views":
            files.views.append(file)
        elif kind == "topics":
            files.topics.append(file)
        elif (files.model if kind == "model" else files.relationships) is not None:
            log.error(Loc(rel, 1), f"more than one `{kind}` file")
        elif kind == "model":
            files.model = file
        else:
            files.relationships = file
    return files, digest.hexdigest()[:16]


def _yaml_hint(problem: str, lines: list[str], line: int) -> str:
    """A hint for the common YAML mistakes, from the parser's problem and the lines near it."""
    near = "\n".join(lines[max(line - 2, 0) : line])
    if "\t" in near and ("tab" in problem or "\\t" in problem or "cannot start" in problem):
        return " (YAML indents with spaces, not tabs)"
    if "${" in near and "{" in near.replace("${", ""):
        return (
            " (inside `{...}` braces a value with `${...}` must be quoted: "
            '`{sql: "${amount}"}`; or write the mapping on separate lines)'
        )
    if "${" in near and "found character" in problem:
        return ' (quote a value that starts with `${`: `sql: "${amount} * 2"`)'
    if any(k in problem for k in ("block end", "expected key", "mapping values", "block mapping")):
        return (
            f" (check the indentation of line {line} and the lines above it: keys of one "
            "mapping line up at the same column)"
        )
    return ""


def line_of(node: Any, key: Any = None, default: int = 1) -> int:
    """1-based line of ``key`` in the mapping ``node`` (or of the node itself)."""
    try:
        if key is not None and isinstance(node, CommentedMap):
            return int(node.lc.key(key)[0]) + 1
        return int(node.lc.line) + 1
    except (AttributeError, KeyError, TypeError):
        return default
