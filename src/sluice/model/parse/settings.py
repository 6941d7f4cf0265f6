"""``model.yaml``: the model's settings (dialect, fiscal year, week start, timeframes, the schema
layer's bounds)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot.dialects.dialect import Dialect

from sluice.errors import did_you_mean
from sluice.model.files import YamlFile, line_of
from sluice.model.grains import GRAINS
from sluice.model.issues import IssueLog
from sluice.model.parse.common import expect_mapping, warn_unknown_keys
from sluice.model.types import Loc
from sluice.model.vocabulary import MODEL_KEYS, WEEK_DAYS


def model_settings(file: YamlFile | None, log: IssueLog) -> Mapping[str, Any]:
    """The settings of ``model.yaml`` (empty without one); an unknown dialect is left out."""
    if file is None:
        return {}
    spec = expect_mapping(file.data, Loc(file.path, 1), "the model file", log)
    warn_unknown_keys(spec, MODEL_KEYS, file.path, "model", log)
    if "dialect" in spec:
        try:
            Dialect.get_or_raise(str(spec["dialect"]).lower())
        except ValueError:
            log.error(
                Loc(file.path, line_of(spec, "dialect")),
                f"unknown SQL dialect `{spec['dialect']}` (sqlglot's names: duckdb, postgres, "
                "spark, trino, snowflake, bigquery, ...)",
            )
            spec = {k: v for k, v in spec.items() if k != "dialect"}
    offset = spec.get("fiscal_month_offset", 0)
    if not isinstance(offset, int) or not 0 <= offset <= 11:
        log.error(
            Loc(file.path, line_of(spec, "fiscal_month_offset")),
            "fiscal_month_offset must be a whole number from 0 to 11",
        )
    day = str(spec.get("week_start_day", "monday")).lower()
    if day not in WEEK_DAYS:
        log.error(
            Loc(file.path, line_of(spec, "week_start_day")),
            f"week_start_day `{day}` is not a day name{did_you_mean(day, WEEK_DAYS)}",
        )
    for tf in spec.get("default_timeframes") or []:
        if str(tf) not in GRAINS:
            log.error(
                Loc(file.path, line_of(spec, "default_timeframes")),
                f"unknown timeframe `{tf}`{did_you_mean(str(tf), GRAINS)}",
            )
    return spec
