"""Changing a model while ``sluice serve`` serves it: live reload, the model YAML API,
validation and who may write (contract: omni-model-api.md §2, §4, §5).

Every number a query answers is checked against hand-written SQL on the same warehouse. "Within
a second" is polled with a generous deadline: no test asserts a wall-clock time.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from sluice.auth.tokens import ORGANIZATION, PERSONAL
from sluice.config import ServerConfig, model_uuid
from sluice.models.files import checksum
from sluice.stores.select import open_token_store
from tests.api.support import DEMO_MODEL
from tests.e2e.conftest import Server

MODEL_ID = model_uuid("shop")
ALICE = "0f8fad5b-d9cb-469f-a165-70867728950e"  # no role: reads only
MO = "5b7e3c1a-2d4f-4e6a-9b8c-1d2e3f4a5b6c"  # role: modeler
DEADLINE_S = 20.0  # generous: the server reloads within about a second

CONFIG = """\
connections:
  warehouse: {{engine: duckdb, database: {database}, read_only: true}}
models:
  shop: {{connection: warehouse, path: {model}}}
server:
  state_dir: {state}
users:
  - {{id: {alice}, email: alice@example.com, name: Alice}}
  - {{id: {mo}, email: mo@example.com, name: Mo Deler, role: modeler}}
"""

MEASURE = """
  doubled_sales:
    sql: ${sale_price} * 2
    aggregate_type: sum
"""


class Project:
    def __init__(self, root: Path, database: Path) -> None:
        self.root = root
        self.model = root / "model"
        shutil.copytree(DEMO_MODEL, self.model)
        # A copy of the warehouse: the hand-written SQL opens it in this process, where the
        # session's in-process app holds the original open with other settings.
        self.database = root / "warehouse.duckdb"
        shutil.copy(database, self.database)
        self.config = root / "sluice.yaml"
        self.config.write_text(
            CONFIG.format(
                database=self.database, model=self.model, state=root / "state", alice=ALICE, mo=MO
            )
        )
        self.keys(ServerConfig(state_dir=root / "state"))

    def keys(self, server: ServerConfig) -> None:
        """Keys in the server's token store (SQLite, or Redis for replicas)."""
        with open_token_store(server) as store:
            self.org, _ = store.create(ORGANIZATION, "sluice", name="ci")
            self.alice, _ = store.create(PERSONAL, "sluice", user_id=ALICE, name="alice")
            self.mo, _ = store.create(PERSONAL, "sluice", user_id=MO, name="mo")

    def sql(self, text: str) -> Any:
        with duckdb.connect(str(self.database), read_only=True) as con:
            row = con.execute(text).fetchone()
        assert row is not None
        return row[0]


@pytest.fixture()
def project(tmp_path: Path, demo_db: Path) -> Project:
    return Project(tmp_path, demo_db)


@pytest.fixture()
def serve(project: Project, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(config: Path | None = None, **env: str) -> Server:
        server = Server(
            config or project.config, tmp_path / f"server{len(started)}.log", env, log_level="info"
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def query(
    server: Server, key: str, fields: list[str], *, model_id: str = MODEL_ID, **body: Any
) -> httpx.Response:
    q = {"modelId": model_id, "join_paths_from_topic_name": "order_items", "fields": fields}
    return httpx.post(
        f"{server.url}/api/v1/query/run",
        json={"query": q, "resultType": "csv", **body},
        headers=auth(key),
        timeout=60,
    )


def columns(response: httpx.Response) -> list[str]:
    return next(csv.reader(io.StringIO(response.text)))


def total(server: Server, key: str, field: str, **body: Any) -> Decimal:
    response = query(server, key, [field], **body)
    assert response.status_code == 200, response.text
    (row,) = list(csv.reader(io.StringIO(response.text)))[1:]
    return Decimal(row[0])


def poll(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def validate(server: Server, key: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.url}/api/v1/models/{MODEL_ID}/validate", headers=auth(key), timeout=30
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def get_yaml(server: Server, key: str, **params: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server.url}/api/v1/models/{MODEL_ID}/yaml", params=params, headers=auth(key), timeout=30
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def post_yaml(server: Server, key: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/models/{MODEL_ID}/yaml", json=body, headers=auth(key), timeout=60
    )


def with_measure(text: str) -> str:
    return text.replace("\nmeasures:\n", "\nmeasures:" + MEASURE, 1)


def test_a_file_edited_on_disk_serves_without_a_restart_and_a_broken_edit_keeps_the_last_good(
    project: Project, serve: Callable[..., Server]
) -> None:
    server = serve()
    expected = project.sql("SELECT SUM(sale_price * 2) FROM order_items")
    view = project.model / "order_items.view.yaml"
    before = get_yaml(server, project.org, mode="extension")["version"]
    response = query(server, project.org, ["order_items.count", "order_items.doubled_sales"])
    assert response.status_code == 200, response.text
    assert len(columns(response)) == 1  # unknown yet: left out
    good = with_measure(view.read_text())
    assert good != view.read_text()
    view.write_text(good)

    def served() -> bool:
        r = query(server, project.org, ["order_items.count", "order_items.doubled_sales"])
        return r.status_code == 200 and len(columns(r)) == 2

    poll(served, "the measure added on disk never became queryable")
    assert total(server, project.org, "order_items.doubled_sales") == Decimal(str(expected))
    assert get_yaml(server, project.org, mode="extension")["version"] > before
    assert validate(server, project.org) == [
        i for i in validate(server, project.org) if i["is_warning"]
    ]

    # A broken edit: an unknown reference on a known line. The last good version keeps serving.
    broken = good.replace("sql: ${sale_price} * 2", "sql: ${no_such_column} * 2")
    view.write_text(broken)
    line = broken.splitlines().index("  doubled_sales:") + 1  # the measure's line

    def reported() -> bool:
        return any(not i["is_warning"] for i in validate(server, project.org))

    poll(reported, "validate never reported the broken edit")
    errors = [i for i in validate(server, project.org) if not i["is_warning"]]
    assert any(
        i["yaml_path"] == "order_items.view"
        and i["line"] == line
        and "no_such_column" in i["message"]
        for i in errors
    ), errors
    assert total(server, project.org, "order_items.doubled_sales") == Decimal(str(expected))
    ready = httpx.get(f"{server.url}/readyz", timeout=30)
    assert ready.status_code == 200
    assert ready.json()["degraded"] == ["model:shop"]
    assert "no_such_column" in ready.json()["checks"]["model:shop"]["error"]
    log = server.log.read_text()
    assert f"order_items.view.yaml:{line}" in log


def test_the_yaml_api_writes_new_files_refuses_stale_checksums_and_bad_yaml(
    project: Project, serve: Callable[..., Server]
) -> None:
    subprocess.run(["git", "init", "-q", str(project.model)], check=True)
    subprocess.run(["git", "-C", str(project.model), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(project.model), "-c", "user.name=t", "-c", "user.email=t@t",
         "commit", "-q", "-m", "start"],
        check=True,
    )  # fmt: skip
    server = serve()
    combined = get_yaml(server, project.org)
    extension = get_yaml(server, project.org, mode="extension", includeChecksums="true")
    assert "order_items.view" in extension["files"] and "model" in extension["files"]
    assert set(extension["files"]) <= set(combined["files"])
    assert set(extension["checksums"]) == set(extension["files"])
    one = get_yaml(server, project.org, fileName="order_items.view", mode="extension")
    assert list(one["files"]) == ["order_items.view"]
    assert set(get_yaml(server, project.org, fileName=r"\.topic$", mode="extension")["files"]) == {
        "order_items.topic", "users.topic", "events.topic"
    }  # fmt: skip

    # A new view file over HTTP, queryable at once, committed with the writer as author.
    new_view = (
        "sql: SELECT status, COUNT(*) AS n FROM order_items GROUP BY status\n"
        "dimensions:\n  status: {primary_key: true}\n  n: {}\n"
        "measures:\n  total_n:\n    sql: ${n}\n    aggregate_type: sum\n"
    )
    topic = "base_view: status_counts\nlabel: Status counts\n"
    for name, text in (("status_counts.view", new_view), ("status_counts.topic", topic)):
        response = post_yaml(server, project.mo, fileName=name, yaml=text, mode="extension",
                             commitMessage=f"Add {name}")  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.json() == {"fileName": name, "success": True}
    response = httpx.post(
        f"{server.url}/api/v1/query/run",
        json={"query": {"modelId": MODEL_ID, "join_paths_from_topic_name": "status_counts",
                        "fields": ["status_counts.total_n"]}, "resultType": "csv"},
        headers=auth(project.org), timeout=60,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert Decimal(response.text.splitlines()[1]) == project.sql("SELECT COUNT(*) FROM order_items")
    log = subprocess.run(
        ["git", "-C", str(project.model), "log", "-2", "--format=%an|%s"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert log == ["Mo Deler|Add status_counts.topic", "Mo Deler|Add status_counts.view"]

    # Stale checksum: 409, nothing written.
    sums = get_yaml(server, project.org, mode="extension", includeChecksums="true")["checksums"]
    view = project.model / "order_items.view.yaml"
    original = view.read_text()
    first = post_yaml(server, project.org, fileName="order_items.view", yaml=with_measure(original),
                      previousChecksum=sums["order_items.view"])  # fmt: skip
    assert first.status_code == 200, first.text
    second = post_yaml(server, project.org, fileName="order_items.view", yaml=original + "\n",
                       previousChecksum=sums["order_items.view"])  # fmt: skip
    assert second.status_code == 409
    assert second.json()["detail"] == "File has been modified since it was fetched"
    assert view.read_text() == with_measure(original)

    # YAML that does not parse, and an unknown property: 400 naming the line, nothing saved.
    bad = post_yaml(server, project.org, fileName="order_items.view", yaml="label: [unclosed\n")
    assert bad.status_code == 400 and "line" in bad.json()["detail"], bad.text
    unknown = post_yaml(server, project.org, fileName="orders.view",
                        yaml="table_name: orders\nlabl: Orders\n")  # fmt: skip
    assert unknown.status_code == 400
    assert "line 2" in unknown.json()["detail"] and "labl" in unknown.json()["detail"]
    strict = post_yaml(server, project.org, fileName="orders.view", yaml="x: 1", colour="red")
    assert strict.status_code == 400 and "colour" in strict.json()["detail"]
    assert view.read_text() == with_measure(original)
    assert (
        not (project.model / "orders.view.yaml").read_text().startswith("table_name: orders\nlabl")
    )

    # DELETE a file: gone from the model; a missing one is a 404.
    gone = httpx.delete(f"{server.url}/api/v1/models/{MODEL_ID}/yaml", headers=auth(project.org),
                        params={"fileName": "status_counts.topic"}, timeout=30)  # fmt: skip
    assert gone.status_code == 200, gone.text
    assert "status_counts.topic" not in get_yaml(server, project.org, mode="extension")["files"]
    again = httpx.delete(f"{server.url}/api/v1/models/{MODEL_ID}/yaml", headers=auth(project.org),
                         params={"fileName": "status_counts.topic"}, timeout=30)  # fmt: skip
    assert again.status_code == 404


def test_a_personal_token_without_the_modeler_role_may_read_but_not_write(
    project: Project, serve: Callable[..., Server]
) -> None:
    server = serve()
    url = f"{server.url}/api/v1/models/{MODEL_ID}/yaml"
    denied = {"detail": "Permission denied", "status": 403}
    writes = [
        httpx.post(url, json={"fileName": "x.view", "yaml": "sql: SELECT 1 AS a\n"},
                   headers=auth(project.alice), timeout=30),
        httpx.delete(url, params={"fileName": "users.view"}, headers=auth(project.alice),
                     timeout=30),
    ]  # fmt: skip
    for response in writes:
        assert response.status_code == 403 and response.json() == denied
    assert (project.model / "users.view.yaml").exists()
    assert get_yaml(server, project.alice)["files"]
    assert validate(server, project.alice) is not None

    def permissions(key: str) -> list[str]:
        body = httpx.get(f"{server.url}/api/v1/whoami", headers=auth(key), timeout=30).json()
        return list(body["rolesByModel"][MODEL_ID]["permissions"])

    doc = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    assert {"get", "post", "delete"} <= set(doc["paths"]["/api/v1/models/{modelId}/yaml"])
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/models"])
    for path in ("validate", "branch/{branchName}/merge", "branch/{branchName}"):
        assert f"/api/v1/models/{{modelId}}/{path}" in doc["paths"], path
    assert "UPDATE" not in permissions(project.alice)
    assert "UPDATE" in permissions(project.mo)
    assert "UPDATE" in permissions(project.org)


def test_a_model_that_never_loaded_is_unavailable_and_the_server_still_starts(
    project: Project, serve: Callable[..., Server]
) -> None:
    view = project.model / "order_items.view.yaml"
    good = view.read_text()
    view.write_text(good + "dimensions: [\n")
    server = serve()
    response = query(server, project.org, ["order_items.count"])
    assert response.status_code == 503, response.text
    assert "never loaded" in response.json()["detail"]
    assert "order_items.view.yaml" in response.json()["detail"]
    view.write_text(good)

    def back() -> bool:
        return query(server, project.org, ["order_items.count"]).status_code == 200

    poll(back, "the model never loaded after its file was fixed")
    assert total(server, project.org, "order_items.count") == project.sql(
        "SELECT COUNT(*) FROM order_items"
    )


def create_branch(server: Server, key: str, name: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/models",
        json={"modelKind": "BRANCH", "baseModelId": MODEL_ID, "modelName": name},
        headers=auth(key),
        timeout=30,
    )


def branch_scenario(writer: Server, reader: Server, project: Project) -> None:
    """Create a branch on ``writer``, change a measure there, query both models on ``reader``,
    merge on ``writer`` and see the shared model answer the branch's number on ``reader``."""
    shared_sql = project.sql("SELECT SUM(sale_price) FROM order_items")
    branch_sql = project.sql("SELECT SUM(sale_price * 3) FROM order_items")
    assert shared_sql != branch_sql
    created = create_branch(writer, project.mo, "triple-sales")
    assert created.status_code == 200, created.text
    model = created.json()["model"]
    assert created.json()["success"] is True
    assert model["modelKind"] == "BRANCH" and model["baseModelId"] == MODEL_ID
    branch_id = model["id"]
    listed = httpx.get(
        f"{reader.url}/api/v1/models",
        params={"modelKind": "BRANCH", "baseModelId": MODEL_ID},
        headers=auth(project.org),
        timeout=30,
    ).json()
    assert [r["id"] for r in listed["records"]] == [branch_id]

    view = project.model / "order_items.view.yaml"
    original = view.read_text()
    measure = "  total_sale_price:\n    label: Total Sale Price\n    sql: ${sale_price}\n"
    assert measure in original
    changed = original.replace(measure, measure.replace("${sale_price}", "${sale_price} * 3"))
    response = post_yaml(writer, project.mo, fileName="order_items.view", yaml=changed,
                         branchId=branch_id, mode="extension")  # fmt: skip
    assert response.status_code == 200, response.text
    assert view.read_text() == original  # the shared model's file is untouched
    on_branch = get_yaml(reader, project.org, branchId=branch_id, mode="extension")
    assert on_branch["files"]["order_items.view"] == changed
    assert get_yaml(reader, project.org, mode="extension")["files"]["order_items.view"] == original
    checked = httpx.get(f"{reader.url}/api/v1/models/{MODEL_ID}/validate",
                        params={"branchId": branch_id}, headers=auth(project.org), timeout=60)  # fmt: skip
    assert checked.status_code == 200 and not [i for i in checked.json() if not i["is_warning"]]

    views = f"{reader.url}/api/v1/models/{MODEL_ID}/view"
    seen = httpx.get(views, params={"branch_id": branch_id}, headers=auth(project.org), timeout=60)
    assert seen.status_code == 200, seen.text
    nowhere = httpx.get(
        views, params={"branch_id": MODEL_ID}, headers=auth(project.org), timeout=60
    )
    assert nowhere.status_code == 404

    field = "order_items.total_sale_price"
    assert total(reader, project.org, field) == Decimal(str(shared_sql))
    assert total(reader, project.org, field, branchId=branch_id) == Decimal(str(branch_sql))
    assert total(reader, project.org, field) == Decimal(str(shared_sql))  # no cache crossing
    unknown = query(reader, project.org, [field], branchId="0f8fad5b-d9cb-469f-a165-70867728950f")
    assert unknown.status_code == 404

    merged = httpx.post(
        f"{writer.url}/api/v1/models/{MODEL_ID}/branch/triple-sales/merge",
        json={"delete_branch": True, "commit_message": "Triple the sales"},
        headers=auth(project.mo),
        timeout=60,
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["success"] is True
    assert view.read_text() == changed

    def answers_branch() -> bool:
        return total(reader, project.org, field) == Decimal(str(branch_sql))

    poll(answers_branch, "the shared model never answered the merged branch's number")
    gone = query(reader, project.org, [field], branchId=branch_id)
    assert gone.status_code == 404  # merged with delete_branch


def test_a_branch_changes_a_measure_for_its_queries_only_until_it_is_merged(
    project: Project, serve: Callable[..., Server]
) -> None:
    server = serve()
    branch_scenario(server, server, project)
    log = (project.root / "state" / "model-changes" / "shop.jsonl").read_text().splitlines()
    assert any('"merge"' in line and "Triple the sales" in line for line in log)
    assert any("branch triple-sales: write" in line and "Mo Deler" in line for line in log)


@pytest.mark.slow
def test_two_replicas_on_redis_share_branches_and_changes(
    project: Project, serve: Callable[..., Server], redis_url: str, redis_prefix: str
) -> None:
    env = {"SLUICE_REDIS_URL": redis_url, "SLUICE_SERVER_REDIS_PREFIX": redis_prefix}
    project.keys(ServerConfig(redis_url=redis_url, redis_prefix=redis_prefix))
    one = serve(**env, SLUICE_SERVER_STATE_DIR=str(project.root / "state1"))
    two = serve(**env, SLUICE_SERVER_STATE_DIR=str(project.root / "state2"))
    branch_scenario(one, two, project)


# -- replicas on other hosts: each with its own copy of the model folder ----------------------

TRIPLE = "  total_sale_price:\n    label: Total Sale Price\n    sql: ${sale_price} * 3\n"
SINGLE = "  total_sale_price:\n    label: Total Sale Price\n    sql: ${sale_price}\n"


def replica_copy(project: Project, name: str) -> tuple[Path, Path]:
    """Another host's copy of the project: its own model folder (the same files as deployed),
    its own sluice.yaml; the same warehouse file, keys and Redis."""
    model = project.root / f"model-{name}"
    shutil.copytree(DEMO_MODEL, model)
    config = project.root / f"sluice-{name}.yaml"
    config.write_text(project.config.read_text().replace(str(project.model), str(model)))
    return model, config


@pytest.mark.slow
def test_api_changes_reach_replicas_with_their_own_model_folders(
    project: Project, serve: Callable[..., Server], redis_url: str, redis_prefix: str
) -> None:
    env = {"SLUICE_REDIS_URL": redis_url, "SLUICE_SERVER_REDIS_PREFIX": redis_prefix}
    project.keys(ServerConfig(redis_url=redis_url, redis_prefix=redis_prefix))
    model_two, config_two = replica_copy(project, "two")
    one = serve(**env, SLUICE_SERVER_STATE_DIR=str(project.root / "state1"))
    two = serve(config_two, **env, SLUICE_SERVER_STATE_DIR=str(project.root / "state2"))
    field = "order_items.total_sale_price"
    single = project.sql("SELECT SUM(sale_price) FROM order_items")
    triple = project.sql("SELECT SUM(sale_price * 3) FROM order_items")
    assert single != triple
    start = get_yaml(one, project.org, mode="extension")["version"]
    assert get_yaml(two, project.org, mode="extension")["version"] == start  # one number

    # Replica two read the file (and its checksum) before replica one changed it.
    two_sums = get_yaml(two, project.org, mode="extension", includeChecksums="true")["checksums"]
    original = (model_two / "order_items.view.yaml").read_text()
    assert SINGLE in original and two_sums["order_items.view"] == checksum(original)
    changed = original.replace(SINGLE, TRIPLE)
    written = post_yaml(one, project.mo, fileName="order_items.view", yaml=changed,
                        previousChecksum=two_sums["order_items.view"],
                        commitMessage="Triple the sales")  # fmt: skip
    assert written.status_code == 200, written.text
    assert (project.model / "order_items.view.yaml").read_text() == changed
    assert total(two, project.org, field) in (Decimal(str(single)), Decimal(str(triple)))

    def two_answers_triple() -> bool:
        return total(two, project.org, field) == Decimal(str(triple))

    poll(two_answers_triple, "replica two never served the change made on replica one")
    assert (model_two / "order_items.view.yaml").read_text() == changed  # its own copy
    assert total(one, project.org, field) == Decimal(str(triple))
    log_two = (project.root / "state2" / "model-changes" / "shop.jsonl").read_text()
    assert "Triple the sales" in log_two and "Mo Deler" in log_two  # recorded there too

    # Replica two's stale checksum is a 409 (checked against the shared text), nothing written.
    stale = post_yaml(two, project.org, fileName="order_items.view", yaml=original,
                      previousChecksum=two_sums["order_items.view"])  # fmt: skip
    assert stale.status_code == 409, stale.text
    assert stale.json()["detail"] == "File has been modified since it was fetched"
    assert (model_two / "order_items.view.yaml").read_text() == changed
    assert (project.model / "order_items.view.yaml").read_text() == changed

    # A delete on replica two reaches replica one's folder.
    gone = httpx.delete(f"{two.url}/api/v1/models/{MODEL_ID}/yaml", headers=auth(project.org),
                        params={"fileName": "events.topic"}, timeout=30)  # fmt: skip
    assert gone.status_code == 200, gone.text
    assert not (model_two / "events.topic.yaml").exists()
    poll(lambda: not (project.model / "events.topic.yaml").exists(),
         "replica one never applied the delete made on replica two")  # fmt: skip

    # Every replica reports the same version for the same content, and it grew.
    versions = {get_yaml(s, project.org, mode="extension")["version"] for s in (one, two)}
    assert len(versions) == 1 and versions.pop() > start

    # A replica started after the changes (a fresh copy of the folder) serves them at once.
    model_three, config_three = replica_copy(project, "three")
    assert (model_three / "order_items.view.yaml").read_text() == original
    three = serve(config_three, **env, SLUICE_SERVER_STATE_DIR=str(project.root / "state3"))
    assert total(three, project.org, field) == Decimal(str(triple))
    assert (model_three / "order_items.view.yaml").read_text() == changed
    assert not (model_three / "events.topic.yaml").exists()
    on_three = get_yaml(three, project.org, mode="extension")
    assert "events.topic" not in on_three["files"]
    assert on_three["version"] == get_yaml(one, project.org, mode="extension")["version"]


# -- sluice.yaml's models: entries and `sluice refresh`, while the server runs -----------------

SHOP2_ID = model_uuid("shop2")


@pytest.mark.slow
def test_model_entries_added_to_or_removed_from_sluice_yaml_apply_without_a_restart(
    project: Project, serve: Callable[..., Server]
) -> None:
    server = serve()
    count = Decimal(str(project.sql("SELECT COUNT(*) FROM order_items")))
    original = project.config.read_text()
    second = project.root / "model-shop2"
    shutil.copytree(DEMO_MODEL, second)
    unknown = query(server, project.org, ["order_items.count"], model_id=SHOP2_ID)
    assert unknown.status_code == 404, unknown.text

    def answers(model_id: str) -> bool:
        return (
            query(server, project.org, ["order_items.count"], model_id=model_id).status_code == 200
        )

    entry = f"  shop2: {{connection: warehouse, path: {second}}}\n"
    project.config.write_text(original.replace("\nserver:", f"\n{entry}server:", 1))
    poll(lambda: answers(SHOP2_ID), "the model added to sluice.yaml never served")
    assert total(server, project.org, "order_items.count", model_id=SHOP2_ID) == count
    listed = httpx.get(f"{server.url}/api/v1/models", headers=auth(project.org), timeout=30)
    assert {r["name"] for r in listed.json()["records"]} == {"shop", "shop2"}

    # A sluice.yaml that does not load changes nothing: both models keep serving.
    project.config.write_text(original.replace("models:\n", "models: [\n", 1))
    poll(lambda: "invalid YAML" in server.log.read_text(), "the broken sluice.yaml was not logged")
    assert answers(SHOP2_ID) and answers(MODEL_ID)

    # A setting outside models: is logged as needing a restart (once), and applies nothing.
    project.config.write_text(
        original.replace("\nserver:\n", f"\n{entry}server:\n  rate_limit_per_minute: 5\n", 1)
    )
    poll(lambda: "restart the server to apply" in server.log.read_text(), "no restart notice")
    for _ in range(8):
        assert answers(SHOP2_ID)  # no rate limit of 5 a minute: the setting waits for a restart

    # Removed from sluice.yaml: a 404; the other model serves on.
    project.config.write_text(original)
    poll(lambda: not answers(SHOP2_ID), "the model removed from sluice.yaml still served")
    gone = query(server, project.org, ["order_items.count"], model_id=SHOP2_ID)
    assert gone.status_code == 404, gone.text
    assert total(server, project.org, "order_items.count") == count
    assert server.log.read_text().count("restart the server to apply") == 1


def sluice_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from sluice.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
def test_sluice_refresh_from_the_command_line_is_taken_up_by_the_running_server(
    project: Project, serve: Callable[..., Server]
) -> None:
    # The stored snapshot predates the table: the server serves without it until a refresh.
    first = sluice_cli("refresh", "-c", str(project.config))
    assert first.returncode == 0, first.stderr
    with duckdb.connect(str(project.database)) as con:
        con.execute(
            "CREATE TABLE gift_cards AS SELECT i AS id, i * 5 AS amount FROM range(1, 38) t(i)"
        )
    server = serve()

    def gift_cards() -> httpx.Response:
        return httpx.post(
            f"{server.url}/api/v1/query/run",
            json={"query": {"modelId": MODEL_ID, "table": "gift_cards",
                            "fields": ["gift_cards.count"]}, "resultType": "csv"},
            headers=auth(project.org), timeout=60,
        )  # fmt: skip

    before = gift_cards()
    assert before.status_code == 400 and "No such view `gift_cards`" in before.text, before.text
    done = sluice_cli("refresh", "-c", str(project.config))
    assert done.returncode == 0, done.stderr
    assert "new tables: main.gift_cards" in done.stdout, done.stdout
    poll(lambda: gift_cards().status_code == 200, "the refreshed snapshot was never taken up")
    response = gift_cards()
    assert columns(response) == ["Gift Cards Count"]
    assert Decimal(response.text.splitlines()[1]) == project.sql("SELECT COUNT(*) FROM gift_cards")
