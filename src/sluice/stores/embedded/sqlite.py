"""The one SQLite file (``state_dir/sluice.db``) that holds jobs and API tokens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

DB_FILE = "sluice.db"


def db_path(state_dir: Path) -> Path:
    return state_dir / DB_FILE


def open_db(path: Path) -> sqlite3.Connection:
    """A connection for use from any one thread at a time (callers hold their own lock).

    WAL with ``synchronous=NORMAL``: commits survive a process crash and readers never block the
    writer; only an OS crash can lose the last transactions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn
