"""What differs between warehouses, as one table of rules per dialect.

sqlglot renders most constructs correctly for every dialect. The rules here cover the few it
cannot (or renders with different semantics): ISO day of week, day and month names, time zone
conversion, percentiles and string aggregation. A rule that a dialect cannot express is None,
and using it is an ``UNSUPPORTED`` error naming the feature and the dialect. Adding a dialect
is adding an entry to ``RULES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from sluice.errors import Unsupported

Build = Callable[..., exp.Expr]


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _str(text: str) -> exp.Expr:
    return exp.Literal.string(text)


def _within_group(fn: str, x: exp.Expr, fraction: float) -> exp.Expr:
    inner = _fn(fn, exp.Literal.number(fraction))
    order = exp.Order(expressions=[exp.Ordered(this=x, nulls_first=False)])
    return exp.WithinGroup(this=inner, expression=order)


# -- defaults (what sqlglot renders right for DuckDB and most engines) ---------------------------


def _isodow_extract(x: exp.Expr) -> exp.Expr:
    return exp.Extract(this=exp.var("ISODOW"), expression=x)


def _strftime(fmt: str) -> Build:
    def build(x: exp.Expr) -> exp.Expr:
        return exp.TimeToStr(this=x, format=_str(fmt))

    return build


def _at_time_zone(x: exp.Expr, tz: str) -> exp.Expr:
    """UTC wall time -> wall time in ``tz``: ``x AT TIME ZONE 'UTC' AT TIME ZONE tz``."""
    utc = exp.AtTimeZone(this=exp.cast(x, exp.DataType.Type.TIMESTAMP), zone=_str("UTC"))
    return exp.AtTimeZone(this=utc, zone=_str(tz))


def _percentile_cont(x: exp.Expr, fraction: float) -> exp.Expr:
    return _within_group("PERCENTILE_CONT", x, fraction)


def _timestamp_trunc(x: exp.Expr, unit: str) -> exp.Expr:
    return exp.TimestampTrunc(this=x, unit=exp.var(unit))


def _spark_timestamp_trunc(x: exp.Expr, unit: str) -> exp.Expr:
    """Spark's DATE_TRUNC returns TIMESTAMP (with local time zone) even for TIMESTAMP_NTZ."""
    ntz = exp.DataType.build("TIMESTAMP_NTZ", dialect="spark")
    return exp.cast(exp.TimestampTrunc(this=x, unit=exp.var(unit)), ntz)


_DAY_NAME = _strftime("%A")
_MONTH_NAME = _strftime("%B")


@dataclass(frozen=True, slots=True)
class DialectRules:
    name: str
    iso_day_of_week: Build = _isodow_extract  # Monday = 1 .. Sunday = 7
    day_name: Build = _DAY_NAME
    month_name: Build = _MONTH_NAME
    convert_tz: Build = _at_time_zone  # (timestamp, tz name)
    percentile: Build | None = _percentile_cont  # (value, fraction in [0, 1])
    list_agg: Build | None = None  # distinct values as text, sorted, ", "-separated
    week_unit: str = "WEEK"  # the truncation unit whose weeks start on Monday
    time_trunc: Build = _timestamp_trunc  # (timestamp, unit): truncated, still wall-clock time

    def need(self, rule: Build | None, feature: str) -> Build:
        if rule is None:
            raise Unsupported(f"{feature} is not supported on {self.name}")
        return rule


def _duckdb_percentile(x: exp.Expr, fraction: float) -> exp.Expr:
    return _fn("QUANTILE_CONT", x, exp.Literal.number(fraction))


def _pg_list(x: exp.Expr) -> exp.Expr:
    """``STRING_AGG(DISTINCT v, ', ' ORDER BY v)``: ORDER BY follows the last argument."""
    value = exp.cast(x, exp.DataType.Type.TEXT)
    separator = exp.Order(this=_str(", "), expressions=[exp.Ordered(this=value.copy())])
    return _fn("STRING_AGG", exp.Distinct(expressions=[value]), separator)


def _pg_name(pattern: str) -> Build:
    def build(x: exp.Expr) -> exp.Expr:
        return _fn("TO_CHAR", x, _str(pattern))

    return build


def _spark_tz(x: exp.Expr, tz: str) -> exp.Expr:
    """FROM_UTC_TIMESTAMP gives a TIMESTAMP with local time zone; keep the wall-clock time."""
    ntz = exp.DataType.build("TIMESTAMP_NTZ", dialect="spark")
    return exp.cast(_fn("FROM_UTC_TIMESTAMP", x, _str(tz)), ntz)


def _spark_isodow(x: exp.Expr) -> exp.Expr:
    """WEEKDAY is 0 for Monday; sqlglot's DAYOFWEEK-based formula puts Sunday at 2."""
    return exp.Add(this=_fn("WEEKDAY", x), expression=exp.Literal.number(1))


def _spark_name(pattern: str) -> Build:
    def build(x: exp.Expr) -> exp.Expr:
        return _fn("DATE_FORMAT", x, _str(pattern))

    return build


def _spark_percentile(x: exp.Expr, fraction: float) -> exp.Expr:
    return _fn("PERCENTILE", x, exp.Literal.number(fraction))  # exact, unlike percentile_approx


def _spark_list(x: exp.Expr) -> exp.Expr:
    values = _fn("COLLECT_SET", exp.cast(x, exp.DataType.Type.VARCHAR))
    return _fn("ARRAY_JOIN", _fn("ARRAY_SORT", values), _str(", "))


def _trino_tz(x: exp.Expr, tz: str) -> exp.Expr:
    with_utc = _fn("WITH_TIMEZONE", exp.cast(x, exp.DataType.Type.TIMESTAMP), _str("UTC"))
    return exp.cast(_fn("AT_TIMEZONE", with_utc, _str(tz)), exp.DataType.Type.TIMESTAMP)


def _trino_list(x: exp.Expr) -> exp.Expr:
    values = _fn("ARRAY_AGG", exp.Distinct(expressions=[exp.cast(x, exp.DataType.Type.VARCHAR)]))
    return _fn("ARRAY_JOIN", _fn("ARRAY_SORT", values), _str(", "))


def _snowflake_list(x: exp.Expr) -> exp.Expr:
    value = exp.cast(x, exp.DataType.Type.VARCHAR)
    agg = _fn("LISTAGG", exp.Distinct(expressions=[value]), _str(", "))
    order = exp.Order(expressions=[exp.Ordered(this=value.copy())])
    return exp.WithinGroup(this=agg, expression=order)


def _snowflake_tz(x: exp.Expr, tz: str) -> exp.Expr:
    return _fn("CONVERT_TIMEZONE", _str("UTC"), _str(tz), x)


def _bigquery_tz(x: exp.Expr, tz: str) -> exp.Expr:
    as_utc = _fn("TIMESTAMP", exp.cast(x, exp.DataType.Type.DATETIME), _str("UTC"))
    return _fn("DATETIME", as_utc, _str(tz))


def _bigquery_name(fmt: str) -> Build:
    def build(x: exp.Expr) -> exp.Expr:
        return _fn("FORMAT_DATETIME", _str(fmt), exp.cast(x, exp.DataType.Type.DATETIME))

    return build


RULES: dict[str, DialectRules] = {
    r.name: r
    for r in (
        DialectRules("duckdb", percentile=_duckdb_percentile, list_agg=_pg_list),
        DialectRules(
            "postgres",
            day_name=_pg_name("FMDay"),
            month_name=_pg_name("FMMonth"),
            list_agg=_pg_list,
        ),
        DialectRules(
            "spark",
            iso_day_of_week=_spark_isodow,
            day_name=_spark_name("EEEE"),
            month_name=_spark_name("MMMM"),
            convert_tz=_spark_tz,
            time_trunc=_spark_timestamp_trunc,
            percentile=_spark_percentile,
            list_agg=_spark_list,
        ),
        DialectRules(
            "trino",
            iso_day_of_week=lambda x: _fn("DAY_OF_WEEK", x),
            convert_tz=_trino_tz,
            percentile=None,  # Trino has only approx_percentile; never return an approximation
            list_agg=_trino_list,
        ),
        DialectRules(
            "snowflake",
            iso_day_of_week=lambda x: _fn("DAYOFWEEKISO", x),
            day_name=lambda x: _fn("DECODE", _fn("DAYNAME", x), *_snowflake_days()),
            convert_tz=_snowflake_tz,
            list_agg=_snowflake_list,
        ),
        DialectRules(
            "bigquery",
            iso_day_of_week=lambda x: exp.DayOfWeekIso(this=x),
            day_name=_bigquery_name("%A"),
            month_name=_bigquery_name("%B"),
            convert_tz=_bigquery_tz,
            list_agg=None,
            week_unit="ISOWEEK",  # BigQuery's WEEK starts on Sunday
        ),
    )
}


def _snowflake_days() -> list[exp.Expr]:
    short = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    full = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    out: list[exp.Expr] = []
    for s, f in zip(short, full, strict=True):
        out += [_str(s), _str(f)]
    return out


def rules(dialect: str) -> DialectRules:
    found = RULES.get(dialect)
    if found is None:
        raise Unsupported(
            f"dialect `{dialect}` is not supported; supported: {', '.join(sorted(RULES))}"
        )
    return found
