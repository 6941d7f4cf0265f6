"""Load a model folder into a validated ``SemanticModel``.

Validation collects *every* issue (file and line, with "did you mean" suggestions) before
raising ``ModelError``; it never stops at the first. The loader is pure except for reading the
folder: warehouse column types come through the ``column_types`` callback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from sqlglot.dialects.dialect import Dialect

from sluice.errors import ModelError, ModelIssue, did_you_mean
from sluice.model.filters import Filter, FilterSyntaxError, parse_yaml_filter, to_decimal
from sluice.model.grains import GRAINS
from sluice.model.schema import (
    SchemaOptions,
    SchemaSource,
    build_schema_layer,
    extend,
    extend_relationships,
)
from sluice.model.sql import Ref, TemplateError, find_refs, template
from sluice.model.types import (
    AGGREGATE_TYPES,
    DATA_TYPES,
    DEFAULT_TIMEFRAMES,
    DISTINCT_ON_TYPES,
    JOIN_TYPES,
    RELATIONSHIP_TYPES,
    UNKNOWN,
    Dimension,
    Loc,
    Measure,
    Relationship,
    SemanticModel,
    Topic,
    TopicJoin,
    View,
    label_for,
)

ColumnTypes = Callable[[str, str | None], Mapping[str, str] | None]
# Column types of a derived table's SELECT (None when the warehouse rejects it).
DerivedTypes = Callable[[str], Mapping[str, str] | None]

VIEW_KEYS = frozenset(
    {
        "ignored",
        "schema",
        "table_name",
        "sql",
        "label",
        "description",
        "hidden",
        "dimensions",
        "measures",
        "filters",
        "name",
        "primary_key",
        "tags",
        "group_label",
    }
)
DIMENSION_KEYS = frozenset(
    {
        "ignored",
        "sql",
        "type",
        "primary_key",
        "label",
        "description",
        "format",
        "hidden",
        "timeframes",
        "convert_tz",
        "group_label",
        "groups",
        "else",
        "bin_boundaries",
        "synonyms",
        "tags",
        "ai_context",
        "all_values",
        "sample_values",
        "display_order",
        "order_by_field",
        "suggest_from_field",
        "view_label",
        "links",
        "drill_fields",
        "required_access_grants",
        "dimension_group",
    }
)
MEASURE_KEYS = frozenset(
    {
        "ignored",
        "sql",
        "aggregate_type",
        "filters",
        "label",
        "description",
        "format",
        "hidden",
        "group_label",
        "percentile",
        "custom_primary_key_sql",
        "synonyms",
        "tags",
        "ai_context",
        "display_order",
        "view_label",
        "links",
        "drill_fields",
        "required_access_grants",
    }
)
RELATIONSHIP_KEYS = frozenset(
    {
        "join_from_view",
        "join_to_view",
        "join_to_view_as",
        "join_to_view_as_label",
        "on_sql",
        "relationship_type",
        "join_type",
        "reversible",
        "where_sql",
    }
)
TOPIC_KEYS = frozenset(
    {
        "base_view",
        "label",
        "description",
        "hidden",
        "group_label",
        "joins",
        "fields",
        "default_filters",
        "always_where_filters",
        "always_where_sql",
        "default_row_limit",
        "cache_policy",
        "access_filters",
        "name",
        "views",
        "ai_context",
        "sample_queries",
        "required_access_grants",
        "base_view_label",
    }
)
MODEL_KEYS = frozenset(
    {
        "fiscal_month_offset",
        "week_start_day",
        "default_timeframes",
        "dialect",
        "name",
        "connection",
        "cache_policies",
        "access_grants",
        "ignored_schemas",
        "included_schemas",
        "ignored_views",
        "included_views",
    }
)
WEEK_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class _File:
    path: str  # relative to the model folder
    data: Any
    name: str | None = None  # the view's name, where the path does not say it (schema layer)


@dataclass
class _State:
    root: Path
    dialect: str
    issues: list[ModelIssue] = field(default_factory=list)
    # Files that did not parse: view and topic names, or "model" / "relationships".
    unparsed: set[str] = field(default_factory=set)

    def error(self, loc: Loc, message: str) -> None:
        self.issues.append(ModelIssue(loc.file, loc.line, message))

    def warn(self, loc: Loc, message: str) -> None:
        self.issues.append(ModelIssue(loc.file, loc.line, message, "warning"))


def load_model(
    path: str | Path,
    *,
    name: str | None = None,
    dialect: str = "duckdb",
    column_types: ColumnTypes | None = None,
    derived_types: DerivedTypes | None = None,
    schema: SchemaSource | None = None,
    files: Mapping[str, str] | None = None,
) -> SemanticModel:
    """Load and validate the model folder at ``path``; raise ``ModelError`` listing every issue.
    With ``schema``, the folder's files extend the schema layer generated from its snapshot.
    With ``files`` ({path relative to the folder: YAML text}), those are the files, not the
    folder's (``read_folder``)."""
    root = Path(path)
    model, issues = check_model(
        root,
        name=name,
        dialect=dialect,
        column_types=column_types,
        derived_types=derived_types,
        schema=schema,
        files=files,
    )
    if model is None or any(i.severity == "error" for i in issues):
        raise ModelError(issues)
    return model


def check_model(
    root: Path,
    *,
    name: str | None = None,
    dialect: str = "duckdb",
    column_types: ColumnTypes | None = None,
    derived_types: DerivedTypes | None = None,
    schema: SchemaSource | None = None,
    files: Mapping[str, str] | None = None,
) -> tuple[SemanticModel | None, list[ModelIssue]]:
    """Load the folder (or ``files``, as ``load_model``) and return the model (None if
    unusable) with every issue found."""
    state = _State(root, dialect)
    texts = files
    if texts is None:
        if not root.is_dir():
            state.error(Loc("", 0), f"model folder {str(root)!r} does not exist")
            return None, state.issues
        texts = read_folder(root)
    parsed, digest = _read_files(texts, state)
    settings = _model_settings(parsed.get("model"), state)
    # The dialect the model's SQL is written in; the compiler transpiles it for each warehouse.
    state.dialect = str(settings.get("dialect") or dialect).lower()
    if schema is not None:
        column_types = _extend_schema_layer(parsed, settings, schema, column_types)
        digest = hashlib.sha256(f"{digest}\0{schema.snapshot.content_hash()}".encode()).hexdigest()[
            :16
        ]
    if not parsed["views"] and not state.unparsed:
        where = "the warehouse's schema layer is empty and " if schema is not None else ""
        state.error(
            Loc("", 0),
            f"no views: {where}a model folder holds `<name>.view.yaml` files (and optionally "
            "`model.yaml`, `relationships.yaml`, `<name>.topic.yaml`)",
        )
        return None, state.issues
    views: dict[str, View] = {}
    for file in parsed["views"]:
        view_name = file.name or _stem(file.path)
        loc = Loc(file.path, 1)
        if view_name in views:
            state.error(loc, f"duplicate view `{view_name}` (also in {views[view_name].loc.file})")
            continue
        views[view_name] = _view(view_name, file, state, settings, column_types, derived_types)
    relationships = _relationships(
        parsed.get("relationships"), views, state, settings, column_types
    )
    topics: dict[str, Topic] = {}
    for file in parsed["topics"]:
        topic_name = _stem(file.path)
        if topic_name in topics:
            state.error(Loc(file.path, 1), f"duplicate topic `{topic_name}`")
            continue
        topics[topic_name] = _topic(topic_name, file, views, relationships, state)
    _check_references(views, relationships, topics, state)
    _infer_expression_types(views, state, column_types)
    if state.unparsed:
        state.issues = _causes_only(state)
    model = SemanticModel(
        name=name or root.name,
        views=views,
        relationships=tuple(relationships),
        topics=topics,
        dialect=state.dialect,
        fiscal_month_offset=int(settings.get("fiscal_month_offset", 0)),
        week_start_day=str(settings.get("week_start_day", "monday")).lower(),
        version=digest,
        warnings=tuple(i for i in state.issues if i.severity == "warning"),
    )
    return model, state.issues


def _extend_schema_layer(
    files: dict[str, Any],
    settings: Mapping[str, Any],
    source: SchemaSource,
    column_types: ColumnTypes | None,
) -> ColumnTypes:
    """Lay the files over the schema layer (in ``files``, in place); the column types of the
    snapshot first, the warehouse's (``column_types``) for tables the snapshot does not hold."""
    layer = build_schema_layer(source.snapshot, SchemaOptions.from_settings(settings, source))
    read = [(layer.file_view_name(f.path) or _stem(f.path), f.path, f.data) for f in files["views"]]
    files["views"] = [_File(path, data, name) for name, path, data in extend(layer, read)]
    relationships = files.get("relationships")
    merged = extend_relationships(layer, relationships.data if relationships else None)
    if merged:
        path = relationships.path if relationships else "schema layer: relationships"
        files["relationships"] = _File(path, merged)

    def types(table: str, schema: str | None) -> Mapping[str, str] | None:
        found = layer.column_types(table, schema)
        if found is None and column_types is not None:
            return column_types(table, schema)
        return found

    return types


# -- files ----------------------------------------------------------------------------------------


def _kind(path: Path) -> str | None:
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


def _stem(relpath: str) -> str:
    name = Path(relpath).name
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name.rsplit(".", 1)[0]


def read_folder(root: Path) -> dict[str, str]:
    """The model files of a folder: {path relative to it: text}, model files only."""
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(p for p in root.rglob("*") if p.is_file() and _kind(p) is not None)
        if ".git" not in path.relative_to(root).parts
    }


def _read_files(texts: Mapping[str, str], state: _State) -> tuple[dict[str, Any], str]:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    files: dict[str, Any] = {"views": [], "topics": []}
    digest = hashlib.sha256(state.dialect.encode())
    for rel in sorted(texts):
        kind = _kind(Path(rel))
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
            state.error(Loc(rel, line), f"invalid YAML: {problem}{hint}")
            state.unparsed.add(_stem(rel) if kind in ("views", "topics") else kind)
            continue
        file = _File(rel, data)
        if kind in ("views", "topics"):
            files[kind].append(file)
        elif kind in files:
            state.error(Loc(rel, 1), f"more than one `{kind}` file")
        else:
            files[kind] = file
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


def _causes_only(state: _State) -> list[ModelIssue]:
    """The issues without the ones an unparsed file causes elsewhere (a view that "does not
    exist" because its file did not parse, relationships missing because relationships.yaml
    did not parse): the parse errors are the causes, the rest would only bury them."""
    mentions = [f"`{name}`" for name in state.unparsed] + [f"${{{name}." for name in state.unparsed]
    kept: list[ModelIssue] = []
    for issue in state.issues:
        if not issue.message.startswith("invalid YAML"):
            if any(m in issue.message for m in mentions):
                continue
            if "relationships" in state.unparsed and "relationship" in issue.message:
                continue
        kept.append(issue)
    return kept


def _line(node: Any, key: Any = None, default: int = 1) -> int:
    """1-based line of ``key`` in the mapping ``node`` (or of the node itself)."""
    try:
        if key is not None and isinstance(node, CommentedMap):
            return int(node.lc.key(key)[0]) + 1
        return int(node.lc.line) + 1
    except (AttributeError, KeyError, TypeError):
        return default


def _mapping(value: Any, loc: Loc, what: str, state: _State) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        state.error(loc, f"{what} must be a mapping")
        return {}
    return value


def _unknown_keys(
    spec: Mapping[str, Any], allowed: frozenset[str], file: str, what: str, state: _State
) -> None:
    for key in spec:
        if key not in allowed:
            loc = Loc(file, _line(spec, key))
            state.warn(loc, f"{what}: unknown key `{key}` ignored{did_you_mean(str(key), allowed)}")


def _model_settings(file: _File | None, state: _State) -> Mapping[str, Any]:
    if file is None:
        return {}
    spec = _mapping(file.data, Loc(file.path, 1), "the model file", state)
    _unknown_keys(spec, MODEL_KEYS, file.path, "model", state)
    if "dialect" in spec:
        try:
            Dialect.get_or_raise(str(spec["dialect"]).lower())
        except ValueError:
            state.error(
                Loc(file.path, _line(spec, "dialect")),
                f"unknown SQL dialect `{spec['dialect']}` (sqlglot's names: duckdb, postgres, "
                "spark, trino, snowflake, bigquery, ...)",
            )
            spec = {k: v for k, v in spec.items() if k != "dialect"}
    offset = spec.get("fiscal_month_offset", 0)
    if not isinstance(offset, int) or not 0 <= offset <= 11:
        state.error(
            Loc(file.path, _line(spec, "fiscal_month_offset")),
            "fiscal_month_offset must be a whole number from 0 to 11",
        )
    day = str(spec.get("week_start_day", "monday")).lower()
    if day not in WEEK_DAYS:
        state.error(
            Loc(file.path, _line(spec, "week_start_day")),
            f"week_start_day `{day}` is not a day name{did_you_mean(day, WEEK_DAYS)}",
        )
    for tf in spec.get("default_timeframes") or []:
        if str(tf) not in GRAINS:
            state.error(
                Loc(file.path, _line(spec, "default_timeframes")),
                f"unknown timeframe `{tf}`{did_you_mean(str(tf), GRAINS)}",
            )
    return spec


# -- views ----------------------------------------------------------------------------------------


def _text(spec: Mapping[str, Any], key: str) -> str | None:
    value = spec.get(key)
    return None if value is None else str(value)


def _view(
    name: str,
    file: _File,
    state: _State,
    settings: Mapping[str, Any],
    column_types: ColumnTypes | None,
    derived_types: DerivedTypes | None = None,
) -> View:
    spec = _mapping(file.data, Loc(file.path, 1), f"view `{name}`", state)
    _unknown_keys(spec, VIEW_KEYS, file.path, f"view `{name}`", state)
    sql = _text(spec, "sql")
    table_name = None if sql else str(spec.get("table_name") or name)
    schema = _text(spec, "schema")
    columns: Mapping[str, str] | None = None
    if derived_types is not None and sql is not None:
        columns = derived_types(sql)
        if columns is None:
            state.error(
                Loc(file.path, _line(spec, "sql")),
                f"view `{name}`: the warehouse rejects its derived-table `sql`",
            )
    if column_types is not None and table_name is not None:
        columns = column_types(table_name, schema)
        if columns is None:
            qualified = f"{schema}.{table_name}" if schema else table_name
            state.error(
                Loc(file.path, _line(spec, "table_name")),
                f"view `{name}`: table `{qualified}` does not exist in the warehouse",
            )
    timeframes_default = tuple(settings.get("default_timeframes") or DEFAULT_TIMEFRAMES)
    dims_spec = _mapping(
        spec.get("dimensions"), Loc(file.path, _line(spec, "dimensions")), "dimensions", state
    )
    dimensions = {
        dname: _dimension(
            name,
            str(dname),
            dspec,
            file.path,
            _line(dims_spec, dname),
            state,
            columns,
            timeframes_default,
        )
        for dname, dspec in dims_spec.items()
    }
    filters_spec = _mapping(
        spec.get("filters"), Loc(file.path, _line(spec, "filters")), "filters", state
    )
    filter_fields = {
        fname: _dimension(
            name,
            str(fname),
            fspec,
            file.path,
            _line(filters_spec, fname),
            state,
            columns,
            timeframes_default,
        )
        for fname, fspec in filters_spec.items()
    }
    meas_spec = _mapping(
        spec.get("measures"), Loc(file.path, _line(spec, "measures")), "measures", state
    )
    measures = {
        mname: _measure(name, str(mname), mspec, file.path, _line(meas_spec, mname), state)
        for mname, mspec in meas_spec.items()
    }
    for mname in measures:
        if mname in dimensions:
            state.error(measures[mname].loc, f"`{name}.{mname}` is both a dimension and a measure")
    pks = [d for d in dimensions.values() if d.primary_key]
    if len(pks) > 1:
        state.error(
            pks[1].loc,
            f"view `{name}` has more than one primary_key dimension "
            f"({', '.join(d.name for d in pks)})",
        )
    return View(
        name=name,
        table_name=table_name,
        schema=schema,
        sql=sql,
        label=str(spec.get("label") or label_for(name)),
        description=_text(spec, "description"),
        hidden=bool(spec.get("hidden", False)),
        dimensions=dimensions,
        measures=measures,
        filter_fields=filter_fields,
        loc=Loc(file.path, 1),
    )


def _dimension(
    view: str,
    name: str,
    spec: Any,
    file: str,
    line: int,
    state: _State,
    columns: Mapping[str, str] | None,
    timeframes_default: tuple[str, ...],
) -> Dimension:
    loc = Loc(file, line)
    spec = _mapping(spec, loc, f"dimension `{view}.{name}`", state)
    _unknown_keys(spec, DIMENSION_KEYS, file, f"dimension `{view}.{name}`", state)
    sql = _text(spec, "sql")
    declared = _text(spec, "type")
    if declared is not None and declared not in DATA_TYPES:
        state.error(
            Loc(file, _line(spec, "type")),
            f"`{view}.{name}`: unknown type `{declared}`{did_you_mean(declared, DATA_TYPES)}",
        )
        declared = None
    dtype = declared or UNKNOWN
    if declared is None and sql is None and columns is not None:
        if name in columns:
            dtype = columns[name]
        else:
            state.error(
                loc,
                f"`{view}.{name}`: no column `{name}` in the table"
                f"{did_you_mean(name, columns)}; give the dimension `sql`",
            )
    timeframes = tuple(str(t) for t in (spec.get("timeframes") or timeframes_default))
    for tf in timeframes:
        if tf not in GRAINS:
            state.error(
                Loc(file, _line(spec, "timeframes", line)),
                f"`{view}.{name}`: unknown timeframe `{tf}`{did_you_mean(tf, GRAINS)}",
            )
    groups, group_else, bins = _groups_and_bins(view, name, spec, file, line, state)
    if groups or bins:
        dtype = "string"
    return Dimension(
        view=view,
        name=name,
        sql=sql,
        type=dtype,
        primary_key=bool(spec.get("primary_key", False)),
        label=str(spec.get("label") or label_for(name)),
        description=_text(spec, "description"),
        format=_text(spec, "format"),
        hidden=bool(spec.get("hidden", False)),
        timeframes=timeframes,
        convert_tz=bool(spec.get("convert_tz", True)),
        group_label=_text(spec, "group_label"),
        loc=loc,
        groups=groups,
        group_else=group_else,
        bin_boundaries=bins,
    )


def _groups_and_bins(
    view: str, name: str, spec: Mapping[str, Any], file: str, line: int, state: _State
) -> tuple[tuple[tuple[str, Filter], ...], str | None, tuple[Decimal, ...]]:
    """``groups`` (a list of ``{filter, name}`` plus ``else``) and ``bin_boundaries``."""
    where = f"`{view}.{name}`"
    groups: list[tuple[str, Filter]] = []
    raw = spec.get("groups")
    if raw is not None and not isinstance(raw, list):
        state.error(Loc(file, _line(spec, "groups", line)), f"{where}: groups must be a list")
        raw = None
    for item in raw or []:
        here = Loc(file, _line(item, default=line))
        if not isinstance(item, Mapping) or "name" not in item or "filter" not in item:
            state.error(here, f"{where}: each group needs `name` and `filter`")
            continue
        try:
            groups.append((str(item["name"]), parse_yaml_filter(item["filter"])))
        except FilterSyntaxError as exc:
            state.error(here, f"{where} group {item['name']!r}: {exc}")
    bins: list[Decimal] = []
    raw_bins = spec.get("bin_boundaries")
    if raw_bins is not None:
        here = Loc(file, _line(spec, "bin_boundaries", line))
        try:
            if not isinstance(raw_bins, list) or not raw_bins:
                raise FilterSyntaxError("a non-empty list of numbers")
            bins = [to_decimal(b, "bin_boundaries") for b in raw_bins]
            if bins != sorted(set(bins)):
                raise FilterSyntaxError("ascending numbers without repeats")
        except FilterSyntaxError as exc:
            state.error(here, f"{where}: bin_boundaries must be {exc}")
            bins = []
    if groups and bins:
        state.error(Loc(file, line), f"{where}: use either groups or bin_boundaries, not both")
    group_else = _text(spec, "else")
    return tuple(groups), group_else, tuple(bins)


def _measure(view: str, name: str, spec: Any, file: str, line: int, state: _State) -> Measure:
    loc = Loc(file, line)
    spec = _mapping(spec, loc, f"measure `{view}.{name}`", state)
    _unknown_keys(spec, MEASURE_KEYS, file, f"measure `{view}.{name}`", state)
    agg = _text(spec, "aggregate_type")
    if agg is not None:
        agg = agg.lower()
        known = AGGREGATE_TYPES
        if agg not in known:
            state.error(
                Loc(file, _line(spec, "aggregate_type")),
                f"`{view}.{name}`: unknown aggregate_type `{agg}`{did_you_mean(agg, known)}",
            )
    sql = _text(spec, "sql")
    if agg is None and sql is None:
        state.error(
            loc,
            f"`{view}.{name}`: a measure needs `aggregate_type` or `sql` combining other measures",
        )
    filters: list[tuple[str, Filter]] = []
    fspec = _mapping(spec.get("filters"), Loc(file, _line(spec, "filters", line)), "filters", state)
    for key, value in fspec.items():
        try:
            filters.append((str(key), parse_yaml_filter(value)))
        except FilterSyntaxError as exc:
            state.error(Loc(file, _line(fspec, key)), f"`{view}.{name}` filter on `{key}`: {exc}")
    percentile = spec.get("percentile")
    if agg == "percentile" and (
        isinstance(percentile, bool)
        or not isinstance(percentile, int | float)
        or not 0 <= percentile <= 100
    ):
        state.error(
            Loc(file, _line(spec, "percentile", line)),
            f"`{view}.{name}`: aggregate_type percentile needs `percentile:` from 0 to 100",
        )
        percentile = None
    key_sql = _text(spec, "custom_primary_key_sql")
    if agg in DISTINCT_ON_TYPES and key_sql is None:
        state.error(
            loc,
            f"`{view}.{name}`: aggregate_type {agg} needs `custom_primary_key_sql`, the key "
            "whose rows are counted once",
        )
    if agg in ("median", "percentile", "list", *DISTINCT_ON_TYPES) and sql is None:
        state.error(loc, f"`{view}.{name}`: aggregate_type {agg} needs `sql`")
    return Measure(
        view=view,
        name=name,
        sql=sql,
        aggregate_type=agg,
        filters=tuple(filters),
        label=str(spec.get("label") or label_for(name)),
        description=_text(spec, "description"),
        format=_text(spec, "format"),
        hidden=bool(spec.get("hidden", False)),
        group_label=_text(spec, "group_label"),
        loc=loc,
        percentile=float(percentile) if agg == "percentile" and percentile is not None else None,
        custom_primary_key_sql=key_sql,
    )


# -- relationships --------------------------------------------------------------------------------


def _relationships(
    file: _File | None,
    views: dict[str, View],
    state: _State,
    settings: Mapping[str, Any],
    column_types: ColumnTypes | None,
) -> list[Relationship]:
    if file is None:
        return []
    data = file.data or []
    if not isinstance(data, list):
        state.error(Loc(file.path, 1), "relationships must be a list")
        return []
    out: list[Relationship] = []
    for item in data:
        line = _line(item)
        loc = Loc(file.path, line)
        if not isinstance(item, Mapping):
            state.error(loc, "each relationship must be a mapping")
            continue
        _unknown_keys(item, RELATIONSHIP_KEYS, file.path, "relationship", state)
        src, dst = item.get("join_from_view"), item.get("join_to_view")
        ok = True
        for key, value in (("join_from_view", src), ("join_to_view", dst)):
            if value is None:
                state.error(loc, f"relationship needs `{key}`")
                ok = False
            elif str(value) not in views:
                state.error(
                    Loc(file.path, _line(item, key, line)),
                    f"relationship {key} `{value}`: no such view{did_you_mean(str(value), views)}",
                )
                ok = False
        rtype = str(item.get("relationship_type", "many_to_one"))
        if rtype not in RELATIONSHIP_TYPES:
            state.error(
                Loc(file.path, _line(item, "relationship_type", line)),
                f"unknown relationship_type `{rtype}`{did_you_mean(rtype, RELATIONSHIP_TYPES)}",
            )
        jtype = str(item.get("join_type", "always_left"))
        if jtype not in JOIN_TYPES:
            state.error(
                Loc(file.path, _line(item, "join_type", line)),
                f"unknown join_type `{jtype}`{did_you_mean(jtype, JOIN_TYPES)}",
            )
        if not ok:
            continue
        alias = str(item.get("join_to_view_as") or dst)
        if alias != dst:
            if alias in views and views[alias].base_view != str(dst):
                state.error(loc, f"join_to_view_as `{alias}` clashes with an existing view")
                continue
            views[alias] = _alias_view(views[str(dst)], alias)
        on_sql = _text(item, "on_sql")
        if on_sql is None and jtype != "cross":
            state.error(loc, f"relationship {src} -> {alias} needs `on_sql`")
        out.append(Relationship(str(src), alias, on_sql, rtype, jtype, loc))
    return out


def _alias_view(view: View, alias: str) -> View:
    def move(d: Dimension) -> Dimension:
        return Dimension(**{**_fields(d), "view": alias})

    def move_m(m: Measure) -> Measure:
        return Measure(**{**_fields(m), "view": alias})

    return View(
        name=alias,
        table_name=view.table_name,
        schema=view.schema,
        sql=view.sql,
        label=label_for(alias),
        description=view.description,
        hidden=view.hidden,
        dimensions={k: move(d) for k, d in view.dimensions.items()},
        measures={k: move_m(m) for k, m in view.measures.items()},
        filter_fields={k: move(d) for k, d in view.filter_fields.items()},
        loc=view.loc,
        base_view=view.name,
    )


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


# -- topics ---------------------------------------------------------------------------------------


def _topic(
    name: str,
    file: _File,
    views: Mapping[str, View],
    relationships: list[Relationship],
    state: _State,
) -> Topic:
    spec = _mapping(file.data, Loc(file.path, 1), f"topic `{name}`", state)
    _unknown_keys(spec, TOPIC_KEYS, file.path, f"topic `{name}`", state)
    base = str(spec.get("base_view") or name)
    if base not in views:
        state.error(
            Loc(file.path, _line(spec, "base_view")),
            f"topic `{name}`: base_view `{base}` is not a view{did_you_mean(base, views)}",
        )
    joins = _joins(
        base, spec.get("joins"), file.path, _line(spec, "joins"), views, relationships, state, name
    )
    limit = spec.get("default_row_limit")
    return Topic(
        name=name,
        base_view=base,
        label=str(spec.get("label") or label_for(name)),
        description=_text(spec, "description"),
        hidden=bool(spec.get("hidden", False)),
        group_label=_text(spec, "group_label"),
        joins=joins,
        fields=tuple(str(f) for f in spec.get("fields") or ()),
        default_filters=_topic_filters(spec, "default_filters", file.path, state, name),
        always_where_filters=_topic_filters(spec, "always_where_filters", file.path, state, name),
        always_where_sql=_text(spec, "always_where_sql"),
        default_row_limit=int(limit) if isinstance(limit, int) else None,
        cache_policy=_text(spec, "cache_policy"),
        loc=Loc(file.path, 1),
    )


def _joins(
    parent: str,
    spec: Any,
    file: str,
    line: int,
    views: Mapping[str, View],
    relationships: list[Relationship],
    state: _State,
    topic: str,
) -> tuple[TopicJoin, ...]:
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        state.error(Loc(file, line), f"topic `{topic}`: joins must be a mapping")
        return ()
    out = []
    for child, sub in spec.items():
        child = str(child)
        loc = Loc(file, _line(spec, child, line))
        if child not in views:
            state.error(
                loc, f"topic `{topic}` joins `{child}`: no such view{did_you_mean(child, views)}"
            )
            continue
        linked = any({r.join_from_view, r.join_to_view} == {parent, child} for r in relationships)
        if not linked:
            state.error(
                loc,
                f"topic `{topic}` joins `{child}` to `{parent}`, but no relationship "
                f"links `{parent}` and `{child}`",
            )
        children = _joins(child, sub, file, loc.line, views, relationships, state, topic)
        out.append(TopicJoin(child, children, loc))
    return tuple(out)


def _topic_filters(
    spec: Mapping[str, Any], key: str, file: str, state: _State, topic: str
) -> tuple[tuple[str, Filter], ...]:
    fspec = _mapping(spec.get(key), Loc(file, _line(spec, key)), key, state)
    out = []
    for field_name, value in fspec.items():
        try:
            out.append((str(field_name), parse_yaml_filter(value)))
        except FilterSyntaxError as exc:
            state.error(
                Loc(file, _line(fspec, field_name)),
                f"topic `{topic}` {key} on `{field_name}`: {exc}",
            )
    return tuple(out)


# -- cross-checks ---------------------------------------------------------------------------------


def _check_references(
    views: Mapping[str, View],
    relationships: list[Relationship],
    topics: Mapping[str, Topic],
    state: _State,
) -> None:

    def check_ref(ref: Ref, view: str, loc: Loc, where: str, measures_ok: bool = True) -> None:
        target = ref.resolve(view)
        tview = views.get(target.view or "")
        if tview is None:
            state.error(
                loc,
                f"{where}: {ref} names an unknown view `{target.view}`"
                f"{did_you_mean(str(target.view), views)}",
            )
            return
        if target.field in tview.dimensions or target.field in tview.filter_fields:
            return
        if target.field in tview.measures:
            if not measures_ok:
                state.error(loc, f"{where}: {ref} is a measure; only dimensions are allowed here")
            return
        # Suggest from the view's own fields, never the field being defined (``where`` names
        # it): a field cannot refer to itself.
        own = [f for f in tview.field_names() if where != f"`{target.view}.{f}`"]
        hint = did_you_mean(str(target.field), own)
        state.error(loc, f"{where}: {ref} names no field of `{target.view}`{hint}")

    def check_sql(sql: str | None, view: str, loc: Loc, where: str, measures_ok: bool) -> None:
        if sql is None:
            return
        try:
            template(sql, state.dialect)
        except TemplateError as exc:
            state.error(loc, f"{where}: {exc}")
            return
        for ref in find_refs(sql):
            check_ref(ref, view, loc, where, measures_ok)

    for view in views.values():
        if view.base_view is not None:
            continue  # an alias repeats its base view's definitions
        for dim in (*view.dimensions.values(), *view.filter_fields.values()):
            check_sql(dim.sql, view.name, dim.loc, f"`{dim.qualified_name}`", measures_ok=False)
        for m in view.measures.values():
            check_sql(m.sql, view.name, m.loc, f"`{m.qualified_name}`", measures_ok=True)
            for fname, _ in m.filters:
                check_ref(
                    _field_ref(fname),
                    view.name,
                    m.loc,
                    f"`{m.qualified_name}` filter",
                    measures_ok=False,
                )
        _check_cycles(view, views, state)
    for rel in relationships:
        check_sql(
            rel.on_sql,
            rel.join_from_view,
            rel.loc,
            f"relationship {rel.join_from_view} -> {rel.join_to_view}",
            measures_ok=False,
        )
    for topic in topics.values():
        for key, filters in (
            ("default_filters", topic.default_filters),
            ("always_where_filters", topic.always_where_filters),
        ):
            for fname, _ in filters:
                check_ref(
                    _field_ref(fname), topic.base_view, topic.loc, f"topic `{topic.name}` {key}"
                )
        check_sql(
            topic.always_where_sql,
            topic.base_view,
            topic.loc,
            f"topic `{topic.name}` always_where_sql",
            measures_ok=False,
        )


def _field_ref(name: str) -> Ref:
    grain = None
    if name.endswith("]") and "[" in name:
        name, grain = name[:-1].split("[", 1)
    view, _, fname = name.rpartition(".")
    return Ref(view or None, fname, grain)


def _check_cycles(view: View, views: Mapping[str, View], state: _State) -> None:
    """Report a field whose SQL refers back to itself, directly or through others."""

    def deps(view_name: str, field_name: str) -> list[tuple[str, str]]:
        v = views.get(view_name)
        if v is None:
            return []
        f: Dimension | Measure | None = v.dimensions.get(field_name) or v.measures.get(field_name)
        if f is None or f.sql is None:
            return []
        return [(r.resolve(view_name).view or view_name, r.field) for r in find_refs(f.sql)]

    for start in [*view.dimensions, *view.measures]:
        stack: list[tuple[str, str, tuple[tuple[str, str], ...]]] = [
            (view.name, start, ((view.name, start),))
        ]
        seen: set[tuple[str, str]] = set()
        while stack:
            vname, fname, path = stack.pop()
            for dep in deps(vname, fname):
                if dep == (view.name, start):
                    chain = " -> ".join(f"{v}.{f}" for v, f in (*path, dep))
                    field_obj = view.dimensions.get(start) or view.measures[start]
                    state.error(field_obj.loc, f"reference cycle: {chain}")
                    stack.clear()
                    break
                if dep not in seen:
                    seen.add(dep)
                    stack.append((*dep, (*path, dep)))


def _infer_expression_types(
    views: dict[str, View], state: _State, column_types: ColumnTypes | None
) -> None:
    """Give expression dimensions without a declared type the type of their expression."""
    from sluice.model.typing import infer_dimension_types

    for name, view in list(views.items()):
        inferred = infer_dimension_types(view, views, state.dialect)
        dims = view.dimensions
        if inferred:
            dims = {
                k: Dimension(**{**_fields(d), "type": inferred.get(k, d.type)})
                for k, d in view.dimensions.items()
            }
            views[name] = View(**{**_fields(view), "dimensions": dims})
        if column_types is None or view.base_view is not None:
            continue  # without the warehouse's types, plain columns are untyped too
        for d in dims.values():
            if d.type == UNKNOWN and d.sql is not None:
                state.warn(
                    d.loc,
                    f"`{d.qualified_name}`: could not infer a type; "
                    "declare `type:` (string, number, timestamp, date, boolean)",
                )
