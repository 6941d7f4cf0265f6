"""``relationships.yaml``: how views join; ``join_to_view_as`` adds an alias view."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sluice.errors import did_you_mean
from sluice.model.files import YamlFile, line_of
from sluice.model.issues import IssueLog
from sluice.model.parse.common import text_of, warn_unknown_keys
from sluice.model.types import (
    JOIN_TYPES,
    RELATIONSHIP_TYPES,
    Dimension,
    Loc,
    Measure,
    Relationship,
    View,
    label_for,
)
from sluice.model.vocabulary import RELATIONSHIP_KEYS


def parse_relationships(
    file: YamlFile | None,
    views: dict[str, View],
    log: IssueLog,
) -> list[Relationship]:
    """The relationships of ``relationships.yaml``; an alias (``join_to_view_as``) is added to
    ``views``."""
    if file is None:
        return []
    data = file.data or []
    if not isinstance(data, list):
        log.error(Loc(file.path, 1), "relationships must be a list")
        return []
    out: list[Relationship] = []
    for item in data:
        line = line_of(item)
        loc = Loc(file.path, line)
        if not isinstance(item, Mapping):
            log.error(loc, "each relationship must be a mapping")
            continue
        warn_unknown_keys(item, RELATIONSHIP_KEYS, file.path, "relationship", log)
        src, dst = item.get("join_from_view"), item.get("join_to_view")
        ok = True
        for key, value in (("join_from_view", src), ("join_to_view", dst)):
            if value is None:
                log.error(loc, f"relationship needs `{key}`")
                ok = False
            elif str(value) not in views:
                log.error(
                    Loc(file.path, line_of(item, key, line)),
                    f"relationship {key} `{value}`: no such view{did_you_mean(str(value), views)}",
                )
                ok = False
        rtype = str(item.get("relationship_type", "many_to_one"))
        if rtype not in RELATIONSHIP_TYPES:
            log.error(
                Loc(file.path, line_of(item, "relationship_type", line)),
                f"unknown relationship_type `{rtype}`{did_you_mean(rtype, RELATIONSHIP_TYPES)}",
            )
        jtype = str(item.get("join_type", "always_left"))
        if jtype not in JOIN_TYPES:
            log.error(
                Loc(file.path, line_of(item, "join_type", line)),
                f"unknown join_type `{jtype}`{did_you_mean(jtype, JOIN_TYPES)}",
            )
        if not ok:
            continue
        alias = str(item.get("join_to_view_as") or dst)
        if alias != dst:
            if alias in views and views[alias].base_view != str(dst):
                log.error(loc, f"join_to_view_as `{alias}` clashes with an existing view")
                continue
            views[alias] = _alias_view(views[str(dst)], alias)
        on_sql = text_of(item, "on_sql")
        if on_sql is None and jtype != "cross":
            log.error(loc, f"relationship {src} -> {alias} needs `on_sql`")
        out.append(Relationship(str(src), alias, on_sql, rtype, jtype, loc))
    return out


def _alias_view(view: View, alias: str) -> View:
    """``view`` under another name: the same definitions, its fields moved to ``alias``."""

    def move(d: Dimension) -> Dimension:
        return dataclasses.replace(d, view=alias)

    def move_m(m: Measure) -> Measure:
        return dataclasses.replace(m, view=alias)

    return View(
        name=alias,
        table_name=view.table_name,
        schema=view.schema,
        sql=view.sql,
        label=label_for(alias),
        description=view.description,
        hidden=view.hidden,
        dimensions={k: move(d) for k, d in view.dimensions.items()},
        measures={k: move_m(m) for k, m in view.measures.items()},
        filter_fields={k: move(d) for k, d in view.filter_fields.items()},
        loc=view.loc,
        base_view=view.name,
    )
