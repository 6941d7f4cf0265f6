"""Helpers for the post-query tests: compare tables by names, types and values."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from sluice.compiler.types import FieldMeta


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in table.to_pylist()]


def assert_table(actual: pa.Table, expected: dict[str, list[Any]]) -> None:
    """Same column names in the same order, and the same values (floats to 1e-9)."""
    assert actual.column_names == list(expected), actual.column_names
    got = actual.to_pydict()
    for name, want in expected.items():
        have = got[name]
        assert len(have) == len(want), (name, have, want)
        for h, w in zip(have, want, strict=True):
            if isinstance(w, float) and h is not None:
                assert math.isclose(h, w, rel_tol=1e-9, abs_tol=1e-12), (name, have, want)
            else:
                assert h == w and type(h) is type(w), (name, have, want)


def meta(
    name: str,
    *,
    dimension: bool,
    data_type: str = "NUMBER",
    aggregate: str | None = None,
    label: str | None = None,
    fmt: str | None = None,
) -> FieldMeta:
    view, _, rest = name.partition(".")
    base, _, grain = rest.partition("[")
    return FieldMeta(
        field_name=name,
        view_name=view,
        name=base,
        grain=grain.rstrip("]") or None,
        label=label or base.replace("_", " ").title(),
        data_type=data_type,
        is_dimension=dimension,
        aggregate_type=aggregate,
        format=fmt,
        hidden=False,
        description=None,
        alias=base,
    )
