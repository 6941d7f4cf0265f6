"""QuerySpec + SemanticModel -> CompiledQuery: the semantic query's SQL for one dialect.

The pipeline of one compilation: resolve the fields (``fields``), build each field's expression
(``builder``), gather filters, join the views used, count fanned rows once (``fanout``), order
and limit; then describe the work after the SQL (pivots, totals, fill, calculations). SQL mode
(``userEditedSQL``) has its own path in ``sqlmode``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from sluice.compiler import dates, sqlmode
from sluice.compiler.builder import StatementBuilder, join_expr, table_expr
from sluice.compiler.dialects import rules
from sluice.compiler.fanout import Recount, check_fan_out, dedupe
from sluice.compiler.fields import (
    aliases,
    compares_dates,
    field_meta_for,
    field_type,
    grain_ok,
    lookup,
    measure_type,
    missing_field_warning,
    parse_field_name,
    resolve_fields,
    unknown_field_message,
)
from sluice.compiler.grains import GrainContext
from sluice.compiler.joins import JoinTree, implicit_tree, topic_tree
from sluice.compiler.types import CompiledQuery, CompileOptions, FieldMeta, FillSpec, PostPlan
from sluice.errors import PlanError, did_you_mean
from sluice.model.filters import DateFilter
from sluice.model.grains import FILL_GRAINS
from sluice.model.types import Dimension, Measure, SemanticModel, Topic
from sluice.query.spec import QuerySpec, SortSpec

# -- public entry points --------------------------------------------------------------------------


def compile_query(
    model: SemanticModel,
    spec: QuerySpec,
    *,
    dialect: str | None = None,
    now: datetime | None = None,
    timezone: str | None = None,
    user_attributes: Mapping[str, Any] | None = None,
    options: CompileOptions | None = None,
) -> CompiledQuery:
    """Compile ``spec`` against ``model`` to SQL for ``dialect`` (default: the model's).

    The result carries the ``clock_grain`` when a date literal relative to ``now`` went into it
    (its SQL or its post-query plan): compiled in another bucket of that grain (``clock_bucket``),
    it would differ."""
    with dates.watching_clock() as read:
        compiled = _compile_query(
            model, spec, dialect=dialect, now=now, timezone=timezone,
            user_attributes=user_attributes, options=options,
        )  # fmt: skip
    grain = read()
    return dataclasses.replace(compiled, clock_grain=grain) if grain else compiled


def clock_bucket(grain: str, now: datetime, timezone: str | None) -> datetime:
    """Which bucket of ``grain`` the instant ``now`` falls in, as wall time in ``timezone``: two
    compiles of a query in the same bucket give the same SQL."""
    return dates.clock_bucket(_local_now(now, timezone), grain)


def _compile_query(
    model: SemanticModel,
    spec: QuerySpec,
    *,
    dialect: str | None = None,
    now: datetime | None = None,
    timezone: str | None = None,
    user_attributes: Mapping[str, Any] | None = None,
    options: CompileOptions | None = None,
) -> CompiledQuery:
    dialect = dialect or model.dialect
    options = options or CompileOptions()
    clock = _local_now(now or datetime.now(UTC), timezone)
    topic = _topic(model, spec)
    grains = GrainContext(model.week_start_day, model.fiscal_month_offset, rules(dialect))
    attributes = user_attributes or {}

    def new_build(
        tree: JoinTree, base: str, distinct: frozenset[str] = frozenset()
    ) -> StatementBuilder:
        return StatementBuilder(model, tree, base, clock, grains, timezone, attributes, distinct)

    if spec.user_edited_sql.strip():
        _limit(spec, topic, options)  # the same row cap as semantic queries
        if not spec.rewrite_sql:
            return sqlmode.raw(model, spec, dialect, options)
        return sqlmode.rewrite(model, spec, new_build, dialect)
    base = _base_view(model, spec, topic)
    tree = topic_tree(model, topic) if topic else implicit_tree(model, base)
    try:
        b = new_build(tree, base)
        compiled = _compile(model, spec, dialect, options, topic, b)
    except Recount:
        # A count of the base view is fanned out by a join: count distinct primary keys.
        b = new_build(tree, base, frozenset({base}))
        compiled = _compile(model, spec, dialect, options, topic, b)
    if not (spec.pivots or spec.column_totals or spec.row_totals or spec.fill_fields
            or spec.calculations):  # fmt: skip
        return compiled

    def again(**changes: Any) -> CompiledQuery:
        """The same query with other fields and no post-query work: a totals query."""
        totals_spec = dataclasses.replace(
            spec, pivots=(), column_totals=False, row_totals=False, fill_fields=(),
            calculations=(), sorts=(), limit=None, limit_given=True, offset=0, **changes,
        )  # fmt: skip
        return _compile_query(model, totals_spec, dialect=dialect, now=now, timezone=timezone,
                             user_attributes=user_attributes,
                             options=dataclasses.replace(options, max_rows=None))  # fmt: skip

    return dataclasses.replace(compiled, post=_post(compiled, spec, b, again))


def _compile(
    model: SemanticModel,
    spec: QuerySpec,
    dialect: str,
    options: CompileOptions,
    topic: Topic | None,
    b: StatementBuilder,
) -> CompiledQuery:
    base, tree = b.base, b.tree

    selected, missing = resolve_fields(model, spec, tree, topic)
    columns: list[exp.Expr] = []
    metas: list[FieldMeta] = []
    names = aliases([ref.requested for ref, _ in selected])
    for (ref, target), alias in zip(selected, names, strict=True):
        x = b.dimension(target, ref.grain) if isinstance(target, Dimension) else b.measure(target)
        columns.append(exp.alias_(x, alias, quoted=False))
        metas.append(field_meta_for(model, ref, target, alias))

    where, having = _filters(b, model, spec, topic)
    joined = tree.closure(b.used | {base})
    fanned = check_fan_out(b, joined)

    rows = exp.select(copy=False).from_(table_expr(model, model.views[base]), copy=False)
    for view in joined[1:]:
        rows = rows.join(join_expr(b, view), copy=False)
    if where:
        rows = rows.where(exp.and_(*where, copy=False), copy=False)
    if fanned or b.distinct_keys:
        query, having = dedupe(b, rows, columns, metas, having, fanned)
    else:
        query = rows.select(*columns, copy=False)
    dims = [i for i, m in enumerate(metas, start=1) if m.is_dimension]
    if dims:  # dimensions only: GROUP BY makes the rows distinct, as Omni does
        query = query.group_by(*[exp.Literal.number(i) for i in dims], copy=False)
    if having:
        query = query.having(exp.and_(*having, copy=False), copy=False)
    query = _order(query, spec.sorts, metas, dialect)
    limit = _limit(spec, topic, options)
    if limit is not None:
        query = query.limit(limit, copy=False)
    if spec.offset:
        query = query.offset(spec.offset, copy=False)
    sql = query.sql(dialect=dialect, pretty=True)
    return CompiledQuery(
        sql=sql,
        dialect=dialect,
        fields=tuple(metas),
        missing_fields=tuple(missing),
        warnings=tuple(missing_field_warning(model, name, tree, topic) for name in missing),
        model_version=model.version,
        base_view=base,
        topic=topic.name if topic else None,
        limit=limit,
        user_attributes=tuple(
            (name, str(b.user_attributes.get(name))) for name in sorted(b.used_attributes)
        ),
    )


def _post(
    compiled: CompiledQuery,
    spec: QuerySpec,
    b: StatementBuilder,
    again: Callable[..., CompiledQuery],
) -> PostPlan:
    """Describe the work after the SQL: pivots, totals (as extra queries), fill, calculations."""
    selected = {f.field_name for f in compiled.fields}
    dims = tuple(f.field_name for f in compiled.fields if f.is_dimension)
    measures = tuple(f.field_name for f in compiled.fields if not f.is_dimension)
    pivots = tuple(p for p in spec.pivots if p in dims)
    others = tuple(d for d in dims if d not in pivots)
    totals: list[tuple[str, CompiledQuery]] = []
    if measures and (spec.column_totals or (spec.row_totals and pivots)):
        if spec.column_totals and pivots:
            totals.append(("column", again(fields=pivots + measures)))
        if spec.row_totals and pivots and others:
            totals.append(("row", again(fields=others + measures)))
        totals.append(("grand", again(fields=measures)))
    sorts = spec.sorts or _default_sort(list(compiled.fields))
    return PostPlan(
        fields=tuple(f for f in spec.fields if f in selected or f in spec.calc_names),
        dimensions=dims,
        measures=measures,
        pivots=pivots,
        column_limit=spec.column_limit,
        column_totals=spec.column_totals,
        row_totals=spec.row_totals,
        fill=tuple(_fill_ranges(spec, b, dims)),
        calculations=spec.calculations,
        sort_descending={s.column_name: s.descending for s in sorts},
        totals=tuple(totals),
    )


def _fill_ranges(spec: QuerySpec, b: StatementBuilder, dims: tuple[str, ...]) -> list[FillSpec]:
    """Each fill field's range: from the query's date filter on the field, when it has one."""
    out = []
    for name in spec.fill_fields:
        ref = parse_field_name(name)
        if name not in dims or ref is None or ref.grain not in FILL_GRAINS:
            continue  # only date grains can be filled
        start = end = None
        for fname, f in spec.filters:
            if fname in (name, f"{ref.view}.{ref.name}") and isinstance(f, DateFilter):
                if f.is_negative:
                    continue
                try:
                    low, high = dates.resolve(f, b.now, b.week_start, b.grains.fiscal_month_offset)
                except dates.DateLiteralError:
                    continue  # reported when the filter itself compiled
                start = low.date() if low else None
                end = high.date() if high else None
        out.append(FillSpec(name, ref.grain, start, end))
    return out


# -- steps ----------------------------------------------------------------------------------------


def _local_now(now: datetime, timezone: str | None) -> datetime:
    """The clock as wall time in the query's time zone (UTC by default), without tzinfo."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if timezone:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PlanError(f"unknown time zone {timezone!r}; use an IANA name") from None
        return now.astimezone(zone).replace(tzinfo=None)
    return now.astimezone(UTC).replace(tzinfo=None)


def _topic(model: SemanticModel, spec: QuerySpec) -> Topic | None:
    if spec.topic is None:
        return None
    topic = model.topics.get(spec.topic)
    if topic is None:
        raise PlanError(f"Topic {spec.topic} not found{did_you_mean(spec.topic, model.topics)}")
    return topic


def _base_view(model: SemanticModel, spec: QuerySpec, topic: Topic | None) -> str:
    if topic is not None:
        return topic.base_view
    if spec.table:
        if spec.table not in model.views:
            raise PlanError(f"No such view `{spec.table}`{did_you_mean(spec.table, model.views)}")
        return spec.table
    for name in spec.fields:
        ref = parse_field_name(name)
        if ref and ref.view in model.views:
            return ref.view
    raise PlanError("the query names no topic, no table and no known field")


def _filters(
    b: StatementBuilder, model: SemanticModel, spec: QuerySpec, topic: Topic | None
) -> tuple[list[exp.Expr], list[exp.Expr]]:
    given = {name for name, _ in spec.filters}
    filters = list(spec.filters)
    if topic is not None:
        filters += [(n, f) for n, f in topic.default_filters if n not in given]
        filters += list(topic.always_where_filters)
    where: list[exp.Expr] = []
    having: list[exp.Expr] = []
    for name, f in filters:
        full = name if "." in name else f"{b.base}.{name}"
        ref = parse_field_name(full)
        target = lookup(model, ref) if ref else None
        if ref is None or target is None or ref.view not in b.tree or not grain_ok(ref, target):
            if name in spec.optional_filters:
                continue  # ignore_if_unjoinable
            raise PlanError(unknown_field_message(model, name))
        if isinstance(target, Measure):
            x = b.measure(target)
            having.append(b.condition(x, f, name, measure_type(model, target).lower()))
            continue
        x = b.dimension(target, ref.grain)
        where.append(
            b.condition(
                x, f, name, field_type(target, ref.grain), compares_dates(target, ref.grain)
            )
        )
    if topic is not None and topic.always_where_sql:
        tpl = b.parsed(topic.always_where_sql)
        where.append(exp.paren(b.substitute(tpl, topic.base_view, allow_measures=False)))
    return where, having


def _order(
    query: exp.Select, sorts: tuple[SortSpec, ...], metas: list[FieldMeta], dialect: str
) -> exp.Select:
    by_name = {m.field_name: m for m in metas}
    if not sorts:
        sorts = _default_sort(metas)
    null_ordering = Dialect.get_or_raise(dialect).NULL_ORDERING
    order: list[exp.Ordered] = []
    for s in sorts:
        meta = by_name.get(s.column_name)
        if meta is None:
            raise PlanError(
                f'cannot sort by "{s.column_name}": it is not one of the query\'s fields'
                f"{did_you_mean(s.column_name, by_name)}"
            )
        if s.null_sort == "FIRST":
            nulls_first = True
        elif s.null_sort == "DIALECT_DEFAULT":
            nulls_first = _dialect_nulls_first(null_ordering, s.descending)
        else:  # LAST, OMNI_DEFAULT
            nulls_first = False
        order.append(
            exp.Ordered(this=exp.column(meta.alias), desc=s.descending, nulls_first=nulls_first)
        )
    return query.order_by(*order, copy=False)


def _dialect_nulls_first(null_ordering: str, descending: bool) -> bool:
    if null_ordering == "nulls_are_small":
        return not descending
    if null_ordering == "nulls_are_large":
        return descending
    return False  # nulls_are_last


def _default_sort(metas: list[FieldMeta]) -> tuple[SortSpec, ...]:
    """No sorts given: newest first by the first time dimension, else the first measure
    descending, else the first dimension ascending."""
    for m in metas:
        if m.is_dimension and m.data_type in ("DATE", "TIMESTAMP"):
            return (SortSpec(m.field_name, descending=True),)
    for m in metas:
        if not m.is_dimension:
            return (SortSpec(m.field_name, descending=True),)
    return (SortSpec(metas[0].field_name),)


def _limit(spec: QuerySpec, topic: Topic | None, options: CompileOptions) -> int | None:
    limit = spec.limit
    if not spec.limit_given and topic is not None and topic.default_row_limit:
        limit = topic.default_row_limit
    cap = options.max_rows
    if cap is not None and (limit is None or limit > cap):
        asked = "no limit" if limit is None else f"a limit of {limit}"
        raise PlanError(
            f"the query asks for {asked}, above this server's maximum of {cap} rows "
            "(server.max_rows); lower `limit`, or turn on server.high_limit"
        )
    return limit
