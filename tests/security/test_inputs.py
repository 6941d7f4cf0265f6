"""Bad input never hurts the server: budgets with clear 400s, text validated at the edge, and
the inputs that used to answer 500 (or hang) now answer a 400 or a PLAN error naming them."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.api.budgets import Budgets, check_query, check_tree, count_values, loads
from sluice.errors import BadRequest
from sluice.jobs.lines import BAD_TEXT_MESSAGE, job_line
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobStatus
from tests.security.conftest import Target

BASE = {"join_paths_from_topic_name": "order_items", "fields": ["users.state"], "limit": 5}


def post(target: Target, body: Any, *, raw: bytes | None = None) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body).encode()
    return target.api.post(
        "/api/v1/query/run",
        key=target.api.keys.org,
        content=content,
        headers={"content-type": "application/json"},
    )


def query(target: Target, **changes: Any) -> dict[str, Any]:
    return {"query": {"modelId": target.api.model_id(), **BASE, **changes}}


def job(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text[:300]
    lines = [json.loads(x) for x in response.text.splitlines()]
    (found,) = [x for x in lines if "job_id" in x]
    return found


def assert_400(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400, response.text[:300]
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail


# -- the inputs that answered 500 ---------------------------------------------------------------


def test_a_long_timezone_is_a_400(target: Target) -> None:
    assert_400(post(target, {**query(target), "timezone": "A" * 300}), "timezone")
    assert_400(post(target, {**query(target), "timezone": "Europe/" + "x" * 250}), "timezone")


def test_json_nested_900_levels_is_a_400(target: Target) -> None:
    deep = b'{"query": ' + b'{"a": ' * 900 + b"1" + b"}" * 901
    assert_400(post(target, None, raw=deep), "nested too deeply")
    deeper = b"[" * 100_000 + b"]" * 100_000
    assert_400(post(target, None, raw=deeper), "nested too deeply")
    filters = {"users.state": {"a": 1}}
    node: dict[str, Any] = filters
    for _ in range(100):
        node = node["users.state"] if "users.state" in node else node["a"]
        node["a"] = {"a": 1}
    assert_400(post(target, query(target, filters=filters)), "nested too deeply")


def test_a_quote_in_user_edited_sql_is_a_plan_error(target: Target) -> None:
    for sql in ("SELECT 'a", 'SELECT "a', "SELECT ${users.state} FROM ${order_items} WHERE x = 'a"):
        found = job(post(target, query(target, userEditedSQL=sql)))
        assert found["status"] == "ERROR" and found["error_type"] == "PLAN", found
        assert "userEditedSQL" in found["error_message"], found


def test_a_date_out_of_range_is_a_plan_error(target: Target) -> None:
    for left, right in (
        ("999999999 years ago", "1 years"),
        ("999999999 years from now", "1 years"),
        ("12 months ago", "999999999 years"),
        ("0000-01-01", "1 days"),
        ("9" * 5000 + " days ago", "1 days"),
    ):
        date = {
            "type": "date",
            "kind": "TIME_FOR_INTERVAL_DURATION",
            "left_side": left,
            "right_side": right,
        }
        found = job(post(target, query(target, filters={"order_items.created_at": date})))
        assert found["status"] == "ERROR" and found["error_type"] == "PLAN", (left, found)


def test_a_reference_inside_a_string_literal_is_text(target: Target) -> None:
    sql = "SELECT '${users.id}' AS t, count(*) AS n FROM ${order_items}"
    found = job(post(target, query(target, userEditedSQL=sql, fields=[])))
    assert found["status"] == "COMPLETE", found
    planned = job(post(target, {**query(target, userEditedSQL=sql, fields=[]), "planOnly": True}))
    assert "'${users.id}'" in json.dumps(planned), planned


# -- text at the edge ---------------------------------------------------------------------------


def test_a_lone_surrogate_is_a_400_naming_the_field(target: Target) -> None:
    def with_surrogate(body: dict[str, Any]) -> bytes:  # JSON can spell it, UTF-8 cannot
        return json.dumps(body).replace("SURROGATE", "\\ud800").encode()

    typed = {"users.state": {"kind": "EQUALS", "values": ["SURROGATE"]}}
    raw = with_surrogate(query(target, filters=typed))
    assert_400(post(target, None, raw=raw), "values[0]", "not valid Unicode")
    raw = with_surrogate(query(target, fields=["SURROGATE"]))
    assert_400(post(target, None, raw=raw), "query.fields[0]")
    raw = with_surrogate(query(target, filters={"users.state": "a,SURROGATE"}))
    assert_400(post(target, None, raw=raw), "users.state")


def test_a_lone_surrogate_in_job_ids_is_a_400(target: Target) -> None:
    response = target.api.get(
        "/api/v1/query/wait", key=target.api.keys.org, params={"job_ids": '["\\ud800"]'}
    )
    assert_400(response, "job_ids", "not valid Unicode")


def test_a_stored_record_with_bad_text_is_reported_failed() -> None:
    record = JobRecord.from_json(
        json.dumps(
            {
                "id": "job-1",
                "organization_id": "o",
                "model_id": "m",
                "user_id": None,
                "status": "COMPLETE",
                "client_result_id": "c",
                "created_at": 1.0,
                "query": {"filters": {"users.state": "\ud800"}},
            }
        )
    )
    assert record.status is JobStatus.COMPLETE
    line = json.loads(job_line(record, b"AAAA"))
    assert line["status"] == "ERROR" and line["error_message"] == BAD_TEXT_MESSAGE


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    surrogate=st.integers(0xD800, 0xDFFF),
    where=st.sampled_from(["fields", "filter", "sort", "topic", "sql", "timezone"]),
)
def test_any_lone_surrogate_anywhere_is_a_400(
    before: str, after: str, surrogate: int, where: str
) -> None:
    text = before + chr(surrogate) + after
    body: dict[str, Any] = {"query": {"modelId": "m", "fields": ["a"]}}
    q = body["query"]
    if where == "fields":
        q["fields"] = ["a", text]
    elif where == "filter":
        q["filters"] = {"a": {"kind": "EQUALS", "values": ["x", text]}}
    elif where == "sort":
        q["sorts"] = [{"column_name": text}]
    elif where == "topic":
        q["join_paths_from_topic_name"] = text
    elif where == "sql":
        q["userEditedSQL"] = text
    else:
        body["timezone"] = text
    raw = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as \\udxxx
    try:
        loads(raw, Budgets())
    except BadRequest as exc:
        assert "not valid Unicode" in exc.message
    else:
        raise AssertionError(f"accepted {text!r} in {where}")


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.text(max_size=5), lambda c: st.lists(c, max_size=3), max_leaves=20))
def test_valid_text_passes_the_edge(value: Any) -> None:
    raw = json.dumps({"v": value}).encode()
    assert loads(raw, Budgets(max_json_depth=1000)) == {"v": value}


# -- budgets ------------------------------------------------------------------------------------


def test_ten_thousand_plain_values_compile_and_more_are_a_400(target: Target) -> None:
    values = ",".join(f"state {i}" for i in range(10_000))  # the default cap (took 18 s)
    response = post(target, {**query(target, filters={"users.state": values}), "planOnly": True})
    assert job(response)["status"] == "PLANNED"
    for n in (10_001, 100_000):
        many = ",".join(f"s{i}" for i in range(n))
        assert_400(post(target, query(target, filters={"users.state": many})), "users.state")


def test_a_hundred_thousand_contains_values_are_a_400(target: Target) -> None:
    spec = {"kind": "CONTAINS", "values": [f"v{i}" for i in range(100_000)]}
    assert_400(post(target, query(target, filters={"users.state": spec})), "users.state")


def test_too_many_fields_and_long_names_are_400s(target: Target) -> None:
    assert_400(post(target, query(target, fields=["users.state"] * 501)), "query.fields")
    assert_400(post(target, query(target, fields=["x" * 1001])), "query.fields[0]")
    assert_400(
        post(target, query(target, sorts=[{"column_name": "x" * 1001}])), "sorts[0].column_name"
    )
    assert_400(post(target, query(target, userEditedSQL="x" * 100_001)), "userEditedSQL")


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 400),
    cap=st.integers(1, 300),
    shape=st.sampled_from(["plain", "typed", "composite"]),
)
def test_the_filter_value_budget_holds_exactly(n: int, cap: int, shape: str) -> None:
    values = [f"v{i}" for i in range(n)]
    spec: Any
    if shape == "plain":
        spec = ",".join(values)
    elif shape == "typed":
        spec = {"kind": "EQUALS", "values": values}
    else:
        half = n // 2
        spec = {
            "type": "composite",
            "filters": [{"values": values[:half]}, {"values": values[half:]}],
        }
    assert count_values(spec) == n + (2 if shape == "composite" else 0)
    budgets = Budgets(max_filter_values=cap, max_filter_values_total=10 * cap)
    try:
        check_query({"filters": {"a": spec}}, budgets)
    except BadRequest as exc:
        assert count_values(spec) > cap and f"at most {cap}" in exc.message
    else:
        assert count_values(spec) <= cap


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(_JSON, st.integers(min_value=1, max_value=8), st.booleans())
def test_the_walk_is_skipped_only_where_it_could_not_refuse(
    value: Any, depth: int, ascii_only: bool
) -> None:
    """``loads`` skips the tree walk when the text cannot hold a deep tree or a surrogate
    escape; it answers exactly as the full walk does, whatever the body and depth budget."""
    budgets = Budgets(max_json_depth=depth)
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        loads(raw, budgets)
        fast: str | None = None
    except BadRequest as exc:
        fast = exc.message
    try:
        check_tree(json.loads(raw), budgets)
        full: str | None = None
    except BadRequest as exc:
        full = exc.message
    assert fast == full
