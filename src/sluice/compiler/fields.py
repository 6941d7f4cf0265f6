"""Field resolution: requested names (``view.field[grain]``) -> the model's fields and the
metadata of each output column. Pure lookups; no SQL is built here."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sluice.compiler.grains import GRAINS
from sluice.compiler.joins import JoinTree
from sluice.compiler.types import FieldMeta
from sluice.errors import PlanError, did_you_mean
from sluice.model.grains import GRAINS as KNOWN_GRAINS
from sluice.model.types import Dimension, Measure, SemanticModel, Topic
from sluice.query.spec import QuerySpec

FIELD_NAME = re.compile(r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)(?:\[\s*(\w+)\s*\])?$")


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


def lookup(model: SemanticModel, ref: FieldRef) -> Dimension | Measure | None:
    return model.lookup(ref.view, ref.name)


def in_topic(topic: Topic | None, ref: FieldRef) -> bool:
    """Does the topic (if any) admit this field?"""
    return topic is None or topic.admits(ref.view, ref.name)


def unknown_field_message(model: SemanticModel, name: str) -> str:
    names = [f"{v.name}.{f}" for v in model.views.values() for f in v.field_names()]
    return f'No such field "{name}"{did_you_mean(name.split("[")[0], names)}'


def resolve_fields(
    model: SemanticModel, spec: QuerySpec, tree: JoinTree, topic: Topic | None
) -> tuple[list[tuple[FieldRef, Dimension | Measure]], list[str]]:
    """The query's fields that resolve (in order, once each) and the names that do not."""
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
            and grain_ok(ref, target)
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
        hint = unknown_field_message(model, missing[0]) if missing else ""
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
    if ref.grain is not None and not grain_ok(ref, target):
        if not isinstance(target, Dimension) or not target.is_time:
            return f"{lead}: `{ref.view}.{ref.name}` is not a time field and takes no grain"
        return f"{lead}: unknown grain `{ref.grain}`{did_you_mean(ref.grain, sorted(KNOWN_GRAINS))}"
    if ref.view not in tree:
        where = f"topic `{topic.name}`" if topic is not None else f"`{tree.base}`"
        return f"{lead}: view `{ref.view}` cannot be joined from {where}"
    if not in_topic(topic, ref):
        return f"{lead}: not in topic `{topic.name if topic else ''}`"
    return lead


def grain_ok(ref: FieldRef, target: Dimension | Measure) -> bool:
    if ref.grain is None:
        return True
    if not isinstance(target, Dimension) or not target.is_time:
        return False
    return ref.grain in KNOWN_GRAINS


def field_type(dim: Dimension, grain: str | None) -> str:
    """The type a filter on ``dim[grain]`` compares against."""
    if grain in (None, "raw") or grain not in GRAINS:
        return dim.type
    return GRAINS[grain].data_type.lower()


def compares_dates(dim: Dimension, grain: str | None) -> bool:
    """Do date filters on this field compare with DATE (not TIMESTAMP) literals?"""
    if grain in (None, "raw"):
        return dim.type == "date"
    return grain in GRAINS and GRAINS[grain].data_type == "DATE"


def measure_type(model: SemanticModel, m: Measure) -> str:
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


def field_meta(model: SemanticModel, name: str) -> FieldMeta:
    """Metadata of one field by name (``view.field`` or ``view.field[grain]``), for catalogs."""
    ref = parse_field_name(name)
    target = lookup(model, ref) if ref else None
    if ref is None or target is None:
        raise PlanError(unknown_field_message(model, name))
    return field_meta_for(model, ref, target, aliases([name])[0])


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
        data_type=measure_type(model, target),
        is_dimension=False,
        aggregate_type=target.aggregate_type,
        format=target.format,
        hidden=target.hidden,
        description=target.description,
        alias=alias,
    )


def aliases(names: list[str]) -> list[str]:
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
