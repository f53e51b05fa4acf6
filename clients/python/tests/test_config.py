"""Settings resolution (without Django: Django settings are covered by the example project)."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Callable

import pytest

import ml_audit
from ml_audit import Client, ConfigurationError, Settings
from ml_audit._config import resolve
from ml_audit.testing import MLAuditServer


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ML_AUDIT_URL", "ML_AUDIT_API_KEY", "ML_AUDIT_MODE", "DJANGO_SETTINGS_MODULE"):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = resolve()
    assert settings == Settings(redaction=settings.redaction)
    assert (settings.url, settings.api_key, settings.mode) == ("http://127.0.0.1:8080", "", None)
    assert settings.redaction.mask_value == "*****"


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_AUDIT_URL", "https://audit.example.com/prefix/")
    monkeypatch.setenv("ML_AUDIT_API_KEY", "mla_env")
    monkeypatch.setenv("ML_AUDIT_MODE", "Background")
    settings = resolve()
    assert (settings.url, settings.api_key, settings.mode) == ("https://audit.example.com/prefix", "mla_env", "background")
    # Code wins over the environment.
    assert resolve({"api_key": "mla_code", "mode": "sync"}).api_key == "mla_code"


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(ConfigurationError, match="MODE"):
        resolve({"mode": "fast"})
    with pytest.raises(ConfigurationError, match="unknown"):
        resolve({"colour": "blue"})
    with pytest.raises(ConfigurationError, match="BATCH_SIZE"):
        resolve({"batch_size": 5000})
    with pytest.raises(ConfigurationError, match="URL"):
        resolve({"url": "ftp://x"})
    with pytest.raises(ConfigurationError, match="number"):
        resolve({"timeout": "soon"})
    with pytest.raises(ConfigurationError):
        Client(url="http://127.0.0.1:9", api_key="k").record_prediction_event(
            model_name="m", model_version="1", features={}, output=1, mode="later"
        )


def test_numbers_from_strings() -> None:
    settings = resolve({"timeout": "2.5", "queue_size": "100"})
    assert (settings.timeout, settings.queue_size) == (2.5, 100)


def test_core_needs_neither_django_nor_anything_else() -> None:
    # Django is blocked from being imported: the core still works (and never tried to).
    code = (
        "import sys; sys.modules['django'] = None; sys.modules['rest_framework'] = None\n"
        "import ml_audit, ml_audit.services, ml_audit.models, ml_audit.errors\n"
        "c = ml_audit.Client(url='http://127.0.0.1:9', api_key='k', mode='background', shutdown_timeout=0)\n"
        "p = c.record_prediction_event(model_name='m', model_version='1', features={'email': 'x'}, output=1)\n"
        "assert p.features == {'email': '*****'} and p.pending\n"
        "c.close(0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "django" not in sys.modules


def test_configure_replaces_the_shared_client_and_old_ones_keep_working(
    server: MLAuditServer, ingest_key: str, admin: Client, model_name: str
) -> None:
    first = ml_audit.configure(url=server.url, api_key=ingest_key, mode="background")
    assert ml_audit.get_client() is first
    first.record_prediction_event(model_name=model_name, model_version="1", features={}, output=1)
    second = ml_audit.configure(url=server.url, api_key=ingest_key, mode="background")
    assert ml_audit.get_client() is second and second is not first
    # The replaced client delivers what it had, and still works if someone kept it.
    assert first.flush(30)
    first.record_prediction_event(model_name=model_name, model_version="1", features={}, output=2)
    assert first.flush(30)
    assert first.stats()["sent"] == 2
    ml_audit.reset()
    assert ml_audit.flush(1) is True and ml_audit.stats()["sent"] == 0


def test_concurrent_callers(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], admin: Client, model_name: str
) -> None:
    background = make_client(url=server.url, api_key=ingest_key, mode="background")
    sync = make_client(url=server.url, api_key=ingest_key, mode="sync")
    errors = []

    def work(thread: int) -> None:
        try:
            for index in range(100):
                background.record_prediction_event(
                    model_name=model_name, model_version="1", features={"t": thread, "i": index}, output=1
                )
            for index in range(5):  # each thread has its own keep-alive connection
                sync.record_prediction_event(
                    model_name=model_name, model_version="1", features={"t": thread, "s": index}, output=1
                )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert background.flush(60)
    assert background.stats()["sent"] == 800
    ids = [event.prediction_id for event in admin.iter_predictions(model_name=model_name)]
    assert len(ids) == len(set(ids)) == 840
