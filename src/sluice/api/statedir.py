"""Is ``state_dir`` writable? Job records and results are written there before a job id is
handed out; when it cannot be written (a full disk, a read-only mount, lost permissions) new
jobs are refused with a 503 and ``Retry-After`` instead of an id that would be lost, and
``/readyz`` names it. The answer is a real write (a small file created, flushed and removed),
remembered for a second so a busy server does not probe on every request."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sluice.errors import Unavailable

PROBE_TTL_S = 1.0


class StateDirProbe:
    def __init__(self, state_dir: Path, *, ttl_s: float = PROBE_TTL_S) -> None:
        self.state_dir = state_dir
        self._ttl_s = ttl_s
        self._checked: tuple[float, str | None] = (-1e18, None)  # (when, problem): one object
        self._lock = threading.Lock()

    def problem(self) -> str | None:
        """Why ``state_dir`` cannot be written, or None when it can."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked[0] >= self._ttl_s:
                self._checked = (now, _write_probe(self.state_dir))
            return self._checked[1]

    def forget(self) -> None:
        """The next check probes again (after the folder changed under the server)."""
        self._checked = (-1e18, None)

    def require_known(self) -> bool:
        """``require`` from memory, without a probe write or a lock (safe on the event loop):
        False when the last probe is too old to answer (then call ``require`` off the loop)."""
        checked_at, problem = self._checked
        if time.monotonic() - checked_at >= self._ttl_s:
            return False
        self._raise(problem)
        return True

    def require(self) -> None:
        self._raise(self.problem())

    def _raise(self, problem: str | None) -> None:
        if problem is not None:
            raise Unavailable(
                f"state_dir {self.state_dir} cannot be written ({problem}); new jobs are "
                "refused until it can",
                retry_after_s=10,
            )


def _write_probe(state_dir: Path) -> str | None:
    path = state_dir / f".write-probe-{os.getpid()}-{threading.get_ident()}"
    try:
        with open(path, "wb") as f:
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
        path.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
