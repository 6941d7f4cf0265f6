"""The query object of contract §4 as a typed, normalised ``QuerySpec``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice.errors import BadRequest
from sluice.model.filters import Filter
from sluice.query.filters import ignore_if_unjoinable, parse_filter

DEFAULT_LIMIT = 1000
DEFAULT_COLUMN_LIMIT = 50
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
NULL_SORTS = frozenset({"LAST", "FIRST", "DIALECT_DEFAULT", "OMNI_DEFAULT"})


@dataclass(frozen=True, slots=True)
class SortSpec:
    column_name: str
    descending: bool = False
    null_sort: str = "OMNI_DEFAULT"


@dataclass(frozen=True, slots=True)
class QuerySpec:
    model_id: str
    fields: tuple[str, ...]
    table: str | None = None
    topic: str | None = None
    filters: tuple[tuple[str, Filter], ...] = ()
    # Filters to drop, rather than fail on, when their field cannot be joined.
    optional_filters: frozenset[str] = frozenset()
    sorts: tuple[SortSpec, ...] = ()
    limit: int | None = DEFAULT_LIMIT
    limit_given: bool = False  # False: the default applies (a topic's default_row_limit wins)
    offset: int = 0
    pivots: tuple[str, ...] = ()
    column_limit: int = DEFAULT_COLUMN_LIMIT  # at most this many pivot value combinations
    column_totals: bool = False  # add a totals row (per pivot column)
    row_totals: bool = False  # add a totals column per row (across pivot columns)
    fill_fields: tuple[str, ...] = ()  # date-grain dimensions whose missing values are filled
    calculations: tuple[Mapping[str, Any], ...] = ()  # table calculations, as sent
    user_edited_sql: str = ""
    rewrite_sql: bool = True  # False: run ``user_edited_sql`` verbatim

    @property
    def calc_names(self) -> frozenset[str]:
        """The table calculations' names: output columns that are not model fields."""
        return frozenset(str(c.get("calc_name")) for c in self.calculations)


def parse_query(body: Mapping[str, Any]) -> QuerySpec:
    """Validate and normalise a query object. Unknown keys are ignored, as Omni does."""
    if not isinstance(body, Mapping):
        raise BadRequest("query must be an object")
    model_id = body.get("modelId")
    if not isinstance(model_id, str) or not is_uuid(model_id):
        raise BadRequest("query.modelId must be a UUID")
    fields = body.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise BadRequest("query.fields must be an array of strings")
    limit_given = "limit" in body
    limit = body.get("limit", DEFAULT_LIMIT)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise BadRequest("query.limit must be a positive integer or null")
    offset = body.get("offset", 0) or 0
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise BadRequest("query.offset must be a non-negative integer")
    table = body.get("table") or None
    topic = body.get("join_paths_from_topic_name") or None
    for key, value in (("table", table), ("join_paths_from_topic_name", topic)):
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"query.{key} must be a string")
    pivots = _names(body, "pivots")
    fields_set = set(fields)
    missing_pivots = [p for p in pivots if p not in fields_set]
    if missing_pivots:
        raise BadRequest(f"query.pivots must also be in query.fields; missing: {missing_pivots}")
    column_limit = body.get("column_limit", DEFAULT_COLUMN_LIMIT)
    if isinstance(column_limit, bool) or not isinstance(column_limit, int) or column_limit < 1:
        raise BadRequest("query.column_limit must be a positive integer")
    calculations = body.get("calculations") or []
    if not isinstance(calculations, list) or not all(isinstance(c, Mapping) for c in calculations):
        raise BadRequest("query.calculations must be an array of objects")
    sql = body.get("userEditedSQL") or ""
    if not isinstance(sql, str):
        raise BadRequest("query.userEditedSQL must be a string")
    rewrite = body.get("rewriteSql", True)
    return QuerySpec(
        model_id=model_id,
        fields=tuple(fields),
        table=table,
        topic=topic,
        filters=_filters(body.get("filters")),
        optional_filters=frozenset(
            str(n) for n, f in (body.get("filters") or {}).items() if ignore_if_unjoinable(f)
        )
        if isinstance(body.get("filters"), Mapping)
        else frozenset(),
        sorts=_sorts(body.get("sorts")),
        limit=limit,
        limit_given=limit_given,
        offset=offset,
        pivots=tuple(pivots),
        column_limit=column_limit,
        column_totals=_totals(body, "column_totals"),
        row_totals=_totals(body, "row_totals"),
        fill_fields=tuple(_names(body, "fill_fields")),
        calculations=tuple(calculations),
        user_edited_sql=sql,
        rewrite_sql=rewrite is not False,
    )


def _names(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"query.{key} must be an array of field names")
    return value


def _totals(body: Mapping[str, Any], key: str) -> bool:
    """Absent or ``{}``: no totals; ``{"<field> or ::total::": {"type": ...}}``: totals."""
    value = body.get(key)
    if value in (None, {}, False):
        return False
    if value is True or isinstance(value, Mapping):
        return True
    raise BadRequest(f"query.{key} must be an object")


def is_uuid(value: object) -> bool:
    """A UUID in its canonical hyphenated form (what Omni's clients send), nothing else."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def _filters(raw: Any) -> tuple[tuple[str, Filter], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise BadRequest("query.filters must be an object of field name to filter")
    parsed = ((str(name), parse_filter(str(name), spec)) for name, spec in raw.items())
    return tuple((name, f) for name, f in parsed if f is not None)


def _sorts(raw: Any) -> tuple[SortSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadRequest("query.sorts must be an array")
    out = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("column_name"), str):
            raise BadRequest('each sort must be an object with a "column_name" string')
        null_sort = str(item.get("null_sort") or "OMNI_DEFAULT").upper()
        if null_sort not in NULL_SORTS:
            raise BadRequest(
                f"sort null_sort {null_sort!r} must be one of {', '.join(sorted(NULL_SORTS))}"
            )
        out.append(
            SortSpec(
                column_name=item["column_name"],
                descending=bool(item.get("sort_descending", False)),
                null_sort=null_sort,
            )
        )
    return tuple(out)
