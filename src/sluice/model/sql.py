"""SQL templates: field SQL with ``${view.field[grain]}`` references, parsed once with sqlglot.

Each reference becomes a placeholder column (``__sluice_ref_<n>``) so the template parses as
ordinary SQL in the model's dialect; the compiler later swaps each placeholder for the referenced
field's expression. No SQL is ever assembled by pasting strings.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

REF_PATTERN = re.compile(
    r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?(?:\[\s*([A-Za-z_]+)\s*\])?\s*\}"
)
PLACEHOLDER = "__sluice_ref_"


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference as written: ``view`` is None for a same-view ``${field}``."""

    view: str | None
    field: str
    grain: str | None

    def resolve(self, current_view: str) -> Ref:
        return Ref(self.view or current_view, self.field, self.grain)

    def __str__(self) -> str:
        name = f"{self.view}.{self.field}" if self.view else self.field
        return f"${{{name}[{self.grain}]}}" if self.grain else f"${{{name}}}"


@dataclass(frozen=True, slots=True)
class Template:
    expr: exp.Expr
    refs: tuple[Ref, ...]  # the placeholder ``__sluice_ref_<i>`` stands for ``refs[i]``


class TemplateError(ValueError):
    pass


def find_refs(sql: str) -> list[Ref]:
    out = []
    for m in REF_PATTERN.finditer(sql):
        first, second, grain = m.group(1), m.group(2), m.group(3)
        out.append(Ref(first, second, grain) if second else Ref(None, first, grain))
    return out


def parse_template(sql: str, dialect: str) -> Template:
    """Parse field SQL into a sqlglot tree with placeholder columns for its references."""
    refs: list[Ref] = []

    def swap(m: re.Match[str]) -> str:
        first, second, grain = m.group(1), m.group(2), m.group(3)
        refs.append(Ref(first, second, grain) if second else Ref(None, first, grain))
        return f"{PLACEHOLDER}{len(refs) - 1}"

    text = REF_PATTERN.sub(swap, sql)
    if "${" in text:
        raise TemplateError(f"malformed reference in {sql!r}; write ${{field}} or ${{view.field}}")
    try:
        expr = sqlglot.parse_one(text, dialect=dialect)
    except ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc)
        raise TemplateError(f"cannot parse SQL {sql!r}: {first}") from None
    if expr is None:
        raise TemplateError(f"empty SQL {sql!r}")
    return Template(expr, tuple(refs))


@functools.lru_cache(maxsize=8192)
def template(sql: str, dialect: str) -> Template:
    """``parse_template`` memoized by value, for the model's own field SQL (a bounded set): the
    loader validates with it and the compiler reuses the parse. The tree is shared: callers
    never mutate it (sqlglot's ``transform`` and ``copy`` return new trees)."""
    return parse_template(sql, dialect)


@functools.lru_cache(maxsize=1024)
def derived_query(sql: str, dialect: str) -> exp.Expr:
    """A derived-table view's ``sql``, parsed once by value; shared, never mutated."""
    return sqlglot.parse_one(sql, dialect=dialect)


def placeholder_index(node: exp.Expr) -> int | None:
    """The reference index of a placeholder column, or None for any other node."""
    if isinstance(node, exp.Column) and not node.table and node.name.startswith(PLACEHOLDER):
        return int(node.name[len(PLACEHOLDER) :])
    return None
