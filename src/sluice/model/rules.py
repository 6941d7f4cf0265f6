"""Validation rules over the parsed model: each a small function that yields the issues it
finds, run in order by ``check_rules``.

A view rule looks at one view (and may read the others); a model rule at the whole model.
Every view rule runs on a view before the next view is looked at, then the model rules run,
so issues come out view by view, in the order of the files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from sluice.errors import ModelIssue, did_you_mean
from sluice.model.parse import ParsedModel
from sluice.model.sql import Ref, TemplateError, find_refs, template
from sluice.model.types import UNKNOWN, Dimension, Loc, Measure, View

ViewRule = Callable[[View, ParsedModel], Iterator[ModelIssue]]
ModelRule = Callable[[ParsedModel], Iterator[ModelIssue]]


def _error(loc: Loc, message: str) -> ModelIssue:
    return ModelIssue(loc.file, loc.line, message)


def _warning(loc: Loc, message: str) -> ModelIssue:
    return ModelIssue(loc.file, loc.line, message, "warning")


# -- references -----------------------------------------------------------------------------------


def _check_ref(
    ref: Ref,
    view: str,
    loc: Loc,
    where: str,
    views: Mapping[str, View],
    measures_ok: bool = True,
) -> Iterator[ModelIssue]:
    """``ref``, written in ``view``, must name a field of a view (a dimension unless
    ``measures_ok``)."""
    target = ref.resolve(view)
    tview = views.get(target.view or "")
    if tview is None:
        yield _error(
            loc,
            f"{where}: {ref} names an unknown view `{target.view}`"
            f"{did_you_mean(str(target.view), views)}",
        )
        return
    if target.field in tview.dimensions or target.field in tview.filter_fields:
        return
    if target.field in tview.measures:
        if not measures_ok:
            yield _error(loc, f"{where}: {ref} is a measure; only dimensions are allowed here")
        return
    # Suggest from the view's own fields, never the field being defined (``where`` names it): a
    # field cannot refer to itself.
    own = [f for f in tview.field_names() if where != f"`{target.view}.{f}`"]
    hint = did_you_mean(str(target.field), own)
    yield _error(loc, f"{where}: {ref} names no field of `{target.view}`{hint}")


def _check_sql(
    sql: str | None, view: str, loc: Loc, where: str, model: ParsedModel, measures_ok: bool
) -> Iterator[ModelIssue]:
    """``sql`` must be a valid template whose references all name fields."""
    if sql is None:
        return
    try:
        template(sql, model.dialect)
    except TemplateError as exc:
        yield _error(loc, f"{where}: {exc}")
        return
    for ref in find_refs(sql):
        yield from _check_ref(ref, view, loc, where, model.views, measures_ok)


def _field_ref(name: str) -> Ref:
    """A field as a filter names it: ``view.field`` or ``field``, maybe with ``[grain]``."""
    grain = None
    if name.endswith("]") and "[" in name:
        name, grain = name[:-1].split("[", 1)
    view, _, fname = name.rpartition(".")
    return Ref(view or None, fname, grain)


def field_references(view: View, model: ParsedModel) -> Iterator[ModelIssue]:
    """The SQL of the view's dimensions, filter-only fields and measures, and the fields its
    measures filter on, name fields that exist (dimensions only, but in a measure's SQL)."""
    for dim in (*view.dimensions.values(), *view.filter_fields.values()):
        where = f"`{dim.qualified_name}`"
        yield from _check_sql(dim.sql, view.name, dim.loc, where, model, measures_ok=False)
    for m in view.measures.values():
        where = f"`{m.qualified_name}`"
        yield from _check_sql(m.sql, view.name, m.loc, where, model, measures_ok=True)
        for fname, _ in m.filters:
            yield from _check_ref(
                _field_ref(fname), view.name, m.loc, f"{where} filter", model.views, False
            )


def reference_cycles(view: View, model: ParsedModel) -> Iterator[ModelIssue]:
    """No field's SQL refers back to itself, directly or through others."""

    def deps(view_name: str, field_name: str) -> list[tuple[str, str]]:
        v = model.views.get(view_name)
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
                    yield _error(field_obj.loc, f"reference cycle: {chain}")
                    stack.clear()
                    break
                if dep not in seen:
                    seen.add(dep)
                    stack.append((*dep, (*path, dep)))


def relationship_references(model: ParsedModel) -> Iterator[ModelIssue]:
    """Each relationship's ``on_sql`` names dimensions that exist."""
    for rel in model.relationships:
        where = f"relationship {rel.join_from_view} -> {rel.join_to_view}"
        yield from _check_sql(
            rel.on_sql, rel.join_from_view, rel.loc, where, model, measures_ok=False
        )


def topic_references(model: ParsedModel) -> Iterator[ModelIssue]:
    """A topic's filters and ``always_where_sql`` name fields that exist."""
    for topic in model.topics.values():
        for key, filters in (
            ("default_filters", topic.default_filters),
            ("always_where_filters", topic.always_where_filters),
        ):
            for fname, _ in filters:
                yield from _check_ref(
                    _field_ref(fname),
                    topic.base_view,
                    topic.loc,
                    f"topic `{topic.name}` {key}",
                    model.views,
                )
        yield from _check_sql(
            topic.always_where_sql,
            topic.base_view,
            topic.loc,
            f"topic `{topic.name}` always_where_sql",
            model,
            measures_ok=False,
        )


# -- types ----------------------------------------------------------------------------------------


def untyped_dimensions(model: ParsedModel) -> Iterator[ModelIssue]:
    """A warning for each expression dimension whose type could not be inferred, when the
    warehouse typed the plain columns (without it, plain columns are untyped too)."""
    if not model.warehouse_typed:
        return
    for view in model.views.values():
        if view.base_view is not None:
            continue
        for d in view.dimensions.values():
            if d.type == UNKNOWN and d.sql is not None:
                yield _warning(
                    d.loc,
                    f"`{d.qualified_name}`: could not infer a type; "
                    "declare `type:` (string, number, timestamp, date, boolean)",
                )


# An alias view repeats its base view's definitions: the view rules skip it.
VIEW_RULES: tuple[ViewRule, ...] = (field_references, reference_cycles)
MODEL_RULES: tuple[ModelRule, ...] = (
    relationship_references,
    topic_references,
    untyped_dimensions,
)


def check_rules(model: ParsedModel) -> list[ModelIssue]:
    """Every rule's issues: the view rules view by view, then the model rules, in order."""
    issues: list[ModelIssue] = []
    for view in model.views.values():
        if view.base_view is None:
            for view_rule in VIEW_RULES:
                issues.extend(view_rule(view, model))
    for model_rule in MODEL_RULES:
        issues.extend(model_rule(model))
    return issues
