"""View files: a view, its dimensions (with groups and bins), filter-only fields and measures.

Each value is checked where it is read, so an issue points at the line that holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sluice.errors import did_you_mean
from sluice.model.files import YamlFile, line_of
from sluice.model.filters import Filter, FilterSyntaxError, parse_yaml_filter, to_decimal
from sluice.model.grains import GRAINS
from sluice.model.issues import IssueLog
from sluice.model.parse.common import (
    ColumnTypes,
    DerivedTypes,
    expect_mapping,
    text_of,
    warn_unknown_keys,
)
from sluice.model.types import (
    AGGREGATE_TYPES,
    DATA_TYPES,
    DEFAULT_TIMEFRAMES,
    DISTINCT_ON_TYPES,
    UNKNOWN,
    Dimension,
    Loc,
    Measure,
    View,
    label_for,
)
from sluice.model.vocabulary import DIMENSION_KEYS, MEASURE_KEYS, VIEW_KEYS


def parse_view(
    name: str,
    file: YamlFile,
    log: IssueLog,
    settings: Mapping[str, Any],
    column_types: ColumnTypes | None,
    derived_types: DerivedTypes | None = None,
) -> View:
    """The view of a view file. With ``column_types`` (or ``derived_types`` for a derived
    table), plain columns take the warehouse's types and a missing table or column is an issue."""
    spec = expect_mapping(file.data, Loc(file.path, 1), f"view `{name}`", log)
    warn_unknown_keys(spec, VIEW_KEYS, file.path, f"view `{name}`", log)
    sql = text_of(spec, "sql")
    table_name = None if sql else str(spec.get("table_name") or name)
    schema = text_of(spec, "schema")
    columns: Mapping[str, str] | None = None
    if derived_types is not None and sql is not None:
        columns = derived_types(sql)
        if columns is None:
            log.error(
                Loc(file.path, line_of(spec, "sql")),
                f"view `{name}`: the warehouse rejects its derived-table `sql`",
            )
    if column_types is not None and table_name is not None:
        columns = column_types(table_name, schema)
        if columns is None:
            qualified = f"{schema}.{table_name}" if schema else table_name
            log.error(
                Loc(file.path, line_of(spec, "table_name")),
                f"view `{name}`: table `{qualified}` does not exist in the warehouse",
            )
    timeframes_default = tuple(settings.get("default_timeframes") or DEFAULT_TIMEFRAMES)
    dims_spec = expect_mapping(
        spec.get("dimensions"), Loc(file.path, line_of(spec, "dimensions")), "dimensions", log
    )
    dimensions = {
        dname: _dimension(
            name,
            str(dname),
            dspec,
            file.path,
            line_of(dims_spec, dname),
            log,
            columns,
            timeframes_default,
        )
        for dname, dspec in dims_spec.items()
    }
    filters_spec = expect_mapping(
        spec.get("filters"), Loc(file.path, line_of(spec, "filters")), "filters", log
    )
    filter_fields = {
        fname: _dimension(
            name,
            str(fname),
            fspec,
            file.path,
            line_of(filters_spec, fname),
            log,
            columns,
            timeframes_default,
        )
        for fname, fspec in filters_spec.items()
    }
    meas_spec = expect_mapping(
        spec.get("measures"), Loc(file.path, line_of(spec, "measures")), "measures", log
    )
    measures = {
        mname: _measure(name, str(mname), mspec, file.path, line_of(meas_spec, mname), log)
        for mname, mspec in meas_spec.items()
    }
    for mname in measures:
        if mname in dimensions:
            log.error(measures[mname].loc, f"`{name}.{mname}` is both a dimension and a measure")
    pks = [d for d in dimensions.values() if d.primary_key]
    if len(pks) > 1:
        log.error(
            pks[1].loc,
            f"view `{name}` has more than one primary_key dimension "
            f"({', '.join(d.name for d in pks)})",
        )
    return View(
        name=name,
        table_name=table_name,
        schema=schema,
        sql=sql,
        label=str(spec.get("label") or label_for(name)),
        description=text_of(spec, "description"),
        hidden=bool(spec.get("hidden", False)),
        dimensions=dimensions,
        measures=measures,
        filter_fields=filter_fields,
        loc=Loc(file.path, 1),
    )


def _dimension(
    view: str,
    name: str,
    spec: Any,
    file: str,
    line: int,
    log: IssueLog,
    columns: Mapping[str, str] | None,
    timeframes_default: tuple[str, ...],
) -> Dimension:
    loc = Loc(file, line)
    spec = expect_mapping(spec, loc, f"dimension `{view}.{name}`", log)
    warn_unknown_keys(spec, DIMENSION_KEYS, file, f"dimension `{view}.{name}`", log)
    sql = text_of(spec, "sql")
    declared = text_of(spec, "type")
    if declared is not None and declared not in DATA_TYPES:
        log.error(
            Loc(file, line_of(spec, "type")),
            f"`{view}.{name}`: unknown type `{declared}`{did_you_mean(declared, DATA_TYPES)}",
        )
        declared = None
    dtype = declared or UNKNOWN
    if declared is None and sql is None and columns is not None:
        if name in columns:
            dtype = columns[name]
        else:
            log.error(
                loc,
                f"`{view}.{name}`: no column `{name}` in the table"
                f"{did_you_mean(name, columns)}; give the dimension `sql`",
            )
    timeframes = tuple(str(t) for t in (spec.get("timeframes") or timeframes_default))
    for tf in timeframes:
        if tf not in GRAINS:
            log.error(
                Loc(file, line_of(spec, "timeframes", line)),
                f"`{view}.{name}`: unknown timeframe `{tf}`{did_you_mean(tf, GRAINS)}",
            )
    groups, group_else, bins = _groups_and_bins(view, name, spec, file, line, log)
    if groups or bins:
        dtype = "string"
    return Dimension(
        view=view,
        name=name,
        sql=sql,
        type=dtype,
        primary_key=bool(spec.get("primary_key", False)),
        label=str(spec.get("label") or label_for(name)),
        description=text_of(spec, "description"),
        format=text_of(spec, "format"),
        hidden=bool(spec.get("hidden", False)),
        timeframes=timeframes,
        convert_tz=bool(spec.get("convert_tz", True)),
        group_label=text_of(spec, "group_label"),
        loc=loc,
        groups=groups,
        group_else=group_else,
        bin_boundaries=bins,
    )


def _groups_and_bins(
    view: str, name: str, spec: Mapping[str, Any], file: str, line: int, log: IssueLog
) -> tuple[tuple[tuple[str, Filter], ...], str | None, tuple[Decimal, ...]]:
    """``groups`` (a list of ``{filter, name}`` plus ``else``) and ``bin_boundaries``."""
    where = f"`{view}.{name}`"
    groups: list[tuple[str, Filter]] = []
    raw = spec.get("groups")
    if raw is not None and not isinstance(raw, list):
        log.error(Loc(file, line_of(spec, "groups", line)), f"{where}: groups must be a list")
        raw = None
    for item in raw or []:
        here = Loc(file, line_of(item, default=line))
        if not isinstance(item, Mapping) or "name" not in item or "filter" not in item:
            log.error(here, f"{where}: each group needs `name` and `filter`")
            continue
        try:
            groups.append((str(item["name"]), parse_yaml_filter(item["filter"])))
        except FilterSyntaxError as exc:
            log.error(here, f"{where} group {item['name']!r}: {exc}")
    bins: list[Decimal] = []
    raw_bins = spec.get("bin_boundaries")
    if raw_bins is not None:
        here = Loc(file, line_of(spec, "bin_boundaries", line))
        try:
            if not isinstance(raw_bins, list) or not raw_bins:
                raise FilterSyntaxError("a non-empty list of numbers")
            bins = [to_decimal(b, "bin_boundaries") for b in raw_bins]
            if bins != sorted(set(bins)):
                raise FilterSyntaxError("ascending numbers without repeats")
        except FilterSyntaxError as exc:
            log.error(here, f"{where}: bin_boundaries must be {exc}")
            bins = []
    if groups and bins:
        log.error(Loc(file, line), f"{where}: use either groups or bin_boundaries, not both")
    group_else = text_of(spec, "else")
    return tuple(groups), group_else, tuple(bins)


def _measure(view: str, name: str, spec: Any, file: str, line: int, log: IssueLog) -> Measure:
    loc = Loc(file, line)
    spec = expect_mapping(spec, loc, f"measure `{view}.{name}`", log)
    warn_unknown_keys(spec, MEASURE_KEYS, file, f"measure `{view}.{name}`", log)
    agg = text_of(spec, "aggregate_type")
    if agg is not None:
        agg = agg.lower()
        known = AGGREGATE_TYPES
        if agg not in known:
            log.error(
                Loc(file, line_of(spec, "aggregate_type")),
                f"`{view}.{name}`: unknown aggregate_type `{agg}`{did_you_mean(agg, known)}",
            )
    sql = text_of(spec, "sql")
    if agg is None and sql is None:
        log.error(
            loc,
            f"`{view}.{name}`: a measure needs `aggregate_type` or `sql` combining other measures",
        )
    filters: list[tuple[str, Filter]] = []
    floc = Loc(file, line_of(spec, "filters", line))
    fspec = expect_mapping(spec.get("filters"), floc, "filters", log)
    for key, value in fspec.items():
        try:
            filters.append((str(key), parse_yaml_filter(value)))
        except FilterSyntaxError as exc:
            log.error(Loc(file, line_of(fspec, key)), f"`{view}.{name}` filter on `{key}`: {exc}")
    percentile = spec.get("percentile")
    if agg == "percentile" and (
        isinstance(percentile, bool)
        or not isinstance(percentile, int | float)
        or not 0 <= percentile <= 100
    ):
        log.error(
            Loc(file, line_of(spec, "percentile", line)),
            f"`{view}.{name}`: aggregate_type percentile needs `percentile:` from 0 to 100",
        )
        percentile = None
    key_sql = text_of(spec, "custom_primary_key_sql")
    if agg in DISTINCT_ON_TYPES and key_sql is None:
        log.error(
            loc,
            f"`{view}.{name}`: aggregate_type {agg} needs `custom_primary_key_sql`, the key "
            "whose rows are counted once",
        )
    if agg in ("median", "percentile", "list", *DISTINCT_ON_TYPES) and sql is None:
        log.error(loc, f"`{view}.{name}`: aggregate_type {agg} needs `sql`")
    return Measure(
        view=view,
        name=name,
        sql=sql,
        aggregate_type=agg,
        filters=tuple(filters),
        label=str(spec.get("label") or label_for(name)),
        description=text_of(spec, "description"),
        format=text_of(spec, "format"),
        hidden=bool(spec.get("hidden", False)),
        group_label=text_of(spec, "group_label"),
        loc=loc,
        percentile=float(percentile) if agg == "percentile" and percentile is not None else None,
        custom_primary_key_sql=key_sql,
    )
