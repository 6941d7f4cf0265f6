"""A tiny stand-in for a Trino coordinator: enough of the client protocol to drive the real client.

There is no Trino server on this machine, so the engine is tested against this one, on a
loopback port. It speaks Trino's REST protocol (``POST /v1/statement``, then ``GET nextUri``
until no ``nextUri`` is left, ``DELETE nextUri`` to cancel) and answers from a table of canned
statements, in the wire format a real coordinator uses (numbers as JSON numbers, decimals,
dates and timestamps as strings).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Canned:
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, trino type)
    data: list[list[Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    runs_until_cancelled: bool = False


def _signature(type_name: str) -> dict[str, Any]:
    raw = type_name.split("(", 1)[0].strip()
    args: list[dict[str, Any]] = []
    if "(" in type_name and raw in ("varchar", "char", "decimal", "timestamp", "time"):
        inner = type_name.split("(", 1)[1].split(")", 1)[0]
        args = [{"kind": "LONG", "value": int(v)} for v in inner.split(",")]
    elif raw == "varchar":  # unbounded: Trino sends its maximum length
        args = [{"kind": "LONG", "value": 2147483647}]
    return {"rawType": raw, "arguments": args}


class FakeTrino:
    def __init__(self) -> None:
        self.statements: dict[str, Canned] = {}
        self.sessions: list[str] = []  # the X-Trino-Session header of each statement
        self.cancelled: set[str] = set()
        self._queries: dict[str, Canned] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any] | None = None) -> None:
                payload = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                sql = self.rfile.read(int(self.headers["Content-Length"])).decode()
                fake.sessions.append(self.headers.get("X-Trino-Session", ""))
                canned = fake.statements.get(" ".join(sql.split()))
                if canned is None:
                    canned = Canned(error=_error(f"no canned answer for: {sql}", "SYNTAX_ERROR"))
                with fake._lock:
                    query_id = f"q{len(fake._queries)}"
                    fake._queries[query_id] = canned
                self._send(200, fake.status(query_id, step=0))

            def do_GET(self) -> None:
                query_id, step = self.path.rsplit("/", 2)[-2:]
                self._send(200, fake.status(query_id, step=int(step)))

            def do_DELETE(self) -> None:
                query_id = self.path.rsplit("/", 2)[-2]
                with fake._lock:
                    fake.cancelled.add(query_id)
                self._send(204)

        return Handler

    def status(self, query_id: str, step: int) -> dict[str, Any]:
        canned = self._queries[query_id]
        base = {"id": query_id, "infoUri": f"{self.url}/ui/{query_id}", "warnings": []}
        next_uri = f"{self.url}/v1/statement/executing/{query_id}/{step + 1}"
        if query_id in self.cancelled:
            return {
                **base,
                "stats": {"state": "FAILED"},
                "error": _error("cancelled", "USER_CANCELED"),
            }
        if step == 0:  # queued: no columns yet
            return {**base, "nextUri": next_uri, "stats": {"state": "QUEUED"}}
        if canned.error is not None:
            return {**base, "stats": {"state": "FAILED"}, "error": canned.error}
        if canned.runs_until_cancelled:
            threading.Event().wait(0.05)
            return {**base, "nextUri": next_uri, "stats": {"state": "RUNNING"}}
        columns = [
            {"name": n, "type": t, "typeSignature": _signature(t)} for n, t in canned.columns
        ]
        return {**base, "columns": columns, "data": canned.data, "stats": {"state": "FINISHED"}}

    @contextmanager
    def running(self) -> Iterator[FakeTrino]:
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


def _error(message: str, name: str) -> dict[str, Any]:
    return {
        "message": message,
        "errorCode": 1,
        "errorName": name,
        "errorType": "USER_ERROR",
        "failureInfo": {"type": "io.trino.spi.TrinoException", "message": message},
    }
