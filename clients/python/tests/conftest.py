"""Fixtures: a real ml-audit server (from ml_audit.testing, loaded with ``-p ml_audit.testing``)
and clients pointed at it. Every client made here is closed at the end of its test."""

from __future__ import annotations

import json
import socket
import uuid
from typing import Any, Callable, Iterator, List, Tuple

import pytest

import ml_audit
from ml_audit import Client
from ml_audit._encoding import dumps
from ml_audit._transport import Connection
from ml_audit.testing import MLAuditServer


@pytest.fixture(autouse=True)
def _no_shared_client_leaks() -> Iterator[None]:
    ml_audit.reset()
    yield
    ml_audit.reset()


@pytest.fixture
def server(ml_audit_server: MLAuditServer) -> MLAuditServer:
    return ml_audit_server


@pytest.fixture(scope="session")
def ingest_key(ml_audit_server: MLAuditServer) -> str:
    return ml_audit_server.create_key("ingest", name="python-client-tests")


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    """``make_client(url=..., api_key=..., **settings)``; default redaction unless given."""
    made: List[Client] = []

    def make(**settings: Any) -> Client:
        settings.setdefault("redaction", {})
        client = Client(**settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=0.5)


@pytest.fixture
def admin(server: MLAuditServer, make_client: Callable[..., Client]) -> Client:
    """A sync client with the admin key, to read back what was stored."""
    return make_client(url=server.url, api_key=server.admin_key, mode="sync")


@pytest.fixture
def model_name() -> str:
    """A model name of this test alone, so listing by model finds only this test's events."""
    return f"model-{uuid.uuid4().hex[:12]}"


def closed_port() -> int:
    """A local port with nothing listening (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stored_ids(admin: Client, model_name: str) -> List[str]:
    """prediction_ids stored for a model, one entry per stored row (duplicates would show)."""
    return [event.prediction_id for event in admin.iter_predictions(model_name=model_name)]


def raw_post(server: MLAuditServer, key: str, path: str, body: Any) -> Tuple[int, Any]:
    """One request as the server answers it, status included (a client call returns only the
    body): ``(status, decoded JSON)``."""
    conn = Connection(server.url, key, 10)
    try:
        status, data, _ = conn.request("POST", path, dumps(body))
    finally:
        conn.close()
    return status, json.loads(data) if data else None
