"""The vocabulary of a model's YAML: the keys each object admits, and the names of its values.

A key outside these is warned about ("unknown key ... ignored", with a suggestion), never an
error: a model written for a newer sluice still loads.
"""

from __future__ import annotations

VIEW_KEYS = frozenset(
    {
        "ignored",
        "schema",
        "table_name",
        "sql",
        "label",
        "description",
        "hidden",
        "dimensions",
        "measures",
        "filters",
        "name",
        "primary_key",
        "tags",
        "group_label",
    }
)
DIMENSION_KEYS = frozenset(
    {
        "ignored",
        "sql",
        "type",
        "primary_key",
        "label",
        "description",
        "format",
        "hidden",
        "timeframes",
        "convert_tz",
        "group_label",
        "groups",
        "else",
        "bin_boundaries",
        "synonyms",
        "tags",
        "ai_context",
        "all_values",
        "sample_values",
        "display_order",
        "order_by_field",
        "suggest_from_field",
        "view_label",
        "links",
        "drill_fields",
        "required_access_grants",
        "dimension_group",
    }
)
MEASURE_KEYS = frozenset(
    {
        "ignored",
        "sql",
        "aggregate_type",
        "filters",
        "label",
        "description",
        "format",
        "hidden",
        "group_label",
        "percentile",
        "custom_primary_key_sql",
        "synonyms",
        "tags",
        "ai_context",
        "display_order",
        "view_label",
        "links",
        "drill_fields",
        "required_access_grants",
    }
)
RELATIONSHIP_KEYS = frozenset(
    {
        "join_from_view",
        "join_to_view",
        "join_to_view_as",
        "join_to_view_as_label",
        "on_sql",
        "relationship_type",
        "join_type",
        "reversible",
        "where_sql",
    }
)
TOPIC_KEYS = frozenset(
    {
        "base_view",
        "label",
        "description",
        "hidden",
        "group_label",
        "joins",
        "fields",
        "default_filters",
        "always_where_filters",
        "always_where_sql",
        "default_row_limit",
        "cache_policy",
        "access_filters",
        "name",
        "views",
        "ai_context",
        "sample_queries",
        "required_access_grants",
        "base_view_label",
    }
)
MODEL_KEYS = frozenset(
    {
        "fiscal_month_offset",
        "week_start_day",
        "default_timeframes",
        "dialect",
        "name",
        "connection",
        "cache_policies",
        "access_grants",
        "ignored_schemas",
        "included_schemas",
        "ignored_views",
        "included_views",
    }
)
WEEK_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
