"""QuerySpec + SemanticModel -> CompiledQuery (SQL for one dialect, field metadata)."""

from sluice.compiler.compiler import clock_bucket, compile_query
from sluice.compiler.fields import field_meta, parse_field_name
from sluice.compiler.types import CompiledQuery, CompileOptions, FieldMeta

__all__ = [
    "CompileOptions",
    "CompiledQuery",
    "FieldMeta",
    "clock_bucket",
    "compile_query",
    "field_meta",
    "parse_field_name",
]
