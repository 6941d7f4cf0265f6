"""Request body -> ``QuerySpec``: the typed, normalised query."""

from sluice.query.spec import QuerySpec, SortSpec, parse_query

__all__ = ["QuerySpec", "SortSpec", "parse_query"]
