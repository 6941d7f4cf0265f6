"""Fan-out: measures of a view whose rows a one-to-many join repeats, counted once per row.

``check_fan_out`` finds the fanned views (or asks for a recount of the base view's plain counts
as COUNT(DISTINCT primary key), by raising ``Recount``); ``dedupe`` builds the two-level query
that counts each fanned row, or each distinct key, once.
"""

from __future__ import annotations

from sqlglot import exp

from sluice.compiler.builder import AGG_INPUT, StatementBuilder, when
from sluice.compiler.types import FieldMeta
from sluice.errors import PlanError

FAN_ALIAS = "_rows"  # the inner query of a fan-out-safe two-level query


class Recount(Exception):
    """The base view's plain counts must be recompiled as COUNT(DISTINCT primary key)."""


def check_fan_out(b: StatementBuilder, joined: list[str]) -> list[str]:
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
            raise Recount()
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


def dedupe(
    b: StatementBuilder,
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
        return when(exp.column(flag, FAN_ALIAS), ref) if flag else ref

    outer = [e.transform(lift, copy=False) for e in outer]
    having = [h.transform(lift, copy=False) for h in having]
    sub = rows.select(*inner, copy=False).subquery(FAN_ALIAS, copy=False)
    return exp.select(*outer, copy=False).from_(sub, copy=False), having
