"""The statement builder: one compilation's scratch state, and the SQL of each field.

``StatementBuilder`` turns the model's dimensions and measures into sqlglot expressions for one
query (its join tree, clock, grains, time zone and user attributes), recording which views and
user attributes the query uses. ``table_expr`` and ``join_expr`` give the FROM and JOIN clauses.
Field SQL is parsed once per (SQL, dialect) by ``sluice.model.sql.template``; nothing here is
cached on the model.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from sluice.compiler.conditions import ATOMIC, FilterContext, condition
from sluice.compiler.fields import compares_dates, field_type, lookup, parse_field_name
from sluice.compiler.grains import GrainContext, apply_grain
from sluice.compiler.joins import JoinTree
from sluice.errors import PlanError, Unsupported
from sluice.model.filters import Filter, UserAttributeFilter
from sluice.model.sql import Template, derived_query, placeholder_index, template
from sluice.model.types import Dimension, Measure, SemanticModel, View

AGG_INPUT = "sluice_agg_input"  # meta key on an aggregate's input: (fanned view, distinct key)


@dataclass
class StatementBuilder:
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

    def parsed(self, sql: str) -> Template:
        """Field SQL written in the model's dialect, parsed (once per value)."""
        return template(sql, self.model.dialect)

    def dimension(self, dim: Dimension, grain: str | None = None) -> exp.Expr:
        self.used.add(dim.view)
        if dim.sql is None:
            x: exp.Expr = exp.column(dim.name, table=dim.view)
        else:
            tpl = self.parsed(dim.sql)
            x = self.substitute(tpl, dim.view, allow_measures=False)
        if self.timezone and dim.convert_tz and dim.type == "timestamp":
            x = self.grains.rules.convert_tz(x, self.timezone)
        if dim.groups:
            return self._groups(dim, x)
        if dim.bin_boundaries:
            return bins(x, dim.bin_boundaries)
        if grain is None or grain == "raw":
            return x
        return apply_grain(x, grain, self.grains)[0]

    def _groups(self, dim: Dimension, x: exp.Expr) -> exp.Expr:
        """``groups``: the name of the first group whose filter the value passes, else ``else``
        (or the value itself, as text, when the dimension has no ``else``)."""
        ifs = [
            exp.If(this=self.condition(x, f, dim.qualified_name, "string"), true=text(name))
            for name, f in dim.groups
        ]
        default = (
            text(dim.group_else)
            if dim.group_else is not None
            else exp.cast(x.copy(), exp.DataType.Type.VARCHAR)
        )
        return exp.Case(ifs=ifs, default=default)

    def measure(self, m: Measure) -> exp.Expr:
        if m.aggregate_type is None:
            assert m.sql is not None
            tpl = self.parsed(m.sql)
            return wrap(self.substitute(tpl, m.view, allow_measures=True, only_measures=True))
        self.used.add(m.view)
        value: exp.Expr | None = None
        if m.sql is not None:
            tpl = self.parsed(m.sql)
            value = self.substitute(tpl, m.view, allow_measures=False)
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
                keys = self._input(when(cond, self.dimension(pk)))
                return exp.Count(this=exp.Distinct(expressions=[keys]))
            if value is None:
                if cond is None:
                    return exp.Count(this=exp.Star())
                return exp.Count(this=self._input(when(cond, exp.Literal.number(1))))
            return exp.Count(this=self._input(when(cond, value), m.view))
        if value is None:
            raise PlanError(f"measure `{m.qualified_name}` ({agg}) needs `sql`")
        value = when(cond, value)
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
            tpl = self.parsed(m.custom_primary_key_sql)
            flag = f"first_key{len(self.distinct_keys)}"
            self.distinct_keys[flag] = self.substitute(tpl, m.view, allow_measures=False)
            tagged = self._input(value, key=flag)
            return exp.Sum(this=tagged) if agg == "sum_distinct_on" else exp.Avg(this=tagged)
        raise Unsupported(f"aggregate_type `{agg}` (`{m.qualified_name}`) is not supported")

    def substitute(
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
            return wrap(self.dimension(dim, ref.grain))

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
            x, f, name, field_type(target, ref.grain), compares_dates(target, ref.grain)
        )


def text(value: str) -> exp.Expr:
    return exp.Literal.string(value)


def bins(x: exp.Expr, bounds: tuple[Decimal, ...]) -> exp.Expr:
    """``bin_boundaries: [21, 65]``: '< 21', '>= 21 and < 65', '65 and above'; NULL stays NULL."""
    x = wrap(x)
    labels = [format(b.normalize(), "f") for b in bounds]
    ifs = [exp.If(this=exp.Is(this=x.copy(), expression=exp.Null()), true=exp.Null())]
    ifs.append(exp.If(this=exp.LT(this=x.copy(), expression=exp.Literal.number(labels[0])),
                      true=text(f"< {labels[0]}")))  # fmt: skip
    for low, high in itertools.pairwise(labels):
        ifs.append(exp.If(this=exp.LT(this=x.copy(), expression=exp.Literal.number(high)),
                          true=text(f">= {low} and < {high}")))  # fmt: skip
    return exp.Case(ifs=ifs, default=text(f"{labels[-1]} and above"))


def wrap(x: exp.Expr) -> exp.Expr:
    """Parenthesize a substituted expression unless it is atomic (keeps precedence right)."""
    return x if isinstance(x, ATOMIC) else exp.paren(x)


def when(cond: exp.Expr | None, value: exp.Expr) -> exp.Expr:
    if cond is None:
        return value
    return exp.Case(ifs=[exp.If(this=cond.copy(), true=value)])


def table_expr(model: SemanticModel, view: View) -> exp.Expr:
    if view.sql is not None:  # a derived table, written in the model's dialect
        sub = derived_query(view.sql, model.dialect)
        alias = exp.TableAlias(this=exp.to_identifier(view.name))
        return exp.Subquery(this=sub.copy(), alias=alias)
    return exp.table_(view.table_name or view.name, db=view.schema, alias=view.name)


JOIN_KIND = {
    "always_left": {"side": "LEFT"},
    "inner": {"kind": "INNER"},
    "full_outer": {"side": "FULL", "kind": "OUTER"},
    "cross": {"kind": "CROSS"},
}


def join_expr(b: StatementBuilder, view: str) -> exp.Join:
    rel, _ = b.tree.rel[view]
    target = table_expr(b.model, b.model.views[view])
    parts = dict(JOIN_KIND[rel.join_type])
    on: exp.Expr | None = None
    if rel.on_sql and rel.join_type != "cross":
        tpl = b.parsed(rel.on_sql)
        on = b.substitute(tpl, rel.join_from_view, allow_measures=False)
    join = exp.Join(this=target, on=on, **{k: v for k, v in parts.items()})
    return join
