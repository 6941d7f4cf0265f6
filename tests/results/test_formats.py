"""Omni's named formats (``formatResults``): display text and the Excel number format."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from sluice.results.formats import DateFormat, NumberFormat, applies_to, format_array, parse_format

CASES = [
    ("usdcurrency_2", 1234.567, "$1,234.57"),
    ("usdcurrency_2", -1234.567, "-$1,234.57"),
    ("usdcurrency_2", 2.675, "$2.68"),  # half away from zero, as people round
    ("usdcurrency_0", 1234.5, "$1,235"),
    ("currency_2", 1234.567, "$1,234.57"),  # no code: US dollars
    ("eurcurrency_2", 1234.567, "€1,234.57"),
    ("gbpcurrency_1", 0.25, "£0.3"),
    ("sekcurrency_0", 1500, "SEK 1,500"),  # a code without a symbol of its own
    ("usdaccounting_2", -5, "($5.00)"),
    ("usdaccounting_2", 5, "$5.00"),
    ("percent_1", 0.1234, "12.3%"),
    ("percent_0", 1, "100%"),
    ("percent", 0.12345, "12.35%"),
    ("number_0", 1234.5, "1,235"),
    ("number_0", 1234.4, "1,234"),
    ("number_2", 1234.5, "1,234.50"),
    ("number_4", 1.5, "1.5000"),
    ("number", 1234.5, "1,234.5"),  # no suffix: up to two decimals, trailing zeros dropped
    ("number", 1234, "1,234"),
    ("number_2", -0.001, "0.00"),  # a value that rounds to zero has no sign
    ("id", 1234567, "1234567"),
    ("id", 1234567.0, "1234567"),
    ("thousands_2", 8900, "8.90K"),
    ("millions_1", 5_600_000, "5.6M"),
    ("billions_2", 1_200_000_000, "1.20B"),
    ("big_2", 5_600_000, "5.60M"),
    ("big_2", 1234, "1.23K"),
    ("big_2", 12.234, "12.23"),
    ("number_2", Decimal("1234.565"), "1,234.57"),
]


@pytest.mark.parametrize(("name", "value", "text"), CASES)
def test_named_formats(name: str, value: float, text: str) -> None:
    fmt = parse_format(name)
    assert fmt is not None
    assert fmt.text(value) == text


@pytest.mark.parametrize(
    ("name", "excel"),
    [
        ("usdcurrency_2", '"$"#,##0.00'),
        ("eurcurrency_0", '"€"#,##0'),
        ("usdaccounting_2", '"$"#,##0.00;("$"#,##0.00)'),
        ("percent_1", "0.0%"),
        ("number_0", "#,##0"),
        ("number", "#,##0.00"),
        ("id", "0"),
        ("thousands_1", '#,##0.0,"K"'),
        ("millions_2", '#,##0.00,,"M"'),
        ("big_1", '[>=1000000]#,##0.0,,"M";[>=1000]#,##0.0,"K";#,##0.0'),
    ],
)
def test_excel_number_formats(name: str, excel: str) -> None:
    fmt = parse_format(name)
    assert isinstance(fmt, NumberFormat) and fmt.excel == excel


@pytest.mark.parametrize("name", [None, "", "bogus", "number_x", "usdcurrencies", "#,##0.00 kg"])
def test_unknown_formats_are_not_recognised(name: str | None) -> None:
    assert parse_format(name) is None


def test_date_patterns() -> None:
    fmt = parse_format("%b %d, %Y")
    assert isinstance(fmt, DateFormat)
    assert fmt.text(dt.date(2024, 3, 5)) == "Mar 05, 2024"
    assert fmt.text(dt.datetime(2024, 3, 5, 10, 30)) == "Mar 05, 2024"
    assert applies_to(fmt, pa.timestamp("us")) and applies_to(fmt, pa.date32())
    assert not applies_to(fmt, pa.float64())


def test_number_formats_apply_to_numbers_only() -> None:
    fmt = parse_format("usdcurrency_2")
    assert fmt is not None
    for kind in (pa.int32(), pa.float64(), pa.decimal128(10, 2)):
        assert applies_to(fmt, kind)
    assert not applies_to(fmt, pa.string()) and not applies_to(fmt, pa.date32())


def test_format_array_keeps_nulls() -> None:
    fmt = parse_format("number_0")
    assert fmt is not None
    out = format_array(pa.chunked_array([[1234, None], [5]]), fmt)
    assert out.type == pa.string() and out.to_pylist() == ["1,234", None, "5"]
