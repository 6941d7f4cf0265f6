"""Semantic SQL -> an Omni query object (the same one an HTTP client would send). Pure.

The SQL a Flight SQL client sends is parsed with sqlglot and read as a semantic query, never run
as written::

    SELECT "users.state", MEASURE("order_items.total_sale_price") AS total
    FROM ecommerce.topics.order_items
    WHERE "products.category" IN ('Jeans', 'Pants')
      AND "order_items.created_at" >= DATE '2024-01-01'
    GROUP BY 1 HAVING MEASURE("order_items.total_sale_price") > 1000
    ORDER BY 2 DESC NULLS LAST LIMIT 10 OFFSET 5

* ``FROM <model>.topics.<topic>`` or ``<model>.views.<view>`` (the catalog is the model's name;
  with one model the catalog may be left out);
* a column is a field, quoted as written in the model (``"view.field"``); a time grain is
  ``"view.field[month]"`` or ``DATE_TRUNC('month', "view.field")``;
* a dimension groups; a measure is written ``MEASURE("view.measure")``. A bare measure column is
  also accepted when the query has no ``GROUP BY`` (Cube's convention); with a ``GROUP BY`` it
  must be wrapped, so a reader never mistakes it for a grouped column;
* ``WHERE`` conditions on dimensions (``= <> < <= > >= IN, NOT IN, BETWEEN, LIKE, ILIKE, IS [NOT]
  NULL``, ``AND``, and ``OR`` within one field) and ``HAVING`` conditions on measures become
  typed filters, every value a literal;
* ``ORDER BY`` (position, field, alias or ``MEASURE(...)``; ``NULLS FIRST|LAST``), ``LIMIT`` and
  ``OFFSET``. Without ``LIMIT`` the server's row limit applies (``max_rows``, or all rows in
  high-limit mode).

Anything else (joins, subqueries, functions, ``SELECT *``, statements other than ``SELECT``) is
refused with a message saying what is allowed: raw warehouse SQL is never passed through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from sluice.compiler import field_meta
from sluice.compiler.grains import GRAINS
from sluice.errors import NotFound, PlanError, SemanticSqlError
from sluice.model.types import SemanticModel

ALLOWED = (
    'A semantic query is SELECT "view.field", MEASURE("view.measure") FROM '
    "<model>.topics.<topic> (or <model>.views.<view>) with optional WHERE on dimensions, "
    "GROUP BY, HAVING on measures, ORDER BY, LIMIT and OFFSET"
)


@dataclass(frozen=True, slots=True)
class SemanticQuery:
    model: str  # the model's name (the catalog)
    query: dict[str, Any]  # the Omni query object, without modelId
    columns: tuple[tuple[str, str], ...]  # (field, output column name) in SELECT order


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # "view.field" or "view.field[grain]"
    is_measure: bool
    data_type: str  # STRING, NUMBER, DATE, TIMESTAMP, BOOLEAN, ...


def translate(
    sql: str,
    models: Mapping[str, SemanticModel],
    *,
    max_rows: int,
    high_limit: bool = False,
) -> SemanticQuery:
    """The query object ``sql`` means; ``SemanticSqlError`` (or ``NotFound``) saying why not."""
    statement = _parse(sql)
    model_name, model, source = _source(statement, models)
    reader = _Reader(model)
    grouped = statement.args.get("group") is not None
    columns: list[tuple[str, str]] = []
    fields: list[_Field] = []
    for item in statement.expressions:
        alias = item.alias if isinstance(item, exp.Alias) else None
        node = item.this if isinstance(item, exp.Alias) else item
        if isinstance(node, exp.Star) or (
            isinstance(node, exp.Column) and isinstance(node.this, exp.Star)
        ):
            raise SemanticSqlError(
                "SELECT * is not supported: name the fields you want. This table's fields: "
                + ", ".join(_table_fields(model, source))
            )
        found = reader.select_item(node, grouped=grouped)
        fields.append(found)
        columns.append((found.name, alias or found.name))
    if not fields:
        raise SemanticSqlError(f"Select at least one field. {ALLOWED}")
    if grouped:
        _check_group(statement.args["group"], fields, columns, reader)
    query: dict[str, Any] = {**source, "fields": list(dict.fromkeys(f.name for f in fields))}
    filters: dict[str, Any] = {}
    where = statement.args.get("where")
    if where is not None:
        _collect(where.this, reader, filters, measures=False)
    having = statement.args.get("having")
    if having is not None:
        _collect(having.this, reader, filters, measures=True)
    if filters:
        query["filters"] = filters
    order = statement.args.get("order")
    if order is not None:
        query["sorts"] = [_sort(o, fields, columns, reader, sql) for o in order.expressions]
    limit = _count(statement.args.get("limit"), "LIMIT")
    offset = _count(statement.args.get("offset"), "OFFSET")
    if limit is not None:
        query["limit"] = limit
    else:
        query["limit"] = None if high_limit else max_rows
    if offset:
        query["offset"] = offset
    return SemanticQuery(model_name, query, tuple(columns))


def _parse(sql: str) -> exp.Select:
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise SemanticSqlError(f"The query is empty. {ALLOWED}")
    try:
        statements = sqlglot.parse(text, read="duckdb")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        detail = first.get("description") if first else str(exc)
        raise SemanticSqlError(f"SQL syntax error{where}: {detail}") from None
    if len(statements) != 1 or statements[0] is None:
        raise SemanticSqlError(f"Send exactly one SELECT statement. {ALLOWED}")
    statement = statements[0]
    if not isinstance(statement, exp.Select):
        kind = statement.key.upper()
        raise SemanticSqlError(
            f"Only semantic SELECT queries are accepted; raw SQL ({kind}) is not passed through "
            f"to the warehouse. {ALLOWED}"
        )
    for key in ("with_", "with", "joins", "laterals", "windows", "qualify", "distribute", "sort"):
        if statement.args.get(key):
            raise _raw(key.rstrip("_").upper())
    if statement.args.get("distinct") and statement.args["distinct"].args.get("on"):
        raise _raw("DISTINCT ON")
    if statement.find(exp.Subquery) is not None or any(
        isinstance(n, exp.Select) and n is not statement for n in statement.walk()
    ):
        raise _raw("a subquery")
    return statement


def _raw(what: str) -> SemanticSqlError:
    return SemanticSqlError(
        f"{what} is not supported: raw SQL is not passed through to the warehouse. {ALLOWED}"
    )


def _source(
    statement: exp.Select, models: Mapping[str, SemanticModel]
) -> tuple[str, SemanticModel, dict[str, str]]:
    from_ = statement.args.get("from_") or statement.args.get("from")
    table = from_.this if from_ is not None else None
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        raise SemanticSqlError(f"FROM must name one topic or view. {ALLOWED}")
    catalog, schema, name = table.catalog, table.db, table.name
    if not catalog:
        if len(models) != 1:
            raise SemanticSqlError(
                "Name the model as the catalog: FROM <model>.topics.<topic>; models: "
                + ", ".join(sorted(models))
            )
        catalog = next(iter(models))
    model = models.get(catalog)
    if model is None:
        raise NotFound(f"Model {catalog} not found; models: {', '.join(sorted(models))}")
    if schema == "topics":
        if name not in model.topics:
            raise NotFound(
                f"Topic {name} not found in model {catalog}; topics: {', '.join(model.topics)}"
            )
        return catalog, model, {"join_paths_from_topic_name": name}
    if schema == "views":
        if name not in model.views:
            raise NotFound(
                f"View {name} not found in model {catalog}; views: {', '.join(model.views)}"
            )
        return catalog, model, {"table": name}
    raise SemanticSqlError(
        f"The schema must be topics or views, got {schema or 'none'!r}: "
        f"FROM {catalog}.topics.<topic> or {catalog}.views.<view>"
    )


def _table_fields(model: SemanticModel, source: Mapping[str, str]) -> list[str]:
    from sluice.flight.catalog import table_fields  # the catalog's own listing

    topic = source.get("join_paths_from_topic_name")
    return [f.field_name for f in table_fields(model, topic=topic, view=source.get("table"))]


class _Reader:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model

    def field(self, name: str) -> _Field:
        try:
            meta = field_meta(self.model, name)
        except PlanError as exc:
            raise SemanticSqlError(exc.message) from None
        return _Field(name, not meta.is_dimension, meta.data_type.upper())

    def column(self, node: exp.Expression) -> _Field | None:
        """The field a column reference (or ``DATE_TRUNC`` of one) names; None if not one."""
        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
            parts = [p.name for p in node.parts]
            return self.field(".".join(parts))
        if isinstance(node, exp.DateTrunc | exp.TimestampTrunc):
            unit = node.args.get("unit")
            grain = (unit.name if unit is not None else "").lower()
            inner = node.this
            if grain not in GRAINS or not isinstance(inner, exp.Column):
                raise SemanticSqlError(
                    "DATE_TRUNC takes a grain and a field: DATE_TRUNC('month', \"view.field\")"
                )
            base = ".".join(p.name for p in inner.parts)
            if "[" in base:
                raise SemanticSqlError(f'"{base}" already has a grain')
            return self.field(f"{base}[{grain}]")
        return None

    def measure_call(self, node: exp.Expression) -> _Field | None:
        if isinstance(node, exp.Anonymous) and node.name.upper() == "MEASURE":
            args = node.expressions
            found = self.column(args[0]) if len(args) == 1 else None
            if found is None:
                raise SemanticSqlError('MEASURE takes one field: MEASURE("view.measure")')
            if not found.is_measure:
                raise SemanticSqlError(
                    f'"{found.name}" is a dimension; only measures go in MEASURE'
                )
            return found
        return None

    def select_item(self, node: exp.Expression, *, grouped: bool) -> _Field:
        found = self.measure_call(node)
        if found is not None:
            return found
        if isinstance(node, exp.AggFunc):
            raise SemanticSqlError(
                f"{node.key.upper()}(...) is not supported: aggregates are the model's measures, "
                'selected as MEASURE("view.measure")'
            )
        found = self.column(node)
        if found is None:
            raise SemanticSqlError(
                f"Cannot select {node.sql()}: select fields and MEASURE(...). {ALLOWED}"
            )
        if found.is_measure and grouped:
            raise SemanticSqlError(
                f'"{found.name}" is a measure: write MEASURE("{found.name}") when the query has '
                "GROUP BY (a bare measure is accepted only without GROUP BY)"
            )
        return found

    def operand(self, node: exp.Expression, *, measures: bool) -> _Field:
        found = self.measure_call(node) if measures else None
        if found is None:
            found = self.column(node)
        if found is None:
            raise SemanticSqlError(
                f"Cannot filter on {node.sql()}: a condition compares a field with literal values"
            )
        clause = "HAVING" if measures else "WHERE"
        if found.is_measure != measures:
            wanted = "measures" if measures else "dimensions"
            raise SemanticSqlError(f'{clause} filters {wanted}; "{found.name}" is not one')
        return found


def _check_group(
    group: exp.Group, fields: list[_Field], columns: list[tuple[str, str]], reader: _Reader
) -> None:
    dims = {f.name for f in fields if not f.is_measure}
    named: set[str] = set()
    for node in group.expressions:
        named.add(_resolve(node, fields, columns, reader).name)
    if named != dims:
        missing = ", ".join(sorted(dims - named)) or "none"
        extra = ", ".join(sorted(named - dims)) or "none"
        raise SemanticSqlError(
            "GROUP BY must list exactly the selected dimensions (dimensions always group; "
            f"GROUP BY may be left out): missing {missing}; not selected or not dimensions {extra}"
        )


def _resolve(
    node: exp.Expression, fields: list[_Field], columns: list[tuple[str, str]], reader: _Reader
) -> _Field:
    """A GROUP BY / ORDER BY item: a position, an output name, a field or MEASURE(...)."""
    if isinstance(node, exp.Literal) and not node.is_string:
        position = int(node.name) if node.name.isdigit() else 0
        if not 1 <= position <= len(fields):
            raise SemanticSqlError(f"Position {node.name} is not in the SELECT list")
        return fields[position - 1]
    if isinstance(node, exp.Column) and len(node.parts) == 1:
        for (_, output), selected in zip(columns, fields, strict=True):
            if output == node.name:
                return selected
    found = reader.measure_call(node) or reader.column(node)
    if found is None:
        raise SemanticSqlError(f"Cannot order or group by {node.sql()}")
    return found


def _sort(
    ordered: exp.Ordered,
    fields: list[_Field],
    columns: list[tuple[str, str]],
    reader: _Reader,
    sql: str,
) -> dict[str, Any]:
    found = _resolve(ordered.this, fields, columns, reader)
    out: dict[str, Any] = {
        "column_name": found.name,
        "sort_descending": bool(ordered.args.get("desc")),
    }
    if "NULLS" in sql.upper():  # only an explicit NULLS FIRST|LAST overrides Omni's default
        out["null_sort"] = "FIRST" if ordered.args.get("nulls_first") else "LAST"
    return out


def _count(node: exp.Expression | None, what: str) -> int | None:
    if node is None:
        return None
    value = node.args.get("expression") or node.this
    if not isinstance(value, exp.Literal) or value.is_string or not value.name.isdigit():
        raise SemanticSqlError(f"{what} takes a whole number")
    return int(value.name)


# -- conditions -> typed filters ------------------------------------------------------------------


def _collect(
    node: exp.Expression, reader: _Reader, filters: dict[str, Any], *, measures: bool
) -> None:
    """AND-ed conditions, each added to its field's filter (two on one field are AND-ed)."""
    if isinstance(node, exp.Paren):
        _collect(node.this, reader, filters, measures=measures)
        return
    if isinstance(node, exp.And):
        _collect(node.this, reader, filters, measures=measures)
        _collect(node.expression, reader, filters, measures=measures)
        return
    name, spec = _condition(node, reader, measures=measures)
    filters[name] = _and(filters[name], spec) if name in filters else spec


def _and(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {"type": "composite", "conjunction": "AND", "filters": [a, b]}


def _condition(
    node: exp.Expression, reader: _Reader, *, measures: bool
) -> tuple[str, dict[str, Any]]:
    if isinstance(node, exp.Paren):
        return _condition(node.this, reader, measures=measures)
    if node.args.get("negate"):  # sqlglot's NOT LIKE / NOT IN / NOT BETWEEN
        plain = node.copy()
        plain.set("negate", None)
        name, spec = _condition(plain, reader, measures=measures)
        return name, {**spec, "is_negative": not spec.get("is_negative", False)}
    if isinstance(node, exp.Or):
        left = _condition(node.this, reader, measures=measures)
        right = _condition(node.expression, reader, measures=measures)
        if left[0] != right[0]:
            raise SemanticSqlError(
                f"OR may only join conditions on one field; got {left[0]} and {right[0]}"
            )
        spec = {"type": "composite", "conjunction": "OR", "filters": [left[1], right[1]]}
        return left[0], spec
    if isinstance(node, exp.Not):
        name, spec = _condition(node.this, reader, measures=measures)
        return name, {**spec, "is_negative": not spec.get("is_negative", False)}
    if isinstance(node, exp.Is):
        found = reader.operand(node.this, measures=measures)
        if not isinstance(node.expression, exp.Null):
            raise SemanticSqlError("IS takes NULL: IS NULL or IS NOT NULL")
        return found.name, {"type": "null", "is_negative": False}
    if isinstance(node, exp.In):
        if node.args.get("query") is not None:
            raise _raw("a subquery")
        found = reader.operand(node.this, measures=measures)
        values = [_literal(v) for v in node.expressions]
        return found.name, _equals(found, values, negative=False)
    if isinstance(node, exp.Between):
        found = reader.operand(node.this, measures=measures)
        low, high = _literal(node.args["low"]), _literal(node.args["high"])
        return found.name, _and(_compare(found, ">=", low), _compare(found, "<=", high))
    if isinstance(node, exp.Like | exp.ILike):
        found = reader.operand(node.this, measures=measures)
        if found.data_type != "STRING":
            raise SemanticSqlError(f'LIKE needs a string field; "{found.name}" is not one')
        pattern = _literal(node.expression)
        like_spec: dict[str, Any] = {
            "type": "string",
            "kind": "SQL_LIKE",
            "values": [str(pattern)],
            "is_negative": False,
            "case_insensitive": isinstance(node, exp.ILike),
        }
        return found.name, like_spec
    ops = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
    for cls, op in ops.items():
        if isinstance(node, cls):
            left, right = node.this, node.expression
            if _is_value(left) and not _is_value(right):  # 5 < "x" -> "x" > 5
                left, right = right, left
                op = {">": "<", "<": ">", ">=": "<=", "<=": ">="}.get(op, op)
            found = reader.operand(left, measures=measures)
            value = _literal(right)
            if op in ("=", "<>"):
                return found.name, _equals(found, [value], negative=op == "<>")
            return found.name, _compare(found, op, value)
    if not measures and isinstance(node, exp.Column | exp.Boolean):
        found = reader.operand(node, measures=False)
        if found.data_type == "BOOLEAN":
            return found.name, {"type": "boolean", "is_negative": False}
    raise SemanticSqlError(
        f"Cannot filter with {node.sql()}: conditions are field <op> literal "
        "(= <> < <= > >= IN BETWEEN LIKE ILIKE IS NULL), joined with AND (OR within one field)"
    )


def _is_value(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal | exp.Boolean | exp.Null | exp.Cast | exp.Neg)


def _literal(node: exp.Expression) -> Any:
    """A literal's value: string, number, bool, date or datetime. Anything else is refused."""
    if isinstance(node, exp.Neg):
        inner = _literal(node.this)
        if isinstance(inner, int | float):
            return -inner
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.name
        text = node.name
        try:
            return int(text)
        except ValueError:
            return float(text)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        target = node.to.this
        text = node.this.name
        try:
            if target == exp.DataType.Type.DATE:
                return dt.date.fromisoformat(text)
            if target in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME):
                return dt.datetime.fromisoformat(text)
        except ValueError:
            raise SemanticSqlError(f"{node.sql()} is not a valid date or timestamp") from None
    raise SemanticSqlError(
        f"{node.sql()} is not a literal: compare fields with literal values only"
    )


def _is_time(found: _Field) -> bool:
    return found.data_type in ("DATE", "TIMESTAMP")


def _date_text(value: Any, found: _Field) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise SemanticSqlError(
                f'"{found.name}" is a {found.data_type.lower()}: compare it with DATE '
                f"'YYYY-MM-DD' or TIMESTAMP 'YYYY-MM-DD HH:MM:SS', not {value!r}"
            ) from None
        return value if len(value) == 10 else parsed.isoformat(sep=" ")
    raise SemanticSqlError(f'"{found.name}" is a {found.data_type.lower()}, not {value!r}')


def _next_day(text: str, found: _Field, op: str) -> str:
    if len(text) != 10:
        raise SemanticSqlError(
            f'"{found.name}" {op} a timestamp is not supported; use >= and < with timestamps, '
            "or compare with a DATE"
        )
    return (dt.date.fromisoformat(text) + dt.timedelta(days=1)).isoformat()


def _equals(found: _Field, values: list[Any], *, negative: bool) -> dict[str, Any]:
    if _is_time(found):
        if len(values) != 1 or negative:
            raise SemanticSqlError(
                f'"{found.name}" is a {found.data_type.lower()}: use = with one date, or a range'
            )
        text = _date_text(values[0], found)
        end = _next_day(text, found, "=")
        return {"type": "date", "kind": "BETWEEN", "left_side": text, "right_side": end,
                "is_negative": False}  # fmt: skip
    if found.data_type == "NUMBER" or found.is_measure:
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise SemanticSqlError(f'"{found.name}" is a number: compare it with numbers')
        return {"type": "number", "kind": "EQUALS", "values": values, "is_negative": negative}
    if found.data_type == "BOOLEAN":
        if len(values) != 1 or not isinstance(values[0], bool):
            raise SemanticSqlError(f'"{found.name}" is a boolean: compare it with TRUE or FALSE')
        return {"type": "boolean", "is_negative": values[0] == negative}
    if not all(isinstance(v, str) for v in values):
        raise SemanticSqlError(f"\"{found.name}\" is a string: compare it with 'quoted' values")
    return {"type": "string", "kind": "EQUALS", "values": values, "is_negative": negative,
            "case_insensitive": False}  # fmt: skip


def _compare(found: _Field, op: str, value: Any) -> dict[str, Any]:
    if _is_time(found):
        text = _date_text(value, found)
        if op == ">=":
            return {"type": "date", "kind": "ON_OR_AFTER", "left_side": text, "is_negative": False}
        if op == "<":
            return {"type": "date", "kind": "BEFORE", "right_side": text, "is_negative": False}
        if op == ">":
            after = _next_day(text, found, op)
            return {"type": "date", "kind": "ON_OR_AFTER", "left_side": after, "is_negative": False}
        before = _next_day(text, found, op)
        return {"type": "date", "kind": "BEFORE", "right_side": before, "is_negative": False}
    if found.data_type != "NUMBER" and not found.is_measure:
        raise SemanticSqlError(
            f'"{found.name}" is a {found.data_type.lower()}: {op} compares numbers and dates'
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SemanticSqlError(f'"{found.name}" is a number: compare it with a number')
    kind = "GREATER_THAN" if op.startswith(">") else "LESS_THAN"
    return {"type": "number", "kind": kind, "values": [value], "is_negative": False,
            "is_inclusive": op.endswith("=")}  # fmt: skip
