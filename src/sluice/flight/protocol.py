"""The Flight SQL protobuf messages sluice reads and writes, built at import time.

Flight SQL commands travel as ``google.protobuf.Any`` inside a FlightDescriptor's ``cmd``, a
Ticket or an Action body. Rather than ship generated code (or download the ``.proto`` at build
time), the few messages sluice needs are declared below as a table, with the field numbers of
Apache Arrow's ``format/FlightSql.proto`` (package ``arrow.flight.protocol.sql``), and turned
into message classes by the protobuf runtime (``descriptor_pb2`` + ``message_factory``).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "arrow.flight.protocol.sql"
TYPE_PREFIX = f"type.googleapis.com/{PACKAGE}."

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
    "bool": _F.TYPE_BOOL,
    "int32": _F.TYPE_INT32,
    "uint32": _F.TYPE_UINT32,
    "int64": _F.TYPE_INT64,
    "enum": _F.TYPE_INT32,  # enums are varints on the wire; read as plain numbers
}

# message -> [(field, number, type, label)]: "?" optional, "*" repeated, "" singular.
SCHEMA: dict[str, list[tuple[str, int, str, str]]] = {
    "CommandGetSqlInfo": [("info", 1, "uint32", "*")],
    "CommandGetXdbcTypeInfo": [("data_type", 1, "int32", "?")],
    "CommandGetCatalogs": [],
    "CommandGetDbSchemas": [
        ("catalog", 1, "string", "?"),
        ("db_schema_filter_pattern", 2, "string", "?"),
    ],
    "CommandGetTables": [
        ("catalog", 1, "string", "?"),
        ("db_schema_filter_pattern", 2, "string", "?"),
        ("table_name_filter_pattern", 3, "string", "?"),
        ("table_types", 4, "string", "*"),
        ("include_schema", 5, "bool", ""),
    ],
    "CommandGetTableTypes": [],
    "CommandGetPrimaryKeys": [
        ("catalog", 1, "string", "?"),
        ("db_schema", 2, "string", "?"),
        ("table", 3, "string", ""),
    ],
    "CommandGetExportedKeys": [
        ("catalog", 1, "string", "?"),
        ("db_schema", 2, "string", "?"),
        ("table", 3, "string", ""),
    ],
    "CommandGetImportedKeys": [
        ("catalog", 1, "string", "?"),
        ("db_schema", 2, "string", "?"),
        ("table", 3, "string", ""),
    ],
    "CommandStatementQuery": [("query", 1, "string", ""), ("transaction_id", 2, "bytes", "?")],
    "TicketStatementQuery": [("statement_handle", 1, "bytes", "")],
    "CommandPreparedStatementQuery": [("prepared_statement_handle", 1, "bytes", "")],
    "CommandStatementUpdate": [("query", 1, "string", ""), ("transaction_id", 2, "bytes", "?")],
    "CommandPreparedStatementUpdate": [("prepared_statement_handle", 1, "bytes", "")],
    "ActionCreatePreparedStatementRequest": [
        ("query", 1, "string", ""),
        ("transaction_id", 2, "bytes", "?"),
    ],
    "ActionCreatePreparedStatementResult": [
        ("prepared_statement_handle", 1, "bytes", ""),
        ("dataset_schema", 2, "bytes", ""),
        ("parameter_schema", 3, "bytes", ""),
    ],
    "ActionClosePreparedStatementRequest": [("prepared_statement_handle", 1, "bytes", "")],
    "ActionCancelQueryRequest": [("info", 1, "bytes", "")],
    "ActionCancelQueryResult": [("result", 1, "enum", "")],
    "DoPutPreparedStatementResult": [("prepared_statement_handle", 1, "bytes", "?")],
}

# CancelResult (FlightSql.proto) and CancelStatus (Flight.proto) share their numbers.
CANCEL_UNSPECIFIED, CANCEL_CANCELLED, CANCEL_CANCELLING, CANCEL_NOT_CANCELLABLE = 0, 1, 2, 3


def _build() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="sluice_flight_sql.proto", package=PACKAGE, syntax="proto3"
    )
    for name, fields in SCHEMA.items():
        message = file.message_type.add(name=name)
        for field, number, kind, label in fields:
            proto = message.field.add(name=field, number=number, type=_TYPES[kind])
            proto.label = _F.LABEL_REPEATED if label == "*" else _F.LABEL_OPTIONAL
            if label == "?":
                proto.proto3_optional = True
                proto.oneof_index = len(message.oneof_decl)
                message.oneof_decl.add(name=f"_{field}")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name in SCHEMA
    }


MESSAGES = _build()


def message(name: str, **values: Any) -> Any:
    """A new ``name`` message with ``values`` set."""
    return MESSAGES[name](**values)


def pack(msg: Any) -> bytes:
    """``msg`` wrapped in ``google.protobuf.Any``, serialized."""
    wrapped = any_pb2.Any()
    wrapped.Pack(msg, type_url_prefix="type.googleapis.com/")
    return bytes(wrapped.SerializeToString())


def unpack(raw: bytes) -> tuple[str, Any] | None:
    """(message name, message) of a packed Flight SQL command; None when it is not one."""
    wrapped = any_pb2.Any()
    try:
        wrapped.ParseFromString(raw)
    except Exception:
        return None
    if not wrapped.type_url.startswith(TYPE_PREFIX):
        return None
    name = wrapped.type_url[len(TYPE_PREFIX) :]
    cls = MESSAGES.get(name)
    if cls is None:
        return name, None
    msg = cls()
    try:
        msg.ParseFromString(wrapped.value)
    except Exception:
        return name, None
    return name, msg
