"""Infer the data type of expression dimensions that do not declare one.

Each reference in the expression is replaced by a typed NULL (``CAST(NULL AS <type>)``) of the
referenced dimension's type, and sqlglot's type annotator types the whole expression. Dimensions
referring to other expression dimensions are typed in passes until nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types

from sluice.model.sql import Ref, TemplateError, placeholder_index, template
from sluice.model.types import BOOLEAN, DATE, NUMBER, STRING, TIMESTAMP, UNKNOWN, View

_SQL_TYPE = {
    STRING: exp.DataType.Type.VARCHAR,
    NUMBER: exp.DataType.Type.DOUBLE,
    TIMESTAMP: exp.DataType.Type.TIMESTAMP,
    DATE: exp.DataType.Type.DATE,
    BOOLEAN: exp.DataType.Type.BOOLEAN,
}


def data_type_of(dtype: exp.DataType | None) -> str:
    """The sluice data type of a sqlglot type."""
    if dtype is None:
        return UNKNOWN
    t = dtype.this
    if dtype.is_type(*exp.DataType.TEXT_TYPES):
        return STRING
    if dtype.is_type(*exp.DataType.NUMERIC_TYPES):
        return NUMBER
    if t == exp.DataType.Type.DATE:
        return DATE
    if dtype.is_type(*exp.DataType.TEMPORAL_TYPES):
        return TIMESTAMP
    if t == exp.DataType.Type.BOOLEAN:
        return BOOLEAN
    return UNKNOWN


def infer_dimension_types(view: View, views: Mapping[str, View], dialect: str) -> dict[str, str]:
    """Types for ``view``'s expression dimensions lacking one (name -> type)."""
    todo = [d for d in view.dimensions.values() if d.type == UNKNOWN and d.sql is not None]
    out: dict[str, str] = {}
    if not todo:
        return out  # nothing to infer: skip reading every view's types (many views, many calls)
    known = {(v.name, d.name): d.type for v in views.values() for d in v.dimensions.values()}
    for _ in range(len(todo) + 1):
        changed = False
        for dim in todo:
            if dim.name in out:
                continue
            assert dim.sql is not None
            try:
                parsed = template(dim.sql, dialect)
            except TemplateError:
                continue  # reported by reference checks

            def typed(node: exp.Expr, refs: tuple[Ref, ...] = parsed.refs) -> exp.Expr:
                index = placeholder_index(node)
                if index is None:
                    return node
                ref = refs[index].resolve(view.name)
                rtype = known.get((ref.view or view.name, ref.field), UNKNOWN)
                if rtype == UNKNOWN:
                    return exp.Null()
                return exp.Cast(this=exp.Null(), to=exp.DataType.build(_SQL_TYPE[rtype]))

            tree = parsed.expr.copy().transform(typed)
            result = data_type_of(annotate_types(tree, dialect=dialect).type)
            if result != UNKNOWN:
                out[dim.name] = result
                known[(view.name, dim.name)] = result
                changed = True
        if not changed:
            break
    return out
