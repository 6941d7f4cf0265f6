"""The embedded job store: job records in SQLite (``state_dir/sluice.db``), results beside them;
no events (every waiter is in this process).

A result (the Arrow IPC stream) up to ``inline_max`` bytes is kept in the job's row; a larger
one is a file, ``state_dir/results/<job_id>.arrows``, a plain Arrow IPC stream any tool can
read. Either way a finished job survives a restart. A result given as a file (a result-cache
entry, or a large result the worker streamed to disk) is hard-linked into place rather than
copied: the bytes are on disk once, and the job's expiry removes only the job's own name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from sluice.jobs.history import HistoryQuery, history_record
from sluice.jobs.record import JobRecord
from sluice.jobs.state import TERMINAL, JobEvent
from sluice.jobs.store import RESTARTED_MESSAGE, StoredJob, StoredResult
from sluice.results.stream import ResultFile, link_file
from sluice.stores.embedded.sqlite import db_path, open_db

INLINE_MAX = 256 * 1024
_TERMINAL_SQL = ", ".join(f"'{s.value}'" for s in sorted(TERMINAL))

log = logging.getLogger("sluice.jobs")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    record TEXT NOT NULL,
    result BLOB,          -- the IPC stream of a small result
    result_file INTEGER   -- 1: the result is results/<id>.arrows
);
CREATE INDEX IF NOT EXISTS jobs_finished_at ON jobs (finished_at);
-- Query history: every job's record, kept for history_retention_days (after its result).
CREATE TABLE IF NOT EXISTS job_history (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    user_id TEXT,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_history_org ON job_history (organization_id, created_at, id);
"""


class SqliteJobStore:
    """Jobs in ``state_dir/sluice.db``, results inline or as files (one process)."""

    shared = False

    def __init__(self, state_dir: Path, *, inline_max: int = INLINE_MAX) -> None:
        self.results_dir = state_dir / "results"
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.inline_max = inline_max
        self._conn = open_db(db_path(state_dir))
        self._conn.executescript(_SCHEMA)
        self._migrate()
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        """Add the columns a store written by an earlier version lacks."""
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(jobs)")}
        for column, kind in (("result", "BLOB"), ("result_file", "INTEGER")):
            if column not in have:
                self._conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

    def result_path(self, job_id: str) -> Path:
        return self.results_dir / f"{job_id}.arrows"

    def insert(self, record: JobRecord) -> None:
        """Record a new job. Never overwrites: a ``save`` of the same id wins, even if earlier."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO jobs VALUES (?, ?, ?, ?, ?, ?, NULL, 0)", _row(record)
            )

    def save(self, record: JobRecord, result: StoredResult = None) -> None:
        """Store the record and, for a COMPLETE job, its result (a file first when large)."""
        self.write_batch([(record, result)])

    def write_batch(self, items: Sequence[tuple[JobRecord, StoredResult]]) -> None:
        """Write several jobs in one transaction; nothing replaces a terminal row."""
        rows = [self._row_with_result(record, result) for record, result in items]
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                for row in rows:
                    self._conn.execute(_UPSERT, row)
                for record, _ in items:
                    self._conn.execute(_HISTORY_UPSERT, _history_row(history_record(record)))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _row_with_result(self, record: JobRecord, result: StoredResult) -> tuple[object, ...]:
        inline: bytes | None = None
        in_file = 0
        if isinstance(result, ResultFile):
            in_file = int(self._link(result.path, self.result_path(record.id)))
        elif isinstance(result, Path):
            in_file = int(self._link(result, self.result_path(record.id)))
        elif result is not None:
            view = memoryview(result)
            if view.nbytes <= self.inline_max:
                inline = bytes(view)
            else:
                path = self.result_path(record.id)
                tmp = path.with_suffix(".tmp")
                with open(tmp, "wb") as out:
                    out.write(view)
                os.replace(tmp, path)
                in_file = 1
        return (*_row(record), inline, in_file)

    @staticmethod
    def _link(source: Path, target: Path) -> bool:
        """Put ``source``'s bytes at ``target``: a hard link, else a copy. False if it is gone."""
        if link_file(source, target):
            return True
        log.warning("the result file %s disappeared before it could be kept", source)
        return False

    def get(self, job_id: str) -> StoredJob | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT record, result, result_file FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        if row is None:
            return None
        record = JobRecord.from_json(row[0])
        result: bytes | None = row[1]
        if row[2]:
            try:
                result = self.result_path(job_id).read_bytes()
            except OSError:
                result = None
        return StoredJob(record, result)

    def recover(self, now: float) -> int:
        """Fail every job a previous process left unfinished; returns how many."""
        terminal = tuple(s.value for s in TERMINAL)
        marks = ",".join("?" * len(terminal))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT record FROM jobs WHERE status NOT IN ({marks})", terminal
            ).fetchall()
        for (text,) in rows:
            record = JobRecord.from_json(text).advance(
                JobEvent.FAIL, finished_at=now, error_type="KILL", error_message=RESTARTED_MESSAGE
            )
            self.save(record)
        return len(rows)

    def purge(self, finished_before: float) -> int:
        """Delete jobs (and result files) that finished before ``finished_before``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, result_file FROM jobs"
                " WHERE finished_at IS NOT NULL AND finished_at < ?",
                (finished_before,),
            ).fetchall()
        self._delete(rows)
        return len(rows)

    def _delete(self, rows: Iterable[tuple[str, int]]) -> None:
        for job_id, in_file in rows:
            if in_file:
                with contextlib.suppress(FileNotFoundError):
                    self.result_path(job_id).unlink()
            with self._lock:
                self._conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def history(self, query: HistoryQuery) -> list[JobRecord]:
        where = ["organization_id = ?", "created_at >= ?"]
        args: list[object] = [query.organization_id, query.created_after]
        if query.user_id is not None:
            where.append("user_id = ?")
            args.append(query.user_id)
        if query.status is not None:
            where.append("status = ?")
            args.append(query.status.value)
        if query.cursor is not None:
            where.append("(created_at, id) < (?, ?)")  # a row value: the index seeks to it
            args += [query.cursor.created_at, query.cursor.job_id]
        sql = (
            f"SELECT record FROM job_history WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, (*args, query.limit)).fetchall()
        return [JobRecord.from_json(text) for (text,) in rows]

    def purge_history(self, created_before: float) -> int:
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM job_history WHERE created_at < ?", (created_before,)
            )
        return cursor.rowcount

    def check(self) -> None:
        with self._lock:
            self._conn.execute("SELECT 1 FROM jobs LIMIT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_UPSERT = f"""
INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    status = excluded.status, finished_at = excluded.finished_at, record = excluded.record,
    result = excluded.result, result_file = excluded.result_file
WHERE jobs.status NOT IN ({_TERMINAL_SQL})
"""


_HISTORY_UPSERT = f"""
INSERT INTO job_history VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record
WHERE job_history.status NOT IN ({_TERMINAL_SQL})
"""


def _history_row(record: JobRecord) -> tuple[str, str, str | None, str, float, str]:
    return (
        record.id,
        record.organization_id,
        record.user_id,
        record.status.value,
        record.created_at,
        record.to_json(),
    )


def _row(record: JobRecord) -> tuple[str, str, str, float, float | None, str]:
    return (
        record.id,
        record.organization_id,
        record.status.value,
        record.created_at,
        record.finished_at,
        record.to_json(),
    )
