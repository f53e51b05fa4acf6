"""Runs the example project against a real ml-audit server (fixture ``ml_audit_server`` from
the ``ml_audit.testing`` plugin) with an in-memory SQLite database for Django itself."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
os.environ["DJANGO_SETTINGS_MODULE"] = "fraud_site.settings"
os.environ["DJANGO_DATABASE"] = ":memory:"

import django  # noqa: E402

django.setup()

import pytest  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test.utils import override_settings, setup_test_environment  # noqa: E402

import ml_audit  # noqa: E402
from ml_audit import Client  # noqa: E402
from ml_audit.testing import MLAuditServer  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def django_environment(ml_audit_server: MLAuditServer) -> Iterator[None]:
    setup_test_environment()
    call_command("migrate", verbosity=0, interactive=False)
    ingest_key = ml_audit_server.create_key("ingest", name="fraud-example")
    # What an operator would put in settings.ML_AUDIT (here from the test server).
    with override_settings(ML_AUDIT={"URL": ml_audit_server.url, "API_KEY": ingest_key}):
        yield
    ml_audit.flush(10)


@pytest.fixture
def audit(ml_audit_server: MLAuditServer) -> Iterator[Client]:
    """A reader on the audit server (admin key), to check what the app recorded."""
    client = Client(url=ml_audit_server.url, api_key=ml_audit_server.admin_key, mode="sync")
    yield client
    client.close(1)
