"""Model changes shared by replicas, in Redis (the protocol: ``sluice.models.sync``).

Per model, under the prefix:

* ``model:<id>:files`` — a hash: file key -> JSON of its current text (null: deleted), the
  version and change id that wrote it, the change's action, message and author;
* ``model:<id>:version`` — the model's shared version, an integer that only grows.

A publish is one optimistic transaction (``WATCH`` the version, check it is the one the writer
last saw, ``MULTI`` the files and the new version): of two replicas writing at once, exactly
one wins and the other catches up and checks its ``previousChecksum`` again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence

import redis

from sluice.errors import Unavailable
from sluice.models.sync import SharedChange, SharedFile, shared_files

# The version moves to max(current + 1, at_least), atomically.
BUMP = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
local next = current + 1
if wanted > next then next = wanted end
redis.call('SET', KEYS[1], string.format('%d', next))
return next
"""


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    """Redis unreachable: a 503 that says so (a write is refused, nothing is written)."""
    try:
        yield
    except redis.WatchError:
        raise
    except redis.RedisError as exc:
        raise Unavailable(
            f"Redis cannot be reached, so model changes cannot be shared with the other "
            f"replicas right now: {exc}",
            retry_after_s=2,
        ) from None


class RedisModelSync:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix.rstrip(":")
        self._bump = client.register_script(BUMP)

    def _files_key(self, model_id: str) -> str:
        return f"{self._prefix}:model:{model_id}:files"

    def _version_key(self, model_id: str) -> str:
        return f"{self._prefix}:model:{model_id}:version"

    def version(self, model_id: str, initial: int) -> int:
        key = self._version_key(model_id)
        with _reachable():
            self._client.set(key, str(initial), nx=True)
            return int(self._client.get(key) or initial)

    def versions(self, model_ids: Sequence[str]) -> dict[str, int | None]:
        if not model_ids:
            return {}
        with _reachable():
            raw = self._client.mget([self._version_key(m) for m in model_ids])
        return {m: int(v) if v is not None else None for m, v in zip(model_ids, raw, strict=True)}

    def files(self, model_id: str) -> dict[str, SharedFile]:
        with _reachable():
            raw = self._client.hgetall(self._files_key(model_id))
        out = {}
        for key, value in raw.items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            out[name] = SharedFile.from_json(name, json.loads(value))
        return out

    def publish(
        self,
        model_id: str,
        expected: int,
        change: SharedChange,
        next_version: Callable[[int], int],
    ) -> int | None:
        version_key = self._version_key(model_id)
        with _reachable(), self._client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(version_key)  # type: ignore[no-untyped-call]
                current = pipe.get(version_key)
                if current is None or int(current) != expected:
                    pipe.unwatch()
                    return None
                new = next_version(expected)
                entries = {f.key: json.dumps(f.to_json()) for f in shared_files(change, new)}
                pipe.multi()
                if entries:
                    pipe.hset(self._files_key(model_id), mapping=entries)  # type: ignore[arg-type]
                pipe.set(version_key, str(new))
                pipe.execute()
            except redis.WatchError:
                return None
        return new

    def bump(self, model_id: str, at_least: int) -> int:
        with _reachable():
            return int(self._bump(keys=[self._version_key(model_id)], args=[str(at_least)]))

    def close(self) -> None:
        self._client.close()
