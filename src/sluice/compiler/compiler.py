"""QuerySpec + SemanticModel -> CompiledQuery.

The pipeline, each step a small function: resolve the topic and its join tree; resolve the
requested fields (unknown ones go to ``missing_fields``); build every field as a sqlglot
expression, recording the views it touches; turn filters into WHERE (dimensions) and HAVING
(measures) conditions; join exactly the views needed; check fan-out; add sorts, limit, offset;
render SQL for the dialect.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from sluice.compiler import dates
from sluice.compiler.conditions import _ATOMIC, FilterContext, condition
from sluice.compiler.dialects import rules
from sluice.compiler.grains import GRAINS, GrainContext, apply_grain
from sluice.compiler.joins import JoinTree, implicit_tree, topic_tree
from sluice.compiler.types import CompiledQuery, FieldMeta, FillRange, PostSpec
from sluice.errors import PlanError, Unsupported, did_you_mean
from sluice.model.filters import DateFilter, Filter, UserAttributeFilter
from sluice.model.loader import GRAINS as KNOWN_GRAINS
from sluice.model.sql import Template, parse_template, placeholder_index
from sluice.model.types import Dimension, Measure, SemanticModel, Topic, View
from sluice.query.spec import QuerySpec, SortSpec

AGG_INPUT = "sluice_agg_input"  # meta key on an aggregate's input: (fanned view, distinct key)
FAN_ALIAS = "_rows"  # the inner query of a fan-out-safe two-level query
FIELD_NAME = re.compile(r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)(?:\[\s*(\w+)\s*\])?$")


@dataclass(frozen=True, slots=True)
class CompileOptions:
    max_rows: int | None = None  # a limit above this (or no limit) is refused; None: no cap
    allow_raw_sql: bool = False  # may userEditedSQL run verbatim (rewriteSql: false)?


@dataclass(frozen=True, slots=True)
class FieldRef:
    requested: str
    view: str
    name: str
    grain: str | None


def parse_field_name(name: str) -> FieldRef | None:
    m = FIELD_NAME.match(name.strip())
    if m is None:
        return None
    grain = m.group(3).lower() if m.group(3) else None
    return FieldRef(name, m.group(1), m.group(2), grain)


@dataclass
class _Build:
    """Mutable scratch state of one compilation (never escapes ``compile_query``)."""

    model: SemanticModel
    tree: JoinTree
    base: str
    now: datetime
    grains: GrainContext
    timezone: str | None  # convert timestamps (convert_tz) from UTC to this zone
    user_attributes: Mapping[str, Any]
    distinct_counts: frozenset[str] = frozenset()  # views whose counts use COUNT(DISTINCT pk)
    used: set[str] = field(default_factory=set)
    used_attributes: set[str] = field(default_factory=set)
    distinct_keys: dict[str, exp.Expr] = field(default_factory=dict)  # flag -> key (distinct_on)
    fanned_measures: list[Measure] = field(default_factory=list)

    @property
    def week_start(self) -> str:
        return self.grains.week_start

    @property
    def filters(self) -> FilterContext:
        return FilterContext(
            self.now,
            self.week_start,
            self.grains.fiscal_month_offset,
            self.user_attributes,
            self._date_part,
        )

    def _date_part(self, x: exp.Expr, grain: str) -> exp.Expr:
        return apply_grain(x, grain, self.grains)[0]

    def condition(
        self, x: exp.Expr, f: Filter, name: str, field_type: str, is_date: bool = False
    ) -> exp.Expr:
        if isinstance(f, UserAttributeFilter):
            self.used_attributes.add(f.name)
        return condition(x, f, field=name, field_type=field_type, ctx=self.filters,
                         is_date=is_date)  # fmt: skip

    # -- field expressions ------------------------------------------------------------------------

    def template(self, kind: str, view: str, name: str, sql: str) -> Template:
        key = ("tpl", kind, view, name)
        found = self.model.cache.get(key)
        if found is None:
            found = parse_template(sql, self.model.dialect)
            self.model.cache[key] = found
        return found  # type: ignore[no-any-return]

    def dimension(self, dim: Dimension, grain: str | None = None) -> exp.Expr:
        self.used.add(dim.view)
        if dim.sql is None:
            x: exp.Expr = exp.column(dim.name, table=dim.view)
        else:
            tpl = self.template("dim", dim.view, dim.name, dim.sql)
            x = self._substitute(tpl, dim.view, allow_measures=False)
        if self.timezone and dim.convert_tz and dim.type == "timestamp":
            x = self.grains.rules.convert_tz(x, self.timezone)
        if dim.groups:
            return self._groups(dim, x)
        if dim.bin_boundaries:
            return _bins(x, dim.bin_boundaries)
        if grain is None or grain == "raw":
            return x
        return apply_grain(x, grain, self.grains)[0]

    def _groups(self, dim: Dimension, x: exp.Expr) -> exp.Expr:
        """``groups``: the name of the first group whose filter the value passes, else ``else``
        (or the value itself, as text, when the dimension has no ``else``)."""
        ifs = [
            exp.If(this=self.condition(x, f, dim.qualified_name, "string"), true=_text(name))
            for name, f in dim.groups
        ]
        default = (
            _text(dim.group_else)
            if dim.group_else is not None
            else exp.cast(x.copy(), exp.DataType.Type.VARCHAR)
        )
        return exp.Case(ifs=ifs, default=default)

    def measure(self, m: Measure) -> exp.Expr:
        if m.aggregate_type is None:
            assert m.sql is not None
            tpl = self.template("measure", m.view, m.name, m.sql)
            return _wrap(self._substitute(tpl, m.view, allow_measures=True, only_measures=True))
        self.used.add(m.view)
        value: exp.Expr | None = None
        if m.sql is not None:
            tpl = self.template("measure", m.view, m.name, m.sql)
            value = self._substitute(tpl, m.view, allow_measures=False)
        cond: exp.Expr | None = None
        if m.filters:
            parts = [self._filter_condition(name, f, m.view, context=m.qualified_name)
                     for name, f in m.filters]  # fmt: skip
            cond = exp.and_(*parts) if len(parts) > 1 else parts[0]
        return self._aggregate(m, value, cond)

    def _input(self, value: exp.Expr, view: str | None = None, key: str | None = None) -> exp.Expr:
        """Tag an aggregate's input: a two-level query lifts it into the inner query, and
        takes it once per fanned ``view`` row or per distinct ``key`` (a flag name)."""
        value.meta[AGG_INPUT] = (view, key)
        return value

    def _aggregate(self, m: Measure, value: exp.Expr | None, cond: exp.Expr | None) -> exp.Expr:
        agg = m.aggregate_type
        view = self.model.views[m.view]
        if agg in ("count", "sum", "average", "median", "percentile"):
            self.fanned_measures.append(m)
        if agg == "count":
            if value is None and (m.view != self.base or m.view in self.distinct_counts):
                pk = view.primary_key
                if pk is None:
                    raise PlanError(
                        f"cannot count `{m.qualified_name}` across a join: view `{m.view}` has no "
                        "primary_key dimension"
                    )
                keys = self._input(_when(cond, self.dimension(pk)))
                return exp.Count(this=exp.Distinct(expressions=[keys]))
            if value is None:
                if cond is None:
                    return exp.Count(this=exp.Star())
                return exp.Count(this=self._input(_when(cond, exp.Literal.number(1))))
            return exp.Count(this=self._input(_when(cond, value), m.view))
        if value is None:
            raise PlanError(f"measure `{m.qualified_name}` ({agg}) needs `sql`")
        value = _when(cond, value)
        rules = self.grains.rules
        if agg == "sum":
            return exp.Sum(this=self._input(value, m.view))
        if agg == "average":
            return exp.Avg(this=self._input(value, m.view))
        if agg == "count_distinct":
            return exp.Count(this=exp.Distinct(expressions=[self._input(value)]))
        if agg == "min":
            return exp.Min(this=self._input(value))
        if agg == "max":
            return exp.Max(this=self._input(value))
        if agg in ("median", "percentile"):
            fraction = 0.5 if agg == "median" else (m.percentile or 0) / 100
            build = rules.need(rules.percentile, f"aggregate_type {agg} (`{m.qualified_name}`)")
            return build(self._input(value, m.view), fraction)
        if agg == "list":
            build = rules.need(rules.list_agg, f"aggregate_type list (`{m.qualified_name}`)")
            return build(self._input(value))
        if agg in ("sum_distinct_on", "average_distinct_on"):
            assert m.custom_primary_key_sql is not None
            tpl = self.template("key", m.view, m.name, m.custom_primary_key_sql)
            flag = f"first_key{len(self.distinct_keys)}"
            self.distinct_keys[flag] = self._substitute(tpl, m.view, allow_measures=False)
            tagged = self._input(value, key=flag)
            return exp.Sum(this=tagged) if agg == "sum_distinct_on" else exp.Avg(this=tagged)
        raise Unsupported(f"aggregate_type `{agg}` (`{m.qualified_name}`) is not supported")

    def _substitute(
        self, tpl: Template, view: str, *, allow_measures: bool, only_measures: bool = False
    ) -> exp.Expr:
        refs = tpl.refs

        def swap(node: exp.Expr) -> exp.Expr:
            index = placeholder_index(node)
            if index is None:
                return node
            ref = refs[index].resolve(view)
            target = self.model.views.get(ref.view or view)
            if target is None:
                raise PlanError(f"{refs[index]} in `{view}` names an unknown view")
            if ref.field in target.measures:
                if not allow_measures:
                    raise PlanError(f"{refs[index]} in `{view}` is a measure inside an aggregate")
                return self.measure(target.measures[ref.field])
            dim = target.dimensions.get(ref.field) or target.filter_fields.get(ref.field)
            if dim is None:
                raise PlanError(f"{refs[index]} in `{view}` names no field")
            if only_measures:
                raise PlanError(
                    f"measure built from measures in `{view}` refers to the dimension "
                    f"{refs[index]}; give it an aggregate_type or refer only to measures"
                )
            if ref.view != view or dim.view not in self.tree:
                self._require_joinable(dim.view, f"{refs[index]}")
            return _wrap(self.dimension(dim, ref.grain))

        return tpl.expr.transform(swap)

    def _require_joinable(self, view: str, what: str) -> None:
        if view not in self.tree:
            raise PlanError(f"{what} needs view `{view}`, which this query cannot join")

    # -- filters ----------------------------------------------------------------------------------

    def _filter_condition(
        self, name: str, f: Filter, default_view: str, *, context: str
    ) -> exp.Expr:
        ref = parse_field_name(name if "." in name else f"{default_view}.{name}")
        target = lookup(self.model, ref) if ref else None
        if ref is None or not isinstance(target, Dimension):
            raise PlanError(f"{context}: filter on unknown dimension `{name}`")
        self._require_joinable(target.view, f"{context} filter on `{name}`")
        x = self.dimension(target, ref.grain)
        return self.condition(
            x, f, name, _field_type(target, ref.grain), _compares_dates(target, ref.grain)
        )


def _text(value: str) -> exp.Expr:
    return exp.Literal.string(value)


def _bins(x: exp.Expr, bounds: tuple[Decimal, ...]) -> exp.Expr:
    """``bin_boundaries: [21, 65]``: '< 21', '>= 21 and < 65', '65 and above'; NULL stays NULL."""
    x = _wrap(x)
    text = [format(b.normalize(), "f") for b in bounds]
    ifs = [exp.If(this=exp.Is(this=x.copy(), expression=exp.Null()), true=exp.Null())]
    ifs.append(exp.If(this=exp.LT(this=x.copy(), expression=exp.Literal.number(text[0])),
                      true=_text(f"< {text[0]}")))  # fmt: skip
    for low, high in itertools.pairwise(text):
        ifs.append(exp.If(this=exp.LT(this=x.copy(), expression=exp.Literal.number(high)),
                          true=_text(f">= {low} and < {high}")))  # fmt: skip
    return exp.Case(ifs=ifs, default=_text(f"{text[-1]} and above"))


def _wrap(x: exp.Expr) -> exp.Expr:
    """Parenthesize a substituted expression unless it is atomic (keeps precedence right)."""
    return x if isinstance(x, _ATOMIC) else exp.paren(x)


def _when(cond: exp.Expr | None, value: exp.Expr) -> exp.Expr:
    if cond is None:
        return value
    return exp.Case(ifs=[exp.If(this=cond.copy(), true=value)])


def lookup(model: SemanticModel, ref: FieldRef) -> Dimension | Measure | None:
    view = model.views.get(ref.view)
    if view is None:
        return None
    return (
        view.dimensions.get(ref.name)
        or view.measures.get(ref.name)
        or view.filter_fields.get(ref.name)
    )


def _unknown_field_message(model: SemanticModel, name: str) -> str:
    names = [f"{v.name}.{f}" for v in model.views.values() for f in v.field_names()]
    return f'No such field "{name}"{did_you_mean(name.split("[")[0], names)}'


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
    """Compile ``spec`` against ``model`` to SQL for ``dialect`` (default: the model's)."""
    dialect = dialect or model.dialect
    options = options or CompileOptions()
    clock = _local_now(now or datetime.now(UTC), timezone)
    topic = _topic(model, spec)
    grains = GrainContext(model.week_start_day, model.fiscal_month_offset, rules(dialect))
    attributes = user_attributes or {}
    if spec.user_edited_sql.strip():
        from sluice.compiler import sqlmode

        _limit(spec, topic, options)  # the same row cap as semantic queries
        if not spec.rewrite_sql:
            return sqlmode.raw(model, spec, dialect, options)

        def new_build(tree: JoinTree, base: str, distinct: frozenset[str]) -> _Build:
            return _Build(model, tree, base, clock, grains, timezone, attributes, distinct)

        return sqlmode.rewrite(model, spec, new_build, dialect)
    base = _base_view(model, spec, topic)
    tree = topic_tree(model, topic) if topic else implicit_tree(model, base)
    try:
        b = _Build(model, tree, base, clock, grains, timezone, attributes)
        compiled = _compile(model, spec, dialect, options, topic, b)
    except _Recount:
        # A count of the base view is fanned out by a join: count distinct primary keys.
        b = _Build(model, tree, base, clock, grains, timezone, attributes, frozenset({base}))
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
        return compile_query(model, totals_spec, dialect=dialect, now=now, timezone=timezone,
                             user_attributes=user_attributes,
                             options=dataclasses.replace(options, max_rows=None))  # fmt: skip

    return dataclasses.replace(compiled, post=_post(compiled, spec, b, again))


class _Recount(Exception):
    """The base view's plain counts must be recompiled as COUNT(DISTINCT primary key)."""


def _compile(
    model: SemanticModel,
    spec: QuerySpec,
    dialect: str,
    options: CompileOptions,
    topic: Topic | None,
    b: _Build,
) -> CompiledQuery:
    base, tree = b.base, b.tree

    selected, missing = _resolve_fields(model, spec, tree, topic)
    columns: list[exp.Expr] = []
    metas: list[FieldMeta] = []
    aliases = _aliases([ref.requested for ref, _ in selected])
    for (ref, target), alias in zip(selected, aliases, strict=True):
        x = b.dimension(target, ref.grain) if isinstance(target, Dimension) else b.measure(target)
        columns.append(exp.alias_(x, alias, quoted=False))
        metas.append(field_meta_for(model, ref, target, alias))

    where, having = _filters(b, model, spec, topic)
    joined = tree.closure(b.used | {base})
    fanned = _check_fan_out(b, joined)

    rows = exp.select(copy=False).from_(_table(model, model.views[base]), copy=False)
    for view in joined[1:]:
        rows = rows.join(_join(b, view), copy=False)
    if where:
        rows = rows.where(exp.and_(*where, copy=False), copy=False)
    if fanned or b.distinct_keys:
        query, having = _dedupe(b, rows, columns, metas, having, fanned)
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
    compiled: CompiledQuery, spec: QuerySpec, b: _Build, again: Callable[..., CompiledQuery]
) -> PostSpec:
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
    return PostSpec(
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


FILL_GRAINS = ("date", "week", "month", "quarter", "year")


def _fill_ranges(spec: QuerySpec, b: _Build, dims: tuple[str, ...]) -> list[FillRange]:
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
        out.append(FillRange(name, ref.grain, start, end))
    return out


def field_meta(model: SemanticModel, name: str) -> FieldMeta:
    """Metadata of one field by name (``view.field`` or ``view.field[grain]``), for catalogs."""
    ref = parse_field_name(name)
    target = lookup(model, ref) if ref else None
    if ref is None or target is None:
        raise PlanError(_unknown_field_message(model, name))
    return field_meta_for(model, ref, target, _aliases([name])[0])


def field_meta_for(
    model: SemanticModel, ref: FieldRef, target: Dimension | Measure, alias: str
) -> FieldMeta:
    if isinstance(target, Dimension):
        data_type = target.type.upper()
        label = target.label
        if ref.grain and ref.grain != "raw":
            data_type = GRAINS[ref.grain].data_type if ref.grain in GRAINS else data_type
            label = f"{label} {ref.grain.replace('_', ' ').title()}"
        return FieldMeta(
            field_name=ref.requested,
            view_name=target.view,
            name=target.name,
            grain=ref.grain,
            label=label,
            data_type=data_type,
            is_dimension=True,
            aggregate_type=None,
            format=target.format,
            hidden=target.hidden,
            description=target.description,
            alias=alias,
        )
    return FieldMeta(
        field_name=ref.requested,
        view_name=target.view,
        name=target.name,
        grain=None,
        label=target.label,
        data_type=_measure_type(model, target),
        is_dimension=False,
        aggregate_type=target.aggregate_type,
        format=target.format,
        hidden=target.hidden,
        description=target.description,
        alias=alias,
    )


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


def in_topic(topic: Topic | None, ref: FieldRef) -> bool:
    """Does the topic's field curation (``view.*``, ``-view.field``) admit this field?"""
    if topic is None or not topic.fields:
        return True
    allowed = False
    for pattern in topic.fields:
        negative = pattern.startswith("-")
        body = pattern[1:] if negative else pattern
        view, _, name = body.partition(".")
        if view in (ref.view, "all_views") and name in ("*", ref.name):
            allowed = not negative
    return allowed


def _resolve_fields(
    model: SemanticModel, spec: QuerySpec, tree: JoinTree, topic: Topic | None
) -> tuple[list[tuple[FieldRef, Dimension | Measure]], list[str]]:
    selected: list[tuple[FieldRef, Dimension | Measure]] = []
    missing: list[str] = []
    seen: set[str] = set()
    for name in spec.fields:
        if name in spec.calc_names:
            continue  # a table calculation's column, computed after the query
        ref = parse_field_name(name)
        target = lookup(model, ref) if ref else None
        ok = (
            ref is not None
            and target is not None
            and ref.view in tree
            and in_topic(topic, ref)
            and _grain_ok(ref, target)
        )
        if not ok or name in seen:
            if not ok:
                missing.append(name)
            continue
        assert ref is not None and target is not None
        seen.add(name)
        selected.append((ref, target))
    if not selected:
        detail = ", ".join(f'"{m}"' for m in missing) if missing else "none were given"
        hint = _unknown_field_message(model, missing[0]) if missing else ""
        raise PlanError(f"the query has no valid fields ({detail}). {hint}".strip())
    return selected, missing


def missing_field_warning(
    model: SemanticModel, name: str, tree: JoinTree, topic: Topic | None
) -> str:
    """Why a requested field was left out, with a close name of the same kind when there is one.

    Grains are suggested from grains, views from views and fields from the fields of the view.
    """
    ref = parse_field_name(name)
    lead = f'left out "{name}"'
    if ref is None:
        return f"{lead}: not a field name (view.field or view.field[grain])"
    view = model.views.get(ref.view)
    if view is None:
        return f"{lead}: no view `{ref.view}`{did_you_mean(ref.view, model.views)}"
    target = lookup(model, ref)
    if target is None:
        hint = did_you_mean(ref.name, view.field_names())
        return f"{lead}: view `{ref.view}` has no field `{ref.name}`{hint}"
    if ref.grain is not None and not _grain_ok(ref, target):
        if not isinstance(target, Dimension) or not target.is_time:
            return f"{lead}: `{ref.view}.{ref.name}` is not a time field and takes no grain"
        return f"{lead}: unknown grain `{ref.grain}`{did_you_mean(ref.grain, sorted(KNOWN_GRAINS))}"
    if ref.view not in tree:
        where = f"topic `{topic.name}`" if topic is not None else f"`{tree.base}`"
        return f"{lead}: view `{ref.view}` cannot be joined from {where}"
    if not in_topic(topic, ref):
        return f"{lead}: not in topic `{topic.name if topic else ''}`"
    return lead


def _grain_ok(ref: FieldRef, target: Dimension | Measure) -> bool:
    if ref.grain is None:
        return True
    if not isinstance(target, Dimension) or not target.is_time:
        return False
    return ref.grain in KNOWN_GRAINS


def _filters(
    b: _Build, model: SemanticModel, spec: QuerySpec, topic: Topic | None
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
        if ref is None or target is None or ref.view not in b.tree or not _grain_ok(ref, target):
            if name in spec.optional_filters:
                continue  # ignore_if_unjoinable
            raise PlanError(_unknown_field_message(model, name))
        if isinstance(target, Measure):
            x = b.measure(target)
            having.append(b.condition(x, f, name, _measure_type(model, target).lower()))
            continue
        x = b.dimension(target, ref.grain)
        where.append(
            b.condition(
                x, f, name, _field_type(target, ref.grain), _compares_dates(target, ref.grain)
            )
        )
    if topic is not None and topic.always_where_sql:
        tpl = b.template("topic", topic.name, "always_where_sql", topic.always_where_sql)
        where.append(exp.paren(b._substitute(tpl, topic.base_view, allow_measures=False)))
    return where, having


def _field_type(dim: Dimension, grain: str | None) -> str:
    """The type a filter on ``dim[grain]`` compares against."""
    if grain in (None, "raw") or grain not in GRAINS:
        return dim.type
    return GRAINS[grain].data_type.lower()


def _compares_dates(dim: Dimension, grain: str | None) -> bool:
    """Do date filters on this field compare with DATE (not TIMESTAMP) literals?"""
    if grain in (None, "raw"):
        return dim.type == "date"
    return grain in GRAINS and GRAINS[grain].data_type == "DATE"


def _check_fan_out(b: _Build, joined: list[str]) -> list[str]:
    """The views whose rows joins repeat and whose sums/averages must count each row once."""
    fanned: list[str] = []
    for m in b.fanned_measures:
        if not b.tree.fans_out(m.view, joined):
            continue
        plain_count = m.aggregate_type == "count" and m.sql is None
        if plain_count and (m.view != b.base or m.view in b.distinct_counts):
            continue  # counted as COUNT(DISTINCT primary key): exact under fan-out
        has_pk = b.model.views[m.view].primary_key is not None
        if plain_count and has_pk:
            raise _Recount()
        if not has_pk:
            others = [v for v in joined if v != m.view]
            raise PlanError(
                f"`{m.qualified_name}` ({m.aggregate_type}) would be inflated: joining "
                f"{', '.join(f'`{v}`' for v in others)} repeats rows of `{m.view}` (fan-out), "
                f"and `{m.view}` has no primary_key to count each row once. Declare its "
                "primary key, or query it without the views joined one-to-many"
            )
        if m.view not in fanned:
            fanned.append(m.view)
    return fanned


def _dedupe(
    b: _Build,
    rows: exp.Select,
    columns: list[exp.Expr],
    metas: list[FieldMeta],
    having: list[exp.Expr],
    fanned: list[str],
) -> tuple[exp.Select, list[exp.Expr]]:
    """A two-level query that counts each row of a fanned view (or each distinct key) once.

    The inner query (``_rows``) keeps the joined, filtered rows and computes each dimension,
    each aggregate's input and, per fanned view (its primary key) or ``*_distinct_on`` measure
    (its ``custom_primary_key_sql``), a flag marking the first row of each (group, key). The
    outer query aggregates, and an input tagged with a flag only counts flagged rows. Exact for
    any value type, and portable to every dialect with window functions.
    """
    inner: list[exp.Expr] = []
    dims: list[exp.Expr] = []
    outer: list[exp.Expr] = []
    for expr, meta in zip(columns, metas, strict=True):
        value = expr.this if isinstance(expr, exp.Alias) else expr
        if meta.is_dimension:
            name = f"d{len(dims)}"
            dims.append(value)
            inner.append(exp.alias_(value.copy(), name, quoted=False))
            outer.append(exp.alias_(exp.column(name, FAN_ALIAS), meta.alias, quoted=False))
        else:
            outer.append(expr)
    keys: dict[str, exp.Expr] = {}
    for view in fanned:
        pk = b.model.views[view].primary_key
        assert pk is not None
        keys[f"first_{view}"] = b.dimension(pk)
    keys.update(b.distinct_keys)
    for flag, key in keys.items():
        window = exp.Window(
            this=exp.RowNumber(),
            partition_by=[d.copy() for d in dims] + [key.copy()],
            order=exp.Order(expressions=[exp.Ordered(this=key.copy())]),
        )
        first = exp.EQ(this=window, expression=exp.Literal.number(1))
        inner.append(exp.alias_(first, flag, quoted=False))
    lifted: dict[exp.Expr, str] = {}  # aggregate input -> its inner column (one per input)

    def lift(node: exp.Expr) -> exp.Expr:
        tag = node.meta.get(AGG_INPUT)
        if tag is None:
            return node
        view, key = tag
        name = lifted.get(node)
        if name is None:
            name = lifted[node] = f"v{len(lifted)}"
            inner.append(exp.alias_(node.copy(), name, quoted=False))
        ref: exp.Expr = exp.column(name, FAN_ALIAS)
        flag = key or (f"first_{view}" if view in fanned else None)
        return _when(exp.column(flag, FAN_ALIAS), ref) if flag else ref

    outer = [e.transform(lift, copy=False) for e in outer]
    having = [h.transform(lift, copy=False) for h in having]
    sub = rows.select(*inner, copy=False).subquery(FAN_ALIAS, copy=False)
    return exp.select(*outer, copy=False).from_(sub, copy=False), having


def _table(model: SemanticModel, view: View) -> exp.Expr:
    if view.sql is not None:  # a derived table, written in the model's dialect
        key = ("derived", view.name)
        sub = model.cache.get(key)
        if sub is None:
            sub = model.cache[key] = sqlglot.parse_one(view.sql, dialect=model.dialect)
        alias = exp.TableAlias(this=exp.to_identifier(view.name))
        return exp.Subquery(this=sub.copy(), alias=alias)
    return exp.table_(view.table_name or view.name, db=view.schema, alias=view.name)


_JOIN_KIND = {
    "always_left": {"side": "LEFT"},
    "inner": {"kind": "INNER"},
    "full_outer": {"side": "FULL", "kind": "OUTER"},
    "cross": {"kind": "CROSS"},
}


def _join(b: _Build, view: str) -> exp.Join:
    rel, _ = b.tree.rel[view]
    target = _table(b.model, b.model.views[view])
    parts = dict(_JOIN_KIND[rel.join_type])
    on: exp.Expr | None = None
    if rel.on_sql and rel.join_type != "cross":
        tpl = b.template("join", rel.join_from_view, rel.join_to_view, rel.on_sql)
        on = b._substitute(tpl, rel.join_from_view, allow_measures=False)
    join = exp.Join(this=target, on=on, **{k: v for k, v in parts.items()})
    return join


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


def _measure_type(model: SemanticModel, m: Measure) -> str:
    if m.aggregate_type == "list":
        return "STRING"
    if m.aggregate_type in ("min", "max") and m.sql:
        inner = m.sql.strip()
        match = re.fullmatch(r"\$\{\s*(?:(\w+)\.)?(\w+)\s*\}", inner)
        if match:
            view = model.views.get(match.group(1) or m.view)
            dim = view.dimensions.get(match.group(2)) if view else None
            if dim is not None:
                return dim.type.upper()
    return "NUMBER"


def _aliases(names: list[str]) -> list[str]:
    """Short SQL-safe column aliases, unique within the query."""
    out: list[str] = []
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "f"
        if base[0].isdigit():
            base = "f_" + base
        if len(base) > 55:
            base = base[:46] + "_" + hashlib.sha1(name.encode()).hexdigest()[:8]
        alias, n = base, 2
        while alias in used:
            alias, n = f"{base}_{n}", n + 1
        used.add(alias)
        out.append(alias)
    return out
