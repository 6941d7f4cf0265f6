"""The cache key changes exactly when something that changes the result changes."""

from __future__ import annotations

import dataclasses
from typing import Any

from sluice.cache import cache_key
from sluice.compiler.types import CompiledQuery, PostPlan
from tests.conftest import Runner

QUERY = {
    "join_paths_from_topic_name": "order_items",
    "fields": ["users.state", "order_items.count"],
}


def key(compiled: CompiledQuery, **kw: Any) -> str:
    args = {"model_id": "m", "connection_id": "c", "timezone": None, **kw}
    return cache_key(compiled, **args)


def test_the_same_query_has_the_same_key(runner: Runner) -> None:
    assert key(runner.compile(QUERY)) == key(runner.compile(dict(QUERY)))


def test_what_changes_the_result_changes_the_key(runner: Runner) -> None:
    base = runner.compile(QUERY)
    variants = [
        key(base, model_id="other"),
        key(base, connection_id="other"),
        key(base, timezone="Europe/Paris"),
        key(dataclasses.replace(base, model_version="v2")),
        key(runner.compile({**QUERY, "limit": 7})),
        key(runner.compile({**QUERY, "sorts": [{"column_name": "users.state"}]})),
        key(dataclasses.replace(base, user_attributes=(("region", "West"),))),
        key(dataclasses.replace(base, post=PostPlan(fields=(), dimensions=(), measures=()))),
        key(dataclasses.replace(base, fields=base.fields[:1])),
    ]
    assert len({key(base), *variants}) == len(variants) + 1
