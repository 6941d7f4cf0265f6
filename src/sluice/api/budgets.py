"""Budgets for every input, and text validated at the edge.

A request body is parsed once and walked once, iteratively (a deeply nested body cannot exhaust
the stack here), before anything reads it. The walk refuses, with a 400 naming the place:

* nesting deeper than ``max_json_depth``;
* text that is not valid Unicode (a lone surrogate such as ``"\\ud800"``, which JSON can spell
  but UTF-8 cannot): nothing un-encodable reaches a job, a log line or the store;
* a field name, sort, pivot, topic or other name longer than ``max_name_length``;
* ``userEditedSQL`` longer than ``max_sql_length``;
* more than ``max_fields`` fields (and sorts, pivots, calculations);
* more than ``max_filter_values`` values in one filter or ``max_filter_values_total`` in all of
  them (a plain-string filter counts its comma-separated parts).

The body size itself is bounded before parsing (``max_body_mb``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Budgets:
    max_body_mb: float = 4.0
    max_json_depth: int = 64
    max_fields: int = 500
    max_filter_values: int = 10_000
    max_filter_values_total: int = 50_000
    max_name_length: int = 1_000
    max_sql_length: int = 100_000


# A JSON escape of a UTF-16 surrogate (U+D800..U+DFFF): the only way a JSON text can spell a
# lone surrogate (UTF-8 bytes cannot). A body without one holds only encodable text.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

# Query keys that hold lists of names, each counted against ``max_fields``.
_NAME_LISTS = ("fields", "pivots", "fill_fields", "sorts", "calculations")
_NAMES = ("join_paths_from_topic_name", "table", "modelId")


def loads(raw: bytes, budgets: Budgets) -> Any:
    """``raw`` as JSON, refused when it is not JSON, too deep, or not valid Unicode."""
    try:
        body = json.loads(raw) if raw else None
    except RecursionError:
        raise BadRequest(
            f"The request body is nested too deeply (at most {budgets.max_json_depth} levels)"
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON") from None
    if _may_fail_tree(raw, budgets):  # else no walk can fail: skip it
        check_tree(body, budgets)
    return body


def _may_fail_tree(raw: bytes, budgets: Budgets) -> bool:
    """Whether ``check_tree`` could refuse the JSON text ``raw``: it nests more containers than
    the depth budget leaves room for (brackets inside strings count too: an overestimate), or
    it spells a surrogate escape."""
    containers = raw.count(b"{") + raw.count(b"[")
    return containers + 1 > budgets.max_json_depth or _SURROGATE_ESCAPE.search(raw) is not None


def check_tree(value: Any, budgets: Budgets, root: str = "body") -> None:
    """Depth and Unicode over the whole tree, without recursion."""
    stack: list[tuple[Any, str, int]] = [(value, root, 1)]
    while stack:
        node, where, depth = stack.pop()
        if depth > budgets.max_json_depth:
            raise BadRequest(
                f"{_short(where)} is nested too deeply (at most {budgets.max_json_depth} levels)"
            )
        if isinstance(node, str):
            check_text(node, where)
        elif isinstance(node, dict):
            for key, item in node.items():
                check_text(key, f"a key of {where}")
                stack.append((item, f"{where}.{key}", depth + 1))
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node))


def check_text(text: str, where: str) -> None:
    """A 400 naming ``where`` when ``text`` cannot be encoded as UTF-8 (a lone surrogate)."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest(
            f"{_short(where)} is not valid Unicode: {exc.reason} at position {exc.start} "
            f"(a lone surrogate such as \\ud800 cannot be encoded)"
        ) from None


def check_query(query: Mapping[str, Any], budgets: Budgets) -> None:
    """The query object's sizes: names, lists of names, SQL text and filter values."""
    for key in _NAMES:
        _check_name(query.get(key), f"query.{key}", budgets)
    for key in _NAME_LISTS:
        items = query.get(key)
        if not isinstance(items, list):
            continue
        if len(items) > budgets.max_fields:
            raise BadRequest(
                f"query.{key} has {len(items)} entries; at most {budgets.max_fields} are allowed"
            )
        for i, item in enumerate(items):
            _check_name(item, f"query.{key}[{i}]", budgets)
            if isinstance(item, Mapping):
                for name in ("column_name", "calc_name", "field"):
                    _check_name(item.get(name), f"query.{key}[{i}].{name}", budgets)
    sql = query.get("userEditedSQL")
    if isinstance(sql, str) and len(sql) > budgets.max_sql_length:
        raise BadRequest(
            f"query.userEditedSQL is {len(sql)} characters; at most "
            f"{budgets.max_sql_length} are allowed"
        )
    filters = query.get("filters")
    if isinstance(filters, Mapping):
        if len(filters) > budgets.max_fields:
            raise BadRequest(
                f"query.filters has {len(filters)} filters; at most {budgets.max_fields} are "
                "allowed"
            )
        total = 0
        for name, spec in filters.items():
            _check_name(name, "a query.filters key", budgets)
            count = count_values(spec)
            if count > budgets.max_filter_values:
                raise BadRequest(
                    f"the filter on {_short(str(name))!r} has {count} values; at most "
                    f"{budgets.max_filter_values} are allowed in one filter"
                )
            total += count
        if total > budgets.max_filter_values_total:
            raise BadRequest(
                f"query.filters has {total} values in all; at most "
                f"{budgets.max_filter_values_total} are allowed"
            )


def count_values(spec: Any) -> int:
    """The values a filter holds: a plain string's comma-separated parts, else the items of
    every list in it (composite filters included)."""
    if isinstance(spec, str):
        return spec.count(",") + 1
    count = 0
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            stack.extend(v for v in node.values() if isinstance(v, Mapping | list))
        elif isinstance(node, list):
            count += len(node)
            stack.extend(v for v in node if isinstance(v, Mapping | list))
    return count


def _check_name(value: Any, where: str, budgets: Budgets) -> None:
    if isinstance(value, str) and len(value) > budgets.max_name_length:
        raise BadRequest(
            f"{where} is {len(value)} characters long; at most {budgets.max_name_length} "
            "are allowed"
        )


def _short(text: str) -> str:
    return text if len(text) <= 120 else text[:120] + "..."


__all__ = ["Budgets", "check_query", "check_text", "check_tree", "count_values", "loads"]
