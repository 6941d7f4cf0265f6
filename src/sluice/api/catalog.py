"""Catalog payloads (contract §10), built from the loaded semantic models. Pure: no I/O."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sluice.compiler import field_meta
from sluice.config import Config, ModelConfig, UserConfig
from sluice.errors import BadRequest, NotFound
from sluice.model.types import SemanticModel, Topic, TopicJoin, View

MODEL_PARAMS = ("pageSize", "cursor", "name", "modelId", "connectionId", "baseModelId", "modelKind")
MODEL_KIND = "SHARED"
BASE_PERMISSIONS = ("QUERY_TOPICS", "QUERY_FULL_MODEL", "VIEW_SQL")


def whoami(
    config: Config,
    *,
    key_scope: str,
    organization_id: str,
    user: UserConfig | None,
    model_ids: Sequence[str] = (),
) -> dict[str, Any]:
    admin = key_scope == "organization"
    role = "CONNECTION_ADMIN" if admin and user is None else "QUERIER"
    permissions = list(BASE_PERMISSIONS)
    if user is not None and user.allow_raw_sql:  # the compiler's rule for verbatim SQL
        permissions.append("QUERY_SQL")
    if user is None or user.admin or user.role.lower() in ("modeler", "admin"):
        permissions.append("UPDATE")  # may change models (sluice.api.model_routes.may_write)
    roles = {
        m.id: {
            "roleName": role,
            "baseRole": role,
            "connectionId": config.connections[m.connection].id,
            "permissions": permissions,
        }
        for m in config.models.values()
        if not model_ids or m.id in model_ids
    }
    return {
        "user": {
            "id": user.id if user else None,
            "membershipId": user.id if user else None,
            "email": user.email if user else None,
            "name": user.name if user else None,
        },
        "keyScope": key_scope,
        "orgRole": "ADMIN" if admin else "MEMBER",
        "organization": {"id": organization_id},
        "rolesByModel": roles,
    }


def models_page(
    config: Config, params: Mapping[str, str], *, timestamps: Mapping[str, str]
) -> dict[str, Any]:
    """``GET /models``: exact filters, then a cursor page. Unknown parameters are a 400."""
    for key in params:
        if key not in MODEL_PARAMS:
            raise BadRequest(f"Unknown query parameter {key!r}; allowed: {', '.join(MODEL_PARAMS)}")
    page_size = _page_size(params.get("pageSize"))
    models = sorted(config.models.values(), key=lambda m: (m.name.casefold(), m.id))
    if "modelId" in params:
        models = [m for m in models if m.id == params["modelId"].lower()]
    if "name" in params:
        models = [m for m in models if m.name.casefold() == params["name"].casefold()]
    if "connectionId" in params:
        conn = params["connectionId"].lower()
        models = [m for m in models if config.connections[m.connection].id == conn]
    if "baseModelId" in params:
        models = []  # every sluice model is a base model
    if "modelKind" in params and params["modelKind"].upper() != MODEL_KIND:
        models = []
    start = _cursor_start(params.get("cursor"), models)
    page = models[start : start + page_size]
    has_next = start + page_size < len(models)
    return {
        "pageInfo": {
            "hasNextPage": has_next,
            "nextCursor": _cursor(page[-1]) if has_next and page else None,
            "pageSize": page_size,
            "totalRecords": len(models),
        },
        "records": [_model_record(config, m, timestamps.get(m.id)) for m in page],
    }


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _page_size(raw: str | None) -> int:
    if raw is None:
        return 20
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= 100:
        raise BadRequest(f"pageSize must be an integer from 1 to 100; got {raw!r}")
    return size


def _cursor(model: ModelConfig) -> str:
    return base64.urlsafe_b64encode(model.id.encode()).decode().rstrip("=")


def _cursor_start(cursor: str | None, models: Sequence[ModelConfig]) -> int:
    if not cursor:
        return 0
    try:
        after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        after = ""
    for index, model in enumerate(models):
        if model.id == after:
            return index + 1
    raise BadRequest(f"cursor {cursor!r} is not valid for this listing")


def _model_record(config: Config, model: ModelConfig, stamp: str | None) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "modelKind": MODEL_KIND,
        "connectionId": config.connections[model.connection].id,
        "baseModelId": None,
        "createdAt": stamp,
        "updatedAt": stamp,
        "deletedAt": None,
    }


def topic_list(model: SemanticModel) -> dict[str, Any]:
    return {"success": True, "topics": [_topic_head(t) for t in model.topics.values()]}


def _topic_head(topic: Topic) -> dict[str, Any]:
    return {
        "name": topic.name,
        "base_view_name": topic.base_view,
        "label": topic.label,
        "description": topic.description,
        "group_label": topic.group_label,
        "hidden": topic.hidden,
    }


def topic_detail(
    model: SemanticModel, name: str, *, schema_taken_at: float | None = None
) -> dict[str, Any]:
    """``GET /models/{id}/topic/{name}``: the topic, its views and fields, its relationships and
    the path to each view (``omni-model-api.md`` §6)."""
    topic = model.topics.get(name)
    if topic is None:
        raise NotFound(f"Topic {name} not found")
    views = [
        _topic_view(model, topic, model.views[v]) for v in topic.join_views() if v in model.views
    ]
    detail = {
        **_topic_head(topic),
        "default_row_limit": topic.default_row_limit,
        "default_filters": _filters(topic.default_filters),
        "always_where_filters": _filters(topic.always_where_filters),
        "join_via_map": _join_via_map(topic),
        "views": views,
        "relationships": _relationships(model, topic.base_view, topic.joins),
    }
    if schema_taken_at is not None:  # when the schema layer under the model was read
        detail["schema_refreshed_at"] = iso_time(schema_taken_at)
    return {"success": True, "topic": detail}


def _filters(filters: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    return {name: _describe(f) for name, f in filters}


def _describe(value: Any) -> Any:
    """A filter, as JSON: its dataclass fields (the catalog shows what the topic applies)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "type": type(value).__name__,
            **{f.name: _describe(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, tuple | list):
        return [_describe(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _join_via_map(topic: Topic) -> dict[str, list[str]]:
    """Each joined view -> the views on the path to it from the base view (base first)."""
    out: dict[str, list[str]] = {}

    def walk(joins: Sequence[TopicJoin], path: list[str]) -> None:
        for join in joins:
            out[join.view] = list(path)
            walk(join.children, [*path, join.view])

    walk(topic.joins, [topic.base_view])
    return out


def _topic_view(model: SemanticModel, topic: Topic, view: View) -> dict[str, Any]:
    def admitted(names: Sequence[str]) -> list[str]:
        return [n for n in names if topic.admits(view.name, n)]

    key = view.primary_key
    return {
        "name": view.name,
        "label": view.label,
        "description": view.description,
        "hidden": view.hidden,
        "table_name": view.table_name,
        "schema": view.schema,
        "primary_key": key.name if key is not None else None,
        "dimensions": [_dimension(model, view, n) for n in admitted(list(view.dimensions))],
        "measures": [_measure(model, view, n) for n in admitted(list(view.measures))],
        "filter_only_fields": [_filter_field(view, n) for n in view.filter_fields],
    }


def _dimension(model: SemanticModel, view: View, name: str) -> dict[str, Any]:
    field = field_meta(model, f"{view.name}.{name}").summary()
    dim = view.dimensions[name]
    field["time_frames"] = list(dim.timeframes) if dim.is_time else []
    field["timeframes"] = field["time_frames"]  # the playground's older name, kept
    return field


def _measure(model: SemanticModel, view: View, name: str) -> dict[str, Any]:
    field = field_meta(model, f"{view.name}.{name}").summary()
    field["type"] = "aggregation"
    aggregate = view.measures[name].aggregate_type
    field["aggregate_type"] = aggregate.upper() if aggregate else None
    return field


def _filter_field(view: View, name: str) -> dict[str, Any]:
    """A filter-only field: the summary keys, from its definition (it cannot be selected)."""
    dim = view.filter_fields[name]
    return {
        "field_name": name,
        "fully_qualified_name": f"{view.name}.{name}",
        "view_name": view.name,
        "label": dim.label,
        "data_type": dim.type.upper(),
        "is_dimension": True,
        "aggregate_type": None,
        "format": {"value": dim.format} if dim.format else None,
        "hidden": dim.hidden,
        "description": dim.description,
    }


def _relationships(
    model: SemanticModel, parent: str, joins: Sequence[TopicJoin]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for join in joins:
        found = model.relationship(parent, join.view)
        if found is not None:
            rel, seen_from_parent = found
            out.append(
                {
                    "id": f"{rel.join_from_view}->{rel.join_to_view}",
                    "join_type": rel.join_type.upper(),
                    "sql": rel.on_sql,
                    "left_view_name": parent,
                    "right_view_name": join.view,
                    "relationship_type": seen_from_parent,
                    "type": seen_from_parent.upper(),
                }
            )
        out.extend(_relationships(model, join.view, join.children))
    return out


def view_list(model: SemanticModel) -> dict[str, Any]:
    views = []
    for view in model.views.values():
        fields = [
            *({"name": f"{view.name}.{n}", "type": "dimension"} for n in view.dimensions),
            *({"name": f"{view.name}.{n}", "type": "measure"} for n in view.measures),
            *({"name": f"{view.name}.{n}", "type": "filter"} for n in view.filter_fields),
        ]
        views.append(
            {
                "name": view.name,
                "label": view.label,
                "description": view.description,
                "hidden": view.hidden,
                "fields": fields,
            }
        )
    return {"success": True, "views": views}
