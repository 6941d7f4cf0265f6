"""A result as an XLSX workbook: one sheet, a bold header row of labels, typed cells.

Numbers are numbers, booleans booleans, dates and timestamps real Excel dates (``yyyy-mm-dd``,
``yyyy-mm-dd hh:mm:ss``), nulls empty cells. With ``formatResults`` a number column keeps its
numbers and gets the Excel number format equivalent to its Omni format (``usdcurrency_2`` ->
``"$"#,##0.00``), so the sheet still sums; a date pattern writes the formatted text.

xlsxwriter's ``constant_memory`` mode writes each row out as it goes, so memory stays flat
however many rows there are. A zip file is only readable once complete, so the workbook is
built into a file first and sent afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import IO, Any

import pyarrow as pa
import xlsxwriter

from sluice.results.columns import Column, is_nested
from sluice.results.formats import DateFormat, NumberFormat

MAX_ROWS = 1_048_576 - 1  # Excel's sheet limit, less the header row
MAX_CELL_TEXT = 32_767
_SAMPLE_ROWS = 500
_MIN_WIDTH, _MAX_WIDTH = 8, 60

Writer = Callable[[Any, int, int, Any], None]  # (worksheet, row, col, value)


def write_xlsx(
    batches: Iterable[pa.RecordBatch],
    columns: Sequence[Column],
    out: IO[bytes],
    *,
    formatted: bool = False,
    sheet: str = "Results",
) -> int:
    """Write the workbook to ``out``; returns the number of data rows written."""
    workbook = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "remove_timezone": True,
        },
    )
    try:
        worksheet = workbook.add_worksheet(sheet)
        header = workbook.add_format({"bold": True})
        writers = [_writer(workbook, c, formatted) for c in columns]
        widths = [len(c.label) for c in columns]
        worksheet.freeze_panes(1, 0)
        row = 0
        sized = False
        for batch in batches:
            values = [_values(batch.column(i), c) for i, c in enumerate(columns)]
            if not sized:
                _measure(values, columns, widths, formatted)
                _set_widths(worksheet, widths)
                worksheet.write_row(0, 0, [c.label for c in columns], header)
                sized = True
            for cells in zip(*values, strict=True):
                row += 1
                if row > MAX_ROWS:
                    raise ValueError(f"a sheet holds at most {MAX_ROWS:,} rows")
                for col, value in enumerate(cells):
                    if value is not None:
                        writers[col](worksheet, row, col, value)
        if not sized:
            _set_widths(worksheet, widths)
            worksheet.write_row(0, 0, [c.label for c in columns], header)
    finally:
        workbook.close()
    return row


def _values(array: pa.Array | pa.ChunkedArray, column: Column) -> list[Any]:
    values: list[Any] = array.to_pylist()
    if is_nested(column.arrow_type):
        return [None if v is None else json.dumps(v, default=str) for v in values]
    return values


def _writer(workbook: Any, column: Column, formatted: bool) -> Writer:
    kind, fmt = column.arrow_type, column.format if formatted else None
    if isinstance(fmt, NumberFormat):
        cell = workbook.add_format({"num_format": fmt.excel})
        return lambda ws, r, c, v: _number(ws, r, c, v, cell)
    if isinstance(fmt, DateFormat):
        pattern = fmt
        return lambda ws, r, c, v: ws.write_string(r, c, pattern.text(v))
    if pa.types.is_boolean(kind):
        return lambda ws, r, c, v: ws.write_boolean(r, c, v)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return lambda ws, r, c, v: _number(ws, r, c, v, None)
    if pa.types.is_timestamp(kind) or pa.types.is_date64(kind):
        stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        return lambda ws, r, c, v: ws.write_datetime(r, c, v, stamp)
    if pa.types.is_date32(kind):
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        return lambda ws, r, c, v: ws.write_datetime(r, c, v, day)
    if pa.types.is_time(kind):
        clock = workbook.add_format({"num_format": "hh:mm:ss"})
        return lambda ws, r, c, v: ws.write_datetime(r, c, v, clock)
    return lambda ws, r, c, v: ws.write_string(r, c, _text(v)[:MAX_CELL_TEXT])


def _number(ws: Any, row: int, col: int, value: Any, cell: Any) -> None:
    number = float(value) if isinstance(value, Decimal) else value
    if isinstance(number, float) and (number != number or number in (float("inf"), -float("inf"))):
        return  # NaN and infinities: an empty cell
    ws.write_number(row, col, number, cell)


def _text(value: Any) -> str:
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _measure(
    values: list[list[Any]], columns: Sequence[Column], widths: list[int], formatted: bool
) -> None:
    """Column widths from the header and the display text of the first rows."""
    for col, (column, cells) in enumerate(zip(columns, values, strict=True)):
        fmt = column.format if formatted else None
        for value in cells[:_SAMPLE_ROWS]:
            if value is None:
                continue
            if fmt is not None:
                text = fmt.text(value)
            elif isinstance(value, float):
                text = f"{value:.6g}"
            elif isinstance(value, dt.datetime):
                text = "yyyy-mm-dd hh:mm:ss"
            else:
                text = _text(value)
            widths[col] = max(widths[col], len(text))


def _set_widths(worksheet: Any, widths: list[int]) -> None:
    for col, width in enumerate(widths):
        worksheet.set_column(col, col, min(_MAX_WIDTH, max(_MIN_WIDTH, width + 2)))
