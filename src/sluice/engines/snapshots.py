"""Schema snapshots on disk: what each connection's warehouse held when it was last read.

A model's schema layer is built from its connection's snapshot (``sluice.model.schema``). The
snapshot is read from the warehouse once and kept as JSON in ``state_dir/schema/`` so that a
restart serves at once, without waiting for the warehouse; ``sluice refresh`` (or the refresh
endpoint) reads the warehouse again. The file is written atomically (a temporary file renamed
over it), so a crash never leaves half a snapshot.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sluice.config import ConnectionConfig
from sluice.engines.base import Engine
from sluice.engines.introspect import introspect
from sluice.model.schema import SchemaSource, Snapshot
from sluice.storage import write_json_atomic


class SnapshotStore:
    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "schema"

    def path(self, connection: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", connection)
        return self.folder / f"{safe}.json"

    def load(self, connection: str) -> Snapshot | None:
        """The stored snapshot, or None when there is none (or it is unreadable: read again)."""
        try:
            return Snapshot.from_json(json.loads(self.path(connection).read_text()))
        except (OSError, ValueError):
            return None

    def save(self, connection: str, snapshot: Snapshot) -> None:
        write_json_atomic(self.path(connection), snapshot.to_json())

    def read(self, conn: ConnectionConfig, engine: Engine, *, fresh: bool = False) -> Snapshot:
        """The connection's snapshot: the stored one, or (none stored, or ``fresh``) the
        warehouse's, stored for next time. Raises ``QueryError`` when the warehouse cannot
        answer and nothing is stored."""
        if not fresh:
            stored = self.load(conn.name)
            if stored is not None:
                return stored
        snapshot = introspect(engine)
        self.save(conn.name, snapshot)
        return snapshot


def schema_source(conn: ConnectionConfig, snapshot: Snapshot) -> SchemaSource:
    """How ``conn`` shapes the schema layer: a connection pinned to a schema reads that one."""
    return SchemaSource(
        snapshot,
        always_scope_view_names=conn.always_scope_view_names,
        schemas=(conn.schema,) if conn.schema else (),
    )
