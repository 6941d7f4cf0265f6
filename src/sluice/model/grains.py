"""The time grains a field can be asked for (``created_at[month]``): one vocabulary.

Each grain's name and the data type of its values. The model loader validates ``timeframes``
against it, the compiler builds each grain's SQL (``sluice.compiler.grains``, one builder per
name here) and post-query fill works on the date grains.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

RAW = "raw"  # the timestamp itself, no truncation

# grain -> the data type of its values (DATE, TIMESTAMP, STRING, NUMBER)
GRAIN_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "date": "DATE",
        "week": "DATE",
        "month": "DATE",
        "quarter": "DATE",
        "year": "DATE",
        "hour": "TIMESTAMP",
        "minute": "TIMESTAMP",
        "second": "TIMESTAMP",
        "millisecond": "TIMESTAMP",
        "day_of_week_name": "STRING",
        "day_of_week_num": "NUMBER",
        "month_name": "STRING",
        "month_num": "NUMBER",
        "quarter_of_year": "NUMBER",
        "week_of_year": "NUMBER",
        "day_of_month": "NUMBER",
        "day_of_year": "NUMBER",
        "day_of_quarter": "NUMBER",
        "hour_of_day": "NUMBER",
        "fiscal_year": "NUMBER",
        "fiscal_quarter": "STRING",
        "epoch": "NUMBER",
        "time_of_day": "STRING",
    }
)

# Every grain a reference or a ``timeframes`` list may name.
GRAINS = frozenset({RAW, *GRAIN_TYPES})

# The date grains whose missing periods ``fill_fields`` can insert.
FILL_GRAINS = frozenset({"date", "week", "month", "quarter", "year"})
