"""Topic files: a base view, its join tree, curated fields and the topic's filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.errors import did_you_mean
from sluice.model.files import YamlFile, line_of
from sluice.model.filters import Filter, FilterSyntaxError, parse_yaml_filter
from sluice.model.issues import IssueLog
from sluice.model.parse.common import expect_mapping, text_of, warn_unknown_keys
from sluice.model.types import Loc, Relationship, Topic, TopicJoin, View, label_for
from sluice.model.vocabulary import TOPIC_KEYS


def parse_topic(
    name: str,
    file: YamlFile,
    views: Mapping[str, View],
    relationships: list[Relationship],
    log: IssueLog,
) -> Topic:
    """The topic of a topic file; each join must follow a relationship."""
    spec = expect_mapping(file.data, Loc(file.path, 1), f"topic `{name}`", log)
    warn_unknown_keys(spec, TOPIC_KEYS, file.path, f"topic `{name}`", log)
    base = str(spec.get("base_view") or name)
    if base not in views:
        log.error(
            Loc(file.path, line_of(spec, "base_view")),
            f"topic `{name}`: base_view `{base}` is not a view{did_you_mean(base, views)}",
        )
    joins = _joins(
        base, spec.get("joins"), file.path, line_of(spec, "joins"), views, relationships, log, name
    )
    limit = spec.get("default_row_limit")
    return Topic(
        name=name,
        base_view=base,
        label=str(spec.get("label") or label_for(name)),
        description=text_of(spec, "description"),
        hidden=bool(spec.get("hidden", False)),
        group_label=text_of(spec, "group_label"),
        joins=joins,
        fields=tuple(str(f) for f in spec.get("fields") or ()),
        default_filters=_topic_filters(spec, "default_filters", file.path, log, name),
        always_where_filters=_topic_filters(spec, "always_where_filters", file.path, log, name),
        always_where_sql=text_of(spec, "always_where_sql"),
        default_row_limit=int(limit) if isinstance(limit, int) else None,
        cache_policy=text_of(spec, "cache_policy"),
        loc=Loc(file.path, 1),
    )


def _joins(
    parent: str,
    spec: Any,
    file: str,
    line: int,
    views: Mapping[str, View],
    relationships: list[Relationship],
    log: IssueLog,
    topic: str,
) -> tuple[TopicJoin, ...]:
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        log.error(Loc(file, line), f"topic `{topic}`: joins must be a mapping")
        return ()
    out = []
    for child, sub in spec.items():
        child = str(child)
        loc = Loc(file, line_of(spec, child, line))
        if child not in views:
            log.error(
                loc, f"topic `{topic}` joins `{child}`: no such view{did_you_mean(child, views)}"
            )
            continue
        linked = any({r.join_from_view, r.join_to_view} == {parent, child} for r in relationships)
        if not linked:
            log.error(
                loc,
                f"topic `{topic}` joins `{child}` to `{parent}`, but no relationship "
                f"links `{parent}` and `{child}`",
            )
        children = _joins(child, sub, file, loc.line, views, relationships, log, topic)
        out.append(TopicJoin(child, children, loc))
    return tuple(out)


def _topic_filters(
    spec: Mapping[str, Any], key: str, file: str, log: IssueLog, topic: str
) -> tuple[tuple[str, Filter], ...]:
    fspec = expect_mapping(spec.get(key), Loc(file, line_of(spec, key)), key, log)
    out = []
    for field_name, value in fspec.items():
        try:
            out.append((str(field_name), parse_yaml_filter(value)))
        except FilterSyntaxError as exc:
            log.error(
                Loc(file, line_of(fspec, field_name)),
                f"topic `{topic}` {key} on `{field_name}`: {exc}",
            )
    return tuple(out)
