"""The Flight SQL endpoint over TLS: a self-signed certificate made with the openssl CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.flight as flight
import pytest

from sluice.flight.protocol import message, pack
from tests.api.support import create_keys, write_project
from tests.e2e.conftest import Server, free_port


@pytest.mark.slow
def test_flight_sql_over_tls(tmp_path: Path, demo_db: Path) -> None:
    if shutil.which("openssl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("openssl is needed to make the test certificate")
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    config = write_project(tmp_path / "project", demo_db)
    keys = create_keys(tmp_path / "project" / "state")
    port = free_port()
    env = {
        "SLUICE_SERVER_FLIGHT_PORT": str(port),
        "SLUICE_SERVER_FLIGHT_TLS_CERT": str(cert),
        "SLUICE_SERVER_FLIGHT_TLS_KEY": str(key),
    }
    server = Server(config, tmp_path / "server.log", env=env)
    try:
        client = flight.connect(f"grpc+tls://127.0.0.1:{port}", tls_root_certs=cert.read_bytes())
        options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {keys.org}".encode())]
        )
        sql = 'SELECT MEASURE("order_items.count") FROM ecommerce.topics.order_items'
        descriptor = flight.FlightDescriptor.for_command(
            pack(message("CommandStatementQuery", query=sql))
        )
        info = client.get_flight_info(descriptor, options)
        assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 1
        plain = flight.connect(f"grpc://127.0.0.1:{port}")
        with pytest.raises(flight.FlightError):
            plain.get_flight_info(descriptor, flight.FlightCallOptions(
                headers=options.headers, timeout=5))  # fmt: skip
    finally:
        server.stop()
