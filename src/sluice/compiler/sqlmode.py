"""SQL mode: ``userEditedSQL``.

* ``rewriteSql: false`` runs the SQL verbatim, for users (and keys) allowed raw SQL only.
* Otherwise the SQL is semantic: ``${view.field}`` and ``${view.measure}`` become the model's
  expressions, and ``${topic}`` (or ``${view}``) in FROM becomes the base view joined to exactly
  the views the statement uses, along the topic's join tree. The statement is parsed and
  rendered by sqlglot for the connection's dialect. A bare ``${view.field}`` in a SELECT list
  keeps the field's name as its column name (``"users.state"``), so clients read it as they
  read a semantic result; other columns keep the names the SQL gives them.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from sluice.compiler.builder import StatementBuilder, join_expr, table_expr
from sluice.compiler.fanout import Recount, check_fan_out
from sluice.compiler.fields import FieldRef, field_meta_for, lookup
from sluice.compiler.joins import JoinTree, implicit_tree, topic_tree
from sluice.compiler.sandbox import check_raw, check_semantic
from sluice.compiler.types import CompiledQuery, CompileOptions, FieldMeta
from sluice.errors import Forbidden, PlanError, SqlNotAllowed, did_you_mean
from sluice.model.sql import Ref, TemplateError, parse_template, placeholder_index
from sluice.model.types import Dimension, Measure, SemanticModel
from sluice.query.spec import QuerySpec

NewBuild = Callable[
    [JoinTree, str, frozenset[str]], StatementBuilder
]  # (tree, base, distinct counts)


def raw(
    model: SemanticModel, spec: QuerySpec, dialect: str, options: CompileOptions
) -> CompiledQuery:
    """``rewriteSql: false``: the statement as written, once the parsed statement shows it is
    one read-only query (``sluice.compiler.sandbox``)."""
    if not options.allow_raw_sql:
        raise Forbidden(
            "raw SQL (userEditedSQL with rewriteSql: false) is not allowed for this user; ask "
            "an administrator for the raw-SQL permission, or leave rewriteSql on"
        )
    text = spec.user_edited_sql.strip().rstrip(";").strip()
    try:
        statements = sqlglot.parse(text, dialect=dialect)
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PlanError(f"userEditedSQL cannot be parsed: {first[:300]}") from None
    except RecursionError:
        raise PlanError("userEditedSQL is nested too deeply") from None
    check_raw(list(statements))
    return CompiledQuery(
        sql=text,
        dialect=dialect,
        fields=(),
        missing_fields=(),
        model_version=model.version,
        base_view="",
        topic=None,
        limit=spec.limit,
        sql_mode=True,
    )


def rewrite(
    model: SemanticModel, spec: QuerySpec, new_build: NewBuild, dialect: str
) -> CompiledQuery:
    """Resolve a semantic SQL statement's references against the model."""
    text = spec.user_edited_sql.strip().rstrip(";").strip()
    try:
        template = parse_template(text, model.dialect)
    except TemplateError as exc:
        raise PlanError(f"userEditedSQL: {exc}") from None
    if not isinstance(template.expr, exp.Query):
        raise SqlNotAllowed("userEditedSQL must be one SELECT statement")
    refs = template.refs
    relation = _relation(model, spec, template.expr, refs)
    topic = model.topics.get(relation)
    base = topic.base_view if topic else relation
    tree = topic_tree(model, topic) if topic else implicit_tree(model, base)
    check_semantic(template.expr, _topic_tables(model, tree), _placeholder_tables(template.expr))
    try:
        b = new_build(tree, base, frozenset())
        resolved, metas = _resolve(model, template.expr.copy(), refs, b, relation)
    except Recount:  # a plain count of the base view is fanned out: count distinct keys
        b = new_build(tree, base, frozenset({base}))
        resolved, metas = _resolve(model, template.expr.copy(), refs, b, relation)
    return CompiledQuery(
        sql=resolved.sql(dialect=dialect, pretty=True),
        dialect=dialect,
        fields=metas,
        missing_fields=(),
        model_version=model.version,
        base_view=base,
        topic=topic.name if topic else None,
        limit=spec.limit,
        sql_mode=True,
    )


def _resolve(
    model: SemanticModel, root: exp.Expr, refs: tuple[Ref, ...], b: StatementBuilder, relation: str
) -> tuple[exp.Expr, tuple[FieldMeta, ...]]:
    """Substitute the references and join the views they use; the resolved statement and the
    metadata of its bare-field columns."""
    tree, base = b.tree, b.base

    named = _name_bare_fields(root, refs, model)  # before substitution: which items are bare

    def swap(node: exp.Expr) -> exp.Expr:
        index = placeholder_index(node)
        if index is None:
            return node
        ref = refs[index]
        if ref.view is None:
            raise PlanError(
                f"userEditedSQL: {ref} is not a field; write ${{view.field}}, and "
                f"${{{ref.field}}} only in FROM"
            )
        target = _target(model, ref)
        if ref.view not in tree:
            raise PlanError(f"userEditedSQL: {ref} needs view `{ref.view}`, which cannot be joined")
        if isinstance(target, Dimension):
            x = b.dimension(target, ref.grain.lower() if ref.grain else None)
        else:
            x = b.measure(target)
        return x if isinstance(x, exp.Column | exp.Func) else exp.paren(x)

    resolved = root.transform(swap, copy=False)
    for table in list(resolved.find_all(exp.Table)):
        if _table_placeholder(table) is None:
            continue
        select = table.find_ancestor(exp.Select)
        if select is None or table.find_ancestor(exp.From, exp.Join) is None:
            raise PlanError(f"userEditedSQL: ${{{relation}}} must be in a FROM clause")
        table.replace(table_expr(model, model.views[base]))
        joined = tree.closure(b.used | {base})
        if check_fan_out(b, joined) or b.distinct_keys:
            raise PlanError(
                "userEditedSQL: a measure would be inflated by a one-to-many join (fan-out), "
                "and SQL mode cannot count each row once; use a semantic query instead"
            )
        joins = [join_expr(b, v) for v in joined[1:]]
        select.set("joins", joins + list(select.args.get("joins") or []))
    metas = tuple(field_meta_for(model, ref, target, ref.requested) for ref, target in named)
    return resolved, metas


def _target(model: SemanticModel, ref: Ref) -> Dimension | Measure:
    found = lookup(model, FieldRef(str(ref), ref.view or "", ref.field, ref.grain))
    if found is None:
        names = [f"{v.name}.{f}" for v in model.views.values() for f in v.field_names()]
        wanted = f"{ref.view}.{ref.field}"
        raise PlanError(f"userEditedSQL: no field {ref}{did_you_mean(wanted, names)}")
    return found


def _relation(model: SemanticModel, spec: QuerySpec, root: exp.Expr, refs: tuple[Ref, ...]) -> str:
    """The topic or view a ``${name}`` in FROM names."""
    names = {
        refs[i].field for t in root.find_all(exp.Table) if (i := _table_placeholder(t)) is not None
    }
    if len(names) > 1:
        raise PlanError(f"userEditedSQL names more than one topic or view: {sorted(names)}")
    if not names:
        if any(r.view is not None for r in refs):
            raise PlanError(
                "userEditedSQL uses ${view.field} references but no ${topic} in FROM: write "
                "FROM ${<topic>} so sluice can join the views they need"
            )
        return spec.topic or spec.table or next(iter(model.topics), "")
    name = names.pop()
    if name not in model.topics and name not in model.views:
        candidates = [*model.topics, *model.views]
        raise PlanError(f"userEditedSQL: no topic or view `{name}`{did_you_mean(name, candidates)}")
    return name


def _topic_tables(model: SemanticModel, tree: JoinTree) -> frozenset[str]:
    """The tables a semantic statement may name directly: those of the topic's views."""
    names: set[str] = set()
    for name in tree.order:
        view = model.views.get(name)
        if view is None or view.sql is not None:
            continue
        table = (view.table_name or view.name).lower()
        names.add(f"{view.schema.lower()}.{table}" if view.schema else table)
        if not view.schema:
            names.add(table)
    return frozenset(names)


def _placeholder_tables(root: exp.Expr) -> frozenset[int]:
    return frozenset(id(t) for t in root.find_all(exp.Table) if _table_placeholder(t) is not None)


def _table_placeholder(table: exp.Table) -> int | None:
    if table.args.get("db") or table.args.get("catalog") or table.args.get("alias"):
        return None
    return placeholder_index(exp.column(table.name))


def _name_bare_fields(
    root: exp.Expr, refs: tuple[Ref, ...], model: SemanticModel
) -> list[tuple[FieldRef, Dimension | Measure]]:
    """Alias each bare ``${view.field}`` SELECT item with the field's name; return them."""
    named: list[tuple[FieldRef, Dimension | Measure]] = []
    outer = root if isinstance(root, exp.Select) else None
    for select in root.find_all(exp.Select):
        items = []
        for item in select.expressions:
            index = placeholder_index(item)
            if index is not None and refs[index].view is not None:
                ref = refs[index]
                name = f"{ref.view}.{ref.field}" + (f"[{ref.grain}]" if ref.grain else "")
                item = exp.alias_(item, name, quoted=True)
                if select is outer:
                    named.append(
                        (FieldRef(name, ref.view or "", ref.field, ref.grain), _target(model, ref))
                    )
            items.append(item)
        select.set("expressions", items)
    return named


__all__ = ["FieldMeta", "raw", "rewrite"]
