"""Property tests: the filter grammar (typed and plain-string) against a reference in Python.

Random small tables (with NULLs) and random filters; the rows the compiled SQL keeps on DuckDB
must be exactly the rows a three-valued-logic evaluation in Python keeps. The reference is
written from the contract's semantics, not from the compiler: value comparisons on NULL are
unknown, negation keeps what the positive filter does not select (``NOT COALESCE(c, FALSE)``),
number BETWEEN is ``[low, high)``, date ranges are half-open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.compiler import compile_query
from sluice.model import SemanticModel, load_model
from sluice.query import parse_query

MODEL_ID = "6e0ab1f6-0c0e-4b8e-9b55-0f4c0a3a1d11"
Tri = bool | None  # SQL's three-valued logic
Row = dict[str, Any]
Leaf = tuple[dict[str, Any], Callable[[Row], Tri]]  # (wire filter, reference predicate)

NUMS = st.one_of(st.none(), st.integers(-3, 3))
TEXTS = st.one_of(st.none(), st.sampled_from(["", "a", "ab", "Ab", "ba", "b%", "a_b", "'q", "x"]))
BASE = datetime(2024, 1, 1)
TIMES = st.one_of(st.none(), st.integers(0, 24 * 90).map(lambda h: BASE + timedelta(hours=h)))
ROWS = st.lists(
    st.fixed_dictionaries({"num": NUMS, "txt": TEXTS, "ts": TIMES}), min_size=4, max_size=24
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> SemanticModel:
    folder: Path = tmp_path_factory.mktemp("grammar")
    (folder / "t.view.yaml").write_text(
        "dimensions:\n  id:\n    primary_key: true\n  num: {}\n  txt: {}\n  ts: {}\n"
    )
    types = {"t": {"id": "number", "num": "number", "txt": "string", "ts": "timestamp"}}
    return load_model(folder, column_types=lambda table, _schema: types.get(table))


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (id INTEGER, num INTEGER, txt VARCHAR, ts TIMESTAMP)")
    yield conn
    conn.close()


def _and(a: Tri, b: Tri) -> Tri:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: Tri, b: Tri) -> Tri:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def negate(spec: dict[str, Any], pred: Callable[[Row], Tri]) -> Leaf:
    return {**spec, "is_negative": True}, lambda r: not bool(pred(r))


# -- number filters -------------------------------------------------------------------------------


NUMBER_KINDS = ("EQUALS", "GREATER_THAN", "LESS_THAN", "BETWEEN")
STRING_KINDS = ("EQUALS", "CONTAINS", "STARTS_WITH", "ENDS_WITH", "IS_EMPTY")
DATE_KINDS = ("BETWEEN", "BEFORE", "ON_OR_AFTER", "TIME_FOR_UNIT_DURATION")


@st.composite
def number_leaf(draw: st.DrawFn, kind: str | None = None) -> Leaf:
    kind = kind or draw(st.sampled_from(NUMBER_KINDS))
    as_text = draw(st.booleans())  # values may be numbers or numeric strings

    def wire(values: list[int]) -> list[Any]:
        return [str(v) for v in values] if as_text else values

    if kind == "EQUALS":
        values = draw(st.lists(st.integers(-3, 3), min_size=1, max_size=3))
        spec = {"type": "number", "kind": kind, "values": wire(values)}
        pred: Callable[[Row], Tri] = lambda r: None if r["num"] is None else r["num"] in values  # noqa: E731
    elif kind == "BETWEEN":
        low, high = sorted(draw(st.lists(st.integers(-3, 3), min_size=2, max_size=2)))
        spec = {"type": "number", "kind": kind, "values": wire([low, high])}
        pred = lambda r: None if r["num"] is None else low <= r["num"] < high  # noqa: E731
    else:
        value, inclusive = draw(st.integers(-3, 3)), draw(st.booleans())
        spec = {"type": "number", "kind": kind, "values": wire([value]), "is_inclusive": inclusive}
        greater = kind == "GREATER_THAN"

        def pred(r: Row) -> Tri:
            v = r["num"]
            if v is None:
                return None
            if greater:
                return bool(v >= value if inclusive else v > value)
            return bool(v <= value if inclusive else v < value)

    return negate(spec, pred) if draw(st.booleans()) else (spec, pred)


# -- string filters -------------------------------------------------------------------------------


@st.composite
def string_leaf(draw: st.DrawFn, kind: str | None = None) -> Leaf:
    kind = kind or draw(st.sampled_from(STRING_KINDS))
    ci = draw(st.booleans())
    values = draw(
        st.lists(st.sampled_from(["a", "b", "A", "%", "_", "'", "ab"]), min_size=1, max_size=2)
    )
    spec: dict[str, Any] = {"type": "string", "kind": kind, "values": [] if kind == "IS_EMPTY" else values,
                            "case_insensitive": ci}  # fmt: skip

    def pred(r: Row) -> Tri:
        text = r["txt"]
        if kind == "IS_EMPTY":
            return text is None or text == ""
        if text is None:
            return None
        subject, targets = (text.lower(), [v.lower() for v in values]) if ci else (text, values)
        test = {
            "EQUALS": lambda v: subject == v,
            "CONTAINS": lambda v: v in subject,
            "STARTS_WITH": subject.startswith,
            "ENDS_WITH": subject.endswith,
        }[kind]
        return any(test(v) for v in targets)

    return negate(spec, pred) if draw(st.booleans()) else (spec, pred)


# -- date filters ---------------------------------------------------------------------------------


@st.composite
def date_leaf(draw: st.DrawFn, kind: str | None = None) -> Leaf:
    kind = kind or draw(st.sampled_from(DATE_KINDS))
    days = st.integers(0, 95).map(lambda d: BASE + timedelta(days=d))
    if kind == "TIME_FOR_UNIT_DURATION":
        month = draw(st.integers(1, 4))
        start, end = datetime(2024, month, 1), datetime(2024, month + 1, 1)
        spec = {"type": "date", "kind": kind, "left_side": f"2024-{month:02d}"}
    elif kind == "BETWEEN":
        start, end = sorted(draw(st.lists(days, min_size=2, max_size=2)))
        spec = {
            "type": "date",
            "kind": kind,
            "left_side": f"{start:%Y-%m-%d}",
            "right_side": f"{end:%Y-%m-%d}",
        }
    elif kind == "BEFORE":
        start, end = datetime.min, draw(days)
        spec = {"type": "date", "kind": kind, "right_side": f"{end:%Y-%m-%d}"}
    else:
        start, end = draw(days), datetime.max
        spec = {"type": "date", "kind": kind, "left_side": f"{start:%Y-%m-%d}"}

    def pred(r: Row) -> Tri:
        return None if r["ts"] is None else start <= r["ts"] < end

    return negate(spec, pred) if draw(st.booleans()) else (spec, pred)


def null_leaf(draw: st.DrawFn, column: str) -> Leaf:
    negative = draw(st.booleans())
    return {
        "type": "null",
        "is_negative": negative,
    }, lambda r: (r[column] is not None) if negative else (r[column] is None)


@st.composite
def tree(
    draw: st.DrawFn, leaf: Callable[[], st.SearchStrategy[Leaf]], column: str, depth: int = 2
) -> Leaf:
    """A leaf, a null test, or a composite of them (AND/OR, possibly negated, nested)."""
    choice = draw(st.integers(0, 4 if depth > 0 else 2))
    if choice <= 1:
        return draw(leaf())
    if choice == 2:
        return null_leaf(draw, column)
    conj = draw(st.sampled_from(["AND", "OR"]))
    parts = [draw(tree(leaf, column, depth - 1)) for _ in range(draw(st.integers(1, 3)))]
    spec = {"type": "composite", "conjunction": conj, "filters": [p[0] for p in parts]}

    def pred(r: Row) -> Tri:
        result: Tri = conj == "AND"
        for _, p in parts:
            result = _and(result, p(r)) if conj == "AND" else _or(result, p(r))
        return result

    return negate(spec, pred) if draw(st.booleans()) else (spec, pred)


FIELDS: dict[str, tuple[str, Callable[[], st.SearchStrategy[Leaf]]]] = {
    "t.num": ("num", number_leaf),
    "t.txt": ("txt", string_leaf),
    "t.ts": ("ts", date_leaf),
}


def kept(
    db: duckdb.DuckDBPyConnection, model: SemanticModel, rows: list[Row], filters: dict[str, Any]
) -> list[int]:
    db.execute("DELETE FROM t")
    db.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        [(i, r["num"], r["txt"], r["ts"]) for i, r in enumerate(rows)],
    )
    body = {
        "modelId": MODEL_ID,
        "table": "t",
        "fields": ["t.id"],
        "filters": filters,
        "limit": None,
    }
    sql = compile_query(model, parse_query(body), now=datetime(2024, 6, 1)).sql
    return sorted(r[0] for r in db.execute(sql).fetchall())


LEAVES = (
    [("t.num", k) for k in NUMBER_KINDS]
    + [("t.txt", k) for k in STRING_KINDS]
    + [("t.ts", k) for k in DATE_KINDS]
)
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize(("field", "kind"), LEAVES)
@SETTINGS
@given(rows=ROWS, data=st.data())
def test_each_filter_kind_matches_the_reference(
    db: duckdb.DuckDBPyConnection, model: SemanticModel, field: str, kind: str, rows: list[Row],
    data: st.DataObject,
) -> None:  # fmt: skip
    _, leaf = FIELDS[field]
    spec, pred = data.draw(leaf(kind))
    want = [i for i, r in enumerate(rows) if pred(r) is True]
    assert kept(db, model, rows, {field: spec}) == want, spec


@pytest.mark.parametrize("field", sorted(FIELDS))
@SETTINGS
@given(rows=ROWS, data=st.data())
def test_null_and_composite_filters_match_the_reference(
    db: duckdb.DuckDBPyConnection, model: SemanticModel, field: str, rows: list[Row],
    data: st.DataObject,
) -> None:  # fmt: skip
    column, leaf = FIELDS[field]
    spec, pred = data.draw(tree(leaf, column))
    want = [i for i, r in enumerate(rows) if pred(r) is True]
    assert kept(db, model, rows, {field: spec}) == want, spec


@SETTINGS
@given(rows=ROWS, data=st.data())
def test_filters_on_several_fields_are_anded(
    db: duckdb.DuckDBPyConnection, model: SemanticModel, rows: list[Row], data: st.DataObject
) -> None:
    filters: dict[str, Any] = {}
    preds = []
    for name, (column, leaf) in FIELDS.items():
        spec, pred = data.draw(tree(leaf, column))
        filters[name] = spec
        preds.append(pred)
    want = [i for i, r in enumerate(rows) if all(p(r) is True for p in preds)]
    assert kept(db, model, rows, filters) == want, filters


# -- plain-string (legacy) expressions ----------------------------------------------------------------

LEGACY_NUMBERS: list[tuple[str, Callable[[int], bool]]] = [
    (">2", lambda v: v > 2), (">=2", lambda v: v >= 2), ("<-1", lambda v: v < -1), ("<=0", lambda v: v <= 0),
    ("3", lambda v: v == 3), ("1,2,3", lambda v: v in (1, 2, 3)), ("[1,4)", lambda v: 1 <= v < 4),
    ("[1,4]", lambda v: 1 <= v <= 4), ("(1,4]", lambda v: 1 < v <= 4), ("-2 to 2", lambda v: -2 <= v <= 2),
]  # fmt: skip
LEGACY_TEXTS: list[tuple[str, Callable[[str], bool]]] = [
    ("a", lambda t: t == "a"), ("a,ab", lambda t: t in ("a", "ab")), ("%b%", lambda t: "b" in t),
    ("a%", lambda t: t.startswith("a")), ("%b", lambda t: t.endswith("b")),
]  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rows=ROWS,
    number=st.sampled_from(LEGACY_NUMBERS),
    text=st.sampled_from(LEGACY_TEXTS),
    negate_text=st.booleans(),
)
def test_plain_string_filters_match_the_reference(
    db: duckdb.DuckDBPyConnection, model: SemanticModel, rows: list[Row],
    number: tuple[str, Callable[[int], bool]], text: tuple[str, Callable[[str], bool]], negate_text: bool,
) -> None:  # fmt: skip
    expr, test = text
    if negate_text:  # "-a": not a (NULL kept, like every negation); only for single values
        expr = "-" + expr if "," not in expr else expr
    negated = expr.startswith("-")

    def keep(r: Row) -> bool:
        ok_num = r["num"] is not None and number[1](r["num"])
        ok_txt = (
            (r["txt"] is None or not test(r["txt"]))
            if negated
            else (r["txt"] is not None and test(r["txt"]))
        )
        return ok_num and ok_txt

    want = [i for i, r in enumerate(rows) if keep(r)]
    assert kept(db, model, rows, {"t.num": number[0], "t.txt": expr}) == want


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rows=ROWS,
    expr=st.sampled_from(
        [
            "null",
            "not null",
            "2024-02",
            "before 2024-02-15",
            "after 2024-03-01",
            "2024-01-10 to 2024-02-20",
            "last 30 days",
            "3 complete months ago for 1 month",
        ]
    ),
)
def test_plain_string_date_filters_match_the_reference(
    db: duckdb.DuckDBPyConnection, model: SemanticModel, rows: list[Row], expr: str
) -> None:
    # The clock is 2024-06-01: "last 30 days" is [2024-05-03, 2024-06-02); "3 complete months ago"
    # starts 2024-03-01.
    ranges = {
        "2024-02": (datetime(2024, 2, 1), datetime(2024, 3, 1)),
        "before 2024-02-15": (datetime.min, datetime(2024, 2, 15)),
        "after 2024-03-01": (datetime(2024, 3, 1), datetime.max),
        "2024-01-10 to 2024-02-20": (datetime(2024, 1, 10), datetime(2024, 2, 20)),
        "last 30 days": (datetime(2024, 5, 3), datetime(2024, 6, 2)),
        "3 complete months ago for 1 month": (datetime(2024, 3, 1), datetime(2024, 4, 1)),
    }

    def keep(r: Row) -> bool:
        if expr == "null":
            return r["ts"] is None
        if expr == "not null":
            return r["ts"] is not None
        start, end = ranges[expr]
        return r["ts"] is not None and start <= r["ts"] < end

    assert kept(db, model, rows, {"t.ts": expr}) == [i for i, r in enumerate(rows) if keep(r)]
