"""The cache key of a compiled query: everything that can change its result, hashed.

* the model's version (a hash of its files: a reload that changes the model changes every key
  of that model) and id, and the connection the SQL runs on;
* the SQL as compiled for the dialect: fields, filters, sorts, limit and offset are in it, and so
  are relative dates, resolved to literals, and the values of the user attributes used by access
  filters; the attributes the SQL depends on are also keyed on explicitly;
* the work after the SQL: pivots, totals (their own SQL), fill ranges, table calculations;
* how the result's columns are named (a grain is case-insensitive in SQL but names a column
  exactly as requested) and the row limit SQL mode applies;
* the request's time zone.

Users whose attributes the SQL does not read share entries; users it does read do not.
"""

from __future__ import annotations

import hashlib
import json

from sluice.compiler.types import CompiledQuery

KEY_VERSION = "1"  # bump when the key's ingredients change: old entries then never match


def cache_key(
    compiled: CompiledQuery, *, model_id: str, connection_id: str, timezone: str | None = None
) -> str:
    parts = {
        "v": KEY_VERSION,
        "model": model_id,
        "model_version": compiled.model_version,
        "connection": connection_id,
        "dialect": compiled.dialect,
        "sql": compiled.sql,
        "sql_mode": compiled.sql_mode,
        "limit": compiled.limit,
        "columns": [f.field_name for f in compiled.fields],
        "post": repr(compiled.post) if compiled.post is not None else None,
        "user_attributes": [list(pair) for pair in compiled.user_attributes],
        "timezone": timezone,
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
