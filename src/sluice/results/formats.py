"""Omni's named field formats, applied to values (``formatResults``) and as Excel number formats.

A field's ``format`` (``summary.fields[name].format.value``) names how its values display:

* numbers: ``number``, ``percent`` (x100, ``%``), ``id`` (no separators), ``thousands`` (``K``),
  ``millions`` (``M``), ``billions`` (``B``), ``big`` (the largest of those that fits);
* money: ``currency`` and ``accounting`` (negatives in parentheses), optionally prefixed by an
  ISO currency code (``usdcurrency``, ``eurcurrency``, ``gbpaccounting``; bare: US dollars);
* each optionally suffixed ``_<decimals>`` (``usdcurrency_2``, ``percent_1``, ``number_0``).
  Without the suffix a value shows up to two decimals, trailing zeros dropped (Omni: "truncated
  to the shortest possible length for each row");
* dates and timestamps: a d3/strftime pattern such as ``%Y-%m-%d`` or ``%b %d, %Y``.

Anything else (an Excel-style pattern, a custom format, a typo) is not recognised: the value is
left as it is, never an error.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import pyarrow as pa

# Symbols of the common ISO codes; any other three-letter code is written as "SEK 1,234.50".
CURRENCY_SYMBOLS = {
    "usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cny": "¥", "inr": "₹", "krw": "₩",
    "aud": "A$", "cad": "CA$", "nzd": "NZ$", "hkd": "HK$", "sgd": "S$", "mxn": "MX$",
    "brl": "R$", "chf": "CHF ", "ils": "₪", "php": "₱", "thb": "฿", "try": "₺", "rub": "₽",
    "pln": "zł ", "zar": "R ", "vnd": "₫", "ngn": "₦",
}  # fmt: skip
_NUMBER_STYLES = ("number", "percent", "id", "thousands", "millions", "billions", "big")
_MONEY_STYLES = ("currency", "accounting")
_NAMED = re.compile(
    r"^(?:(?P<plain>" + "|".join(_NUMBER_STYLES) + r")"
    r"|(?P<code>[a-z]{3})?(?P<money>" + "|".join(_MONEY_STYLES) + r"))"
    r"(?:_(?P<decimals>\d{1,2}))?$"
)
_SCALES = {"thousands": (1e3, "K"), "millions": (1e6, "M"), "billions": (1e9, "B")}
Number = int | float | Decimal
_QUANTA = [Decimal(1).scaleb(-places) for places in range(100)]


@dataclass(frozen=True, slots=True)
class NumberFormat:
    style: str  # one of _NUMBER_STYLES or _MONEY_STYLES
    decimals: int | None  # None: up to two, trailing zeros dropped
    symbol: str = ""  # money styles: "$", "€", "SEK ", ...

    def text(self, value: Number) -> str:
        if self.style == "id":
            return _id_text(value)
        number = float(value)
        if not math.isfinite(number):
            return str(number)
        if self.style == "percent":
            return _fixed(number * 100, self.decimals) + "%"
        if self.style in _MONEY_STYLES:
            body = self.symbol + _fixed(abs(number), self.decimals)
            negative = _fixed(number, self.decimals).startswith("-")
            if not negative:
                return body
            return f"({body})" if self.style == "accounting" else "-" + body
        if self.style in _SCALES:
            scale, suffix = _SCALES[self.style]
            return _fixed(number / scale, self.decimals) + suffix
        if self.style == "big":
            for name in ("billions", "millions", "thousands"):
                scale, suffix = _SCALES[name]
                if abs(number) >= scale:
                    return _fixed(number / scale, self.decimals) + suffix
        return _fixed(number, self.decimals)

    @property
    def excel(self) -> str:
        """The same format as an Excel number format (the cell keeps its number)."""
        digits = 2 if self.decimals is None else self.decimals
        body = "#,##0" + ("." + "0" * digits if digits else "")
        if self.style == "id":
            return "0"
        if self.style == "percent":
            return body.removeprefix("#,##") + "%"
        if self.style in _MONEY_STYLES:
            money = f'"{self.symbol}"{body}'
            return f"{money};({money})" if self.style == "accounting" else money
        if self.style in _SCALES:
            scale, suffix = _SCALES[self.style]
            return body + "," * round(math.log10(scale) / 3) + f'"{suffix}"'
        if self.style == "big":
            return f'[>=1000000]{body},,"M";[>=1000]{body},"K";{body}'
        return body


@dataclass(frozen=True, slots=True)
class DateFormat:
    pattern: str  # strftime / d3 time directives: %Y, %m, %d, %b, %B, %H, %M, %S, %-d, ...

    def text(self, value: dt.date) -> str:
        return value.strftime(self.pattern)


ValueFormat = NumberFormat | DateFormat


@lru_cache(maxsize=256)
def parse_format(name: str | None) -> ValueFormat | None:
    """The format ``name`` describes, or None when sluice does not recognise it."""
    if not name:
        return None
    text = name.strip()
    if "%" in text:
        return DateFormat(text)
    found = _NAMED.match(text.lower())
    if found is None:
        return None
    decimals = int(found["decimals"]) if found["decimals"] is not None else None
    if found["plain"]:
        return NumberFormat(found["plain"], decimals)
    code = found["code"] or "usd"
    symbol = CURRENCY_SYMBOLS.get(code, code.upper() + " ")
    return NumberFormat(found["money"], decimals, symbol)


def applies_to(fmt: ValueFormat, arrow_type: pa.DataType) -> bool:
    """Whether ``fmt`` formats values of ``arrow_type`` (others are left as they are)."""
    if isinstance(fmt, DateFormat):
        return bool(pa.types.is_temporal(arrow_type))
    return bool(
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )


def format_array(array: pa.Array | pa.ChunkedArray, fmt: ValueFormat) -> pa.Array:
    """``array`` as display strings (nulls stay null)."""
    out: list[str | None] = []
    append = out.append
    text = fmt.text
    for value in array.to_pylist():
        append(None if value is None else text(value))
    return pa.array(out, pa.string())


def _fixed(number: float, decimals: int | None) -> str:
    """Grouped, rounded half away from zero as people (and Omni) round: 1234.5 -> "1,235"."""
    places = 2 if decimals is None else decimals
    exact = Decimal(repr(number)).quantize(_QUANTA[places], rounding=ROUND_HALF_UP)
    text = f"{exact:,f}"
    if decimals is None and "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.startswith("-") and not text.strip("-0.,"):
        return text[1:]  # "-0.00": a value that rounds to zero has no sign
    return text


def _id_text(value: Number) -> str:
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return str(value)
