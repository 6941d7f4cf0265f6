"""Table calculations: new float64 columns computed from the result's numeric columns.

Semantics (sluice's definition where Omni's wire format is not public):

* A calculation is ``{"calc_name", "sql_expression"?, "original_formula"?, "label"?}``. The
  expression is a tree of nodes ``{"type": "field", "field_name"|"field": name}``,
  ``{"type": "literal", "value": number|numeric string|null}`` and
  ``{"type": "call", "operator"|"function": op, "operands"|"args": [...]}``. Operator names are
  case-insensitive and may carry an ``Omni.`` prefix and an ``OMNI_FX_``/``OMNI_`` prefix.
* Without ``sql_expression`` (or when it is a string), ``original_formula`` is parsed as a sluice
  extension: an optional leading ``=``, field names (``view.field``, ``view.field[grain]``, or an
  earlier calculation's name), numbers, ``+ - * /`` with the usual precedence, parentheses, unary
  minus and ``PERCENT_OF_TOTAL``, ``RUNNING_TOTAL``, ``ROUND``, ``ABS`` (``OMNI_`` prefixed or
  not). It is a recursive-descent parser; nothing is ever evaluated as Python.
* Operators: ``PLUS`` and ``MULTIPLY`` (two or more operands), ``MINUS``, ``DIVIDE`` (x/0 is
  NULL), ``NEGATE``, ``ABS``, ``ROUND(x[, digits])`` (``digits`` an integer literal, default 0,
  halves rounded away from zero as spreadsheets do), ``PERCENT_OF_TOTAL(x)`` (x divided by the
  sum of x over the returned rows, a fraction; NULL everywhere when that sum is 0 or NULL) and
  ``RUNNING_TOTAL(x)`` (cumulative sum in row order; a NULL counts as 0, so a NULL row shows the
  running total so far). Arithmetic on NULL gives NULL.
* Operands are numeric columns (integer, floating, decimal), earlier valid calculations, and
  numeric literals. Values are computed as float64.
* A calculation that cannot be computed is never an exception: its column is omitted and
  ``invalid[calc_name]`` names the problem (unknown operator or function, bad arity, unknown
  field, a non-numeric field, a parse error, a duplicate ``calc_name`` or one that is already a
  field, a reference to itself, to an invalid calculation or to one defined later, or any
  calculation at all when the query pivots). A calculation without a usable ``calc_name`` is
  reported under ``calculations[<index>]``. A duplicate name keeps the first definition; when the
  first was itself invalid its reason is kept.
* Placement: a calculation's column goes where its name appears in the query's ``fields`` (after
  the nearest earlier field that is a column), else at the end, in calculation order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.compiler.types import FieldMeta
from sluice.postquery._arrow import is_numeric

PIVOT_REASON = "table calculations are not supported together with pivots yet"
MAX_DEPTH = 100

# Operator -> (fewest operands, most operands or None for no limit).
ARITY: Mapping[str, tuple[int, int | None]] = {
    "PLUS": (2, None),
    "MINUS": (2, 2),
    "MULTIPLY": (2, None),
    "DIVIDE": (2, 2),
    "NEGATE": (1, 1),
    "ABS": (1, 1),
    "ROUND": (1, 2),
    "PERCENT_OF_TOTAL": (1, 1),
    "RUNNING_TOTAL": (1, 1),
}
FORMULA_FUNCTIONS = frozenset({"PERCENT_OF_TOTAL", "RUNNING_TOTAL", "ROUND", "ABS"})
_VARIADIC = frozenset({"PLUS", "MULTIPLY"})


class CalcError(Exception):
    """Why one calculation cannot be computed (becomes its ``invalid_calculations`` reason)."""


@dataclass(frozen=True, slots=True)
class FieldRef:
    name: str


@dataclass(frozen=True, slots=True)
class Literal:
    value: float | None


@dataclass(frozen=True, slots=True)
class Call:
    op: str  # canonical: a key of ARITY
    args: tuple[Expr, ...]

    def __post_init__(self) -> None:
        low, high = ARITY[self.op]
        count = len(self.args)
        if count < low or (high is not None and count > high):
            if low == high:
                wanted = f"{low} operand" + ("s" if low > 1 else "")
            else:
                wanted = f"{low} to {high} operands" if high else f"at least {low} operands"
            raise CalcError(f"{self.op} takes {wanted}, got {count}")
        if self.op == "ROUND" and count == 2:
            digits = self.args[1]
            if not (isinstance(digits, Literal) and _integral(digits.value)):
                raise CalcError("ROUND digits must be an integer literal")


Expr = FieldRef | Literal | Call


@dataclass(frozen=True, slots=True)
class CalcOutcome:
    table: pa.Table
    summaries: Mapping[str, Mapping[str, Any]]
    invalid: Mapping[str, str]
    added: tuple[str, ...]  # calc columns now in the table


def canonical_operator(name: str) -> str:
    """``Omni.OMNI_FX_PLUS``, ``omni_fx_plus``, ``PLUS`` -> ``PLUS``."""
    op = name.strip().upper()
    op = op.removeprefix("OMNI.")
    for prefix in ("OMNI_FX_", "OMNI_"):
        if op.startswith(prefix):
            return op[len(prefix) :]
    return op


def make_call(name: str, args: Sequence[Expr]) -> Call:
    op = canonical_operator(name)
    if op not in ARITY:
        raise CalcError(f"unknown operator {name!r}")
    return Call(op, tuple(args))


# -- the JSON tree ------------------------------------------------------------------------------


def from_tree(node: Any, depth: int = 0) -> Expr:
    """An expression from the client's ``sql_expression`` tree."""
    if depth > MAX_DEPTH:
        raise CalcError(f"expression nests deeper than {MAX_DEPTH} levels")
    if not isinstance(node, Mapping):
        raise CalcError(f"expression node must be an object, got {type(node).__name__}")
    kind = str(node.get("type", "")).lower()
    if kind == "field":
        name = node.get("field_name", node.get("field"))
        if not isinstance(name, str) or not name:
            raise CalcError("field node needs a field_name string")
        return FieldRef(name)
    if kind == "literal":
        return Literal(_number(node.get("value")))
    if kind == "call":
        op = node.get("operator", node.get("function"))
        if not isinstance(op, str):
            raise CalcError("call node needs an operator string")
        operands = node.get("operands", node.get("args", []))
        if not isinstance(operands, list):
            raise CalcError(f"operands of {op!r} must be an array")
        return make_call(op, [from_tree(o, depth + 1) for o in operands])
    raise CalcError(f"unknown expression node type {node.get('type')!r}")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise CalcError(f"literal {str(value).lower()} is not a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise CalcError(f"literal {value!r} is not a number") from None
    raise CalcError(f"literal {value!r} is not a number")


def _integral(value: float | None) -> bool:
    return value is not None and float(value).is_integer()


# -- the formula language -----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?:\[[A-Za-z0-9_]+\])?)
    |(?P<op>[-+*/(),])""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number | name | op | end
    text: str
    position: int  # 1-based column in the formula


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise CalcError(f"unexpected character {text[position]!r} at position {position + 1}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position + 1))
        position = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


@dataclass(slots=True)
class _Parser:
    tokens: list[Token]
    at: int = 0
    depth: int = field(default=0)

    def parse(self) -> Expr:
        expr = self.sum()
        self.expect("end")
        return expr

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, kind: str, text: str | None = None) -> Token:
        token = self.peek()
        if token.kind != kind or (text is not None and token.text != text):
            raise CalcError(f"{_describe(token)} at position {token.position}")
        return self.take()

    def binary(self, operators: Mapping[str, str], operand: Callable[[], Expr]) -> Expr:
        left = operand()
        chained = False  # ``a + b + c`` becomes one PLUS of three operands (shallow trees)
        while self.peek().kind == "op" and self.peek().text in operators:
            op = operators[self.take().text]
            right = operand()
            if chained and isinstance(left, Call) and left.op == op and op in _VARIADIC:
                left = Call(op, (*left.args, right))
            else:
                left = Call(op, (left, right))
            chained = True
        return left

    def sum(self) -> Expr:
        return self.binary({"+": "PLUS", "-": "MINUS"}, self.product)

    def product(self) -> Expr:
        return self.binary({"*": "MULTIPLY", "/": "DIVIDE"}, self.unary)

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalcError(f"formula nests deeper than {MAX_DEPTH} levels")

    def unary(self) -> Expr:
        token = self.peek()
        if token.kind == "op" and token.text in "+-":
            self.take()
            self.nest()
            operand = self.unary()
            self.depth -= 1
            if token.text == "+":
                return operand
            if isinstance(operand, Literal) and operand.value is not None:
                return Literal(-operand.value)
            return Call("NEGATE", (operand,))
        return self.primary()

    def primary(self) -> Expr:
        token = self.take()
        if token.kind == "number":
            return Literal(float(token.text))
        if token.kind == "op" and token.text == "(":
            self.nest()
            expr = self.sum()
            self.expect("op", ")")
            self.depth -= 1
            return expr
        if token.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(token)
            return FieldRef(token.text)
        raise CalcError(f"{_describe(token)} at position {token.position}")

    def call(self, name: Token) -> Expr:
        if canonical_operator(name.text) not in FORMULA_FUNCTIONS:
            raise CalcError(f"unknown function {name.text!r} at position {name.position}")
        self.take()  # "("
        self.nest()
        args: list[Expr] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            args.append(self.sum())
            while self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                args.append(self.sum())
        self.expect("op", ")")
        self.depth -= 1
        return make_call(name.text, args)


def _describe(token: Token) -> str:
    return "unexpected end of formula" if token.kind == "end" else f"unexpected {token.text!r}"


def parse_formula(text: str) -> Expr:
    """Parse the formula language of the module docstring into an expression."""
    body = text
    if body.lstrip().startswith("="):  # blank the "=" so positions still count from the start
        body = body.replace("=", " ", 1)
    if not body.strip():
        raise CalcError("cannot parse formula: it is empty")
    try:
        return _Parser(tokenize(body)).parse()
    except CalcError as error:
        raise CalcError(f"cannot parse formula: {error}") from None


def nesting(expr: Expr) -> int:
    """Nesting depth of an expression (iterative: chains of ``+`` may be long)."""
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, Call):
            stack.extend((arg, level + 1) for arg in node.args)
    return deepest


def expression_of(calc: Mapping[str, Any]) -> Expr:
    tree = calc.get("sql_expression")
    formula = calc.get("original_formula")
    if isinstance(tree, Mapping):
        expr = from_tree(tree)
    elif isinstance(tree, str) and tree.strip():
        expr = parse_formula(tree)
    elif isinstance(formula, str) and formula.strip():
        expr = parse_formula(formula)
    else:
        raise CalcError("calculation has neither a sql_expression nor an original_formula")
    if nesting(expr) > MAX_DEPTH:
        raise CalcError(f"expression nests deeper than {MAX_DEPTH} levels")
    return expr


# -- evaluation -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Scope:
    """Names a calculation may use: numeric columns, earlier calculations, and what is not there."""

    table: pa.Table
    metas: Mapping[str, FieldMeta]
    later: frozenset[str]
    computed: dict[str, pa.Array] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    current: str = ""
    _cast: dict[str, pa.Array] = field(default_factory=dict)

    def lookup(self, name: str) -> pa.Array:
        if name == self.current:
            raise CalcError(f"calculation {name!r} references itself")
        if name in self.table.column_names:
            return self.column(name)
        if name in self.computed:
            return self.computed[name]
        if name in self.failed:
            raise CalcError(f"references invalid calculation {name!r}")
        if name in self.later:
            raise CalcError(f"references calculation {name!r}, which is defined later")
        raise CalcError(f"unknown field {name!r}")

    def column(self, name: str) -> pa.Array:
        if name not in self._cast:
            column = self.table.column(name)
            if not is_numeric(column.type):
                meta = self.metas.get(name)
                kind = meta.data_type if meta else str(column.type)
                raise CalcError(f"field {name!r} is {kind}, not a number")
            self._cast[name] = column.combine_chunks().cast(pa.float64())
        return self._cast[name]


_NULL = pa.scalar(None, type=pa.float64())


def evaluate(expr: Expr, scope: _Scope) -> pa.Array:
    """The float64 column of ``expr`` over the scope's rows."""
    rows = scope.table.num_rows
    if isinstance(expr, FieldRef):
        return scope.lookup(expr.name)
    if isinstance(expr, Literal):
        if expr.value is None:
            return pa.nulls(rows, type=pa.float64())
        return pa.array(np.full(rows, expr.value, dtype=np.float64))
    if expr.op == "ROUND":
        value = evaluate(expr.args[0], scope)
        return pc.round(value, ndigits=_digits(expr), round_mode="half_towards_infinity")
    args = [evaluate(a, scope) for a in expr.args]
    return _apply(expr.op, args)


def _digits(call: Call) -> int:
    """ROUND's digits (checked to be an integer literal when the call was built)."""
    if len(call.args) < 2:
        return 0
    digits = call.args[1]
    return int(digits.value or 0) if isinstance(digits, Literal) else 0


def _apply(op: str, args: list[pa.Array]) -> pa.Array:
    first = args[0]
    if op == "PLUS":
        return _fold(pc.add, args)
    if op == "MULTIPLY":
        return _fold(pc.multiply, args)
    if op == "MINUS":
        return pc.subtract(first, args[1])
    if op == "DIVIDE":
        return pc.if_else(pc.equal(args[1], 0.0), _NULL, pc.divide(first, args[1]))
    if op == "NEGATE":
        return pc.negate(first)
    if op == "ABS":
        return pc.abs(first)
    if op == "PERCENT_OF_TOTAL":
        total = pc.sum(first, min_count=1).as_py()
        if total is None or total == 0:
            return pa.nulls(len(first), type=pa.float64())
        return pc.divide(first, total)
    if op == "RUNNING_TOTAL":
        return pc.cumulative_sum(pc.fill_null(first, 0.0))
    raise CalcError(f"unknown operator {op!r}")  # unreachable: Call checks its operator


def _fold(function: Callable[[pa.Array, pa.Array], pa.Array], args: list[pa.Array]) -> pa.Array:
    result = args[0]
    for arg in args[1:]:
        result = function(result, arg)
    return result


def calc_summary(name: str, label: Any) -> dict[str, Any]:
    return {
        "field_name": name,
        "fully_qualified_name": name,
        "view_name": None,
        "label": label if isinstance(label, str) and label else name,
        "data_type": "NUMBER",
        "is_dimension": False,
        "is_calc": True,
        "aggregate_type": None,
        "format": None,
        "hidden": False,
        "description": None,
    }


def apply_calculations(
    table: pa.Table,
    calculations: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    metas: Mapping[str, FieldMeta],
    blocked: str | None = None,
) -> CalcOutcome:
    """Compute every valid calculation as a new column; report the others (module docstring)."""
    invalid: dict[str, str] = {}
    names = [c.get("calc_name") for c in calculations]
    scope = _Scope(table, metas, frozenset(n for n in names if isinstance(n, str)))
    labels: dict[str, Any] = {}
    for index, (calc, name) in enumerate(zip(calculations, names, strict=True)):
        if not isinstance(name, str) or not name:
            invalid[f"calculations[{index}]"] = "calc_name must be a non-empty string"
            continue
        scope.later = frozenset(n for n in names[index + 1 :] if isinstance(n, str))
        if name in scope.computed or name in invalid:
            if name in scope.computed:
                invalid[name] = f"duplicate calc_name {name!r}; the first definition is used"
            continue
        reason = blocked or _collision(name, table)
        if reason is None:
            try:
                scope.current = name
                scope.computed[name] = evaluate(expression_of(calc), scope)
                labels[name] = calc.get("label")
                continue
            except CalcError as error:
                reason = str(error)
        invalid[name] = reason
        scope.failed.add(name)
    added = tuple(scope.computed)
    if not added:
        return CalcOutcome(table, {}, invalid, ())
    order = _placement(table.column_names, added, fields)
    columns = [scope.computed[n] if n in scope.computed else table.column(n) for n in order]
    out = pa.Table.from_arrays(
        [pa.chunked_array([c]) if isinstance(c, pa.Array) else c for c in columns], names=order
    )
    summaries = {n: calc_summary(n, labels[n]) for n in added}
    return CalcOutcome(out, summaries, invalid, added)


def _collision(name: str, table: pa.Table) -> str | None:
    if name in table.column_names:
        return f"calc_name {name!r} is already a field of the query"
    return None


def _placement(columns: Sequence[str], calcs: Sequence[str], fields: Sequence[str]) -> list[str]:
    out = list(columns)
    placed = set()
    for position, name in enumerate(fields):
        if name not in calcs or name in placed:
            continue
        earlier = [f for f in fields[:position] if f in out]
        at = max(out.index(f) for f in earlier) + 1 if earlier else 0
        out.insert(at, name)
        placed.add(name)
    out.extend(n for n in calcs if n not in placed)
    return out
