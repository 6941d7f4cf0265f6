"""Model changes shared by replicas through a real Redis (``sluice.stores.redis.models``), and
``sluice.yaml`` watched by the model service, in process: two model services, each over its own
copy of the model folder, stand for two replicas on two hosts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.config import ServerConfig, load_config
from sluice.errors import Conflict, Unavailable
from sluice.models.changes import Author
from sluice.models.files import checksum
from sluice.models.service import ModelService
from sluice.models.sync import SharedChange
from sluice.project import Project
from sluice.stores.redis.keys import connect, open_redis
from sluice.stores.redis.models import RedisModelSync
from sluice.stores.select import open_model_sync
from tests.api.support import DEMO_MODEL

MO = Author("Mo Deler", "mo@example.com")
SINGLE = "  total_sale_price:\n    label: Total Sale Price\n    sql: ${sale_price}\n"
TRIPLE = SINGLE.replace("${sale_price}", "${sale_price} * 3")


@pytest.fixture()
def sync(redis_url: str, redis_prefix: str) -> Iterator[RedisModelSync]:
    found = RedisModelSync(
        open_redis(ServerConfig(redis_url=redis_url, redis_prefix=redis_prefix)), redis_prefix
    )
    yield found
    found.close()


def change(key: str, text: str | None) -> SharedChange:
    return SharedChange({key: text}, "write", f"Update {key}", MO)


def test_a_publish_wins_only_against_the_version_its_writer_saw(sync: RedisModelSync) -> None:
    assert sync.versions(["m"]) == {"m": None}
    assert sync.version("m", 100) == 100
    assert sync.version("m", 5) == 100  # set once: a later replica takes the shared one
    first = sync.publish("m", 100, change("a.view", "x: 1\n"), lambda v: v + 1)
    assert first == 101
    # A second writer that also saw 100 loses, and nothing of its change is stored.
    assert sync.publish("m", 100, change("a.view", "x: 2\n"), lambda v: v + 1) is None
    files = sync.files("m")
    assert set(files) == {"a.view"}
    assert files["a.view"].text == "x: 1\n" and files["a.view"].version == 101
    assert files["a.view"].author == MO
    removed = sync.publish("m", 101, change("a.view", None), lambda v: v + 10)
    assert removed == 111 and sync.files("m")["a.view"].text is None  # a tombstone
    # The version only grows: to the wanted one, or one past the current.
    assert sync.bump("m", 50) == 112
    assert sync.bump("m", 2_000_000_000_000) == 2_000_000_000_000
    assert sync.versions(["m", "other"]) == {"m": 2_000_000_000_000, "other": None}


def test_no_sync_without_a_redis_url(tmp_path: Path) -> None:
    assert open_model_sync(ServerConfig(state_dir=tmp_path)) is None


class Replica:
    """One replica: its own model folder, state directory and sluice.yaml; Redis shared."""

    def __init__(
        self, root: Path, database: Path, redis_url: str, prefix: str, model: Path | None = None
    ) -> None:
        self.model = model or root / "model"
        if model is None:
            shutil.copytree(DEMO_MODEL, self.model)
        root.mkdir(parents=True, exist_ok=True)
        self.config_path = root / "sluice.yaml"
        self.config_path.write_text(
            f"connections:\n  warehouse: {{engine: duckdb, database: {database}}}\n"
            f"models:\n  shop: {{connection: warehouse, path: {self.model}}}\n"
            f"server: {{state_dir: {root / 'state'}, redis_prefix: {prefix}}}\n"
        )
        config = load_config(self.config_path, env={"SLUICE_REDIS_URL": redis_url})
        self.project = Project.open(config, degraded=True)
        self.service = ModelService(self.project, sync=open_model_sync(config.server))
        self.id = next(iter(config.models.values())).id
        self.changes = root / "state" / "model-changes" / "shop.jsonl"

    def close(self) -> None:
        self.service.close()
        self.project.close()

    def text(self) -> str:
        return (self.model / "order_items.view.yaml").read_text()

    def sql(self) -> str:
        loaded = self.project.model(self.id)
        return loaded.semantic.views["order_items"].measures["total_sale_price"].sql


@pytest.fixture()
def replicas(
    tmp_path: Path, demo_db: Path, redis_url: str, redis_prefix: str
) -> Iterator[list[Replica]]:
    made: list[Replica] = []

    def make(name: str) -> Replica:
        replica = Replica(tmp_path / name, demo_db, redis_url, redis_prefix)
        made.append(replica)
        return replica

    made_now = [make("one"), make("two")]
    yield made_now
    for replica in made:
        replica.close()


def test_a_replica_applies_an_api_change_once_and_never_publishes_it_again(
    replicas: list[Replica], redis_url: str, redis_prefix: str
) -> None:
    one, two = replicas
    start = one.service.version(one.id)
    assert two.service.version(two.id) == start
    original = one.text()
    assert SINGLE in original
    one.service.write(one.id, "order_items.view", original.replace(SINGLE, TRIPLE), author=MO)
    shared = one.service.version(one.id)
    assert shared > start
    assert "* 3" in one.sql() and "* 3" not in two.sql()

    assert two.service.poll() == [two.id]
    assert two.text() == original.replace(SINGLE, TRIPLE)  # its own copy
    assert "* 3" in two.sql()
    assert two.service.version(two.id) == shared  # one number, and not moved again by two
    assert one.service.poll() == []  # nothing came back from two
    assert one.service.version(one.id) == shared
    logged = [json.loads(line) for line in two.changes.read_text().splitlines()]
    assert [(c["files"], c["author"]) for c in logged] == [(["order_items.view.yaml"], "Mo Deler")]
    assert two.service.poll() == []  # applying the same again is nothing
    assert len(two.changes.read_text().splitlines()) == 1

    # A stale checksum on two, after one changed the file again: a 409, nothing written.
    read = checksum(two.text())
    one.service.write(one.id, "order_items.view", original, author=MO)
    with pytest.raises(Conflict):
        two.service.write(two.id, "order_items.view", original + "\n", author=MO, previous=read)
    assert two.text() == original  # caught up to one's write, not two's
    assert two.service.version(two.id) == one.service.version(one.id)


def test_sluice_yaml_model_entries_apply_and_a_broken_file_changes_nothing(
    replicas: list[Replica], tmp_path: Path
) -> None:
    one = replicas[0]
    seen: list[set[str]] = []
    one.service.on_config(lambda config: seen.append(set(config.models)))
    second = tmp_path / "second"
    shutil.copytree(DEMO_MODEL, second)
    original = one.config_path.read_text()
    added = original.replace(
        "\nserver:", f"\n  shop2: {{connection: warehouse, path: {second}}}\nserver:"
    )
    one.config_path.write_text(added)
    one.service.poll()
    assert seen == [{"shop", "shop2"}]
    shop2 = one.project.config.models["shop2"].id
    assert one.project.model(shop2).semantic.views["order_items"]

    one.config_path.write_text("models: [\n")
    one.service.poll()
    assert seen == [{"shop", "shop2"}]  # nothing applied
    assert one.project.model(shop2)

    one.config_path.write_text(original + "# removed shop2\n")
    one.service.poll()
    assert seen[-1] == {"shop"}
    with pytest.raises(Exception, match="not found"):
        one.project.model(shop2)


def test_with_redis_unreachable_a_write_is_refused_and_nothing_is_written(
    tmp_path: Path, demo_db: Path, redis_url: str, redis_prefix: str
) -> None:
    replica = Replica(tmp_path / "one", demo_db, redis_url, redis_prefix)
    try:
        assert replica.service.sync is not None
        replica.service.sync.close()
        replica.service.sync = RedisModelSync(connect("redis://127.0.0.1:1/0"), redis_prefix)
        original = replica.text()
        with pytest.raises(Unavailable, match="Redis cannot be reached"):
            replica.service.write(
                replica.id, "order_items.view", original.replace(SINGLE, TRIPLE), author=MO
            )
        assert replica.text() == original
        assert "* 3" not in replica.sql()
        replica.service.catch_up(replica.id)  # a read goes on with this replica's files
        assert replica.service.poll() == []
    finally:
        replica.close()


def test_replicas_sharing_one_folder_count_an_api_change_once(
    replicas: list[Replica], tmp_path: Path, demo_db: Path, redis_url: str, redis_prefix: str
) -> None:
    one = replicas[0]
    beside = Replica(tmp_path / "beside", demo_db, redis_url, redis_prefix, model=one.model)
    try:
        original = one.text()
        one.service.write(one.id, "order_items.view", original.replace(SINGLE, TRIPLE), author=MO)
        shared = one.service.version(one.id)
        assert beside.service.poll() == [beside.id]  # served, as the change's version
        assert "* 3" in beside.sql()
        assert beside.service.poll() == []
        assert beside.service.version(beside.id) == shared == one.service.version(one.id)
        assert not beside.changes.exists()  # nothing written there, so nothing recorded
    finally:
        beside.close()
