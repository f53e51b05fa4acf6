"""Settings: ``ml_audit.configure(...)``, then Django's ``ML_AUDIT`` / ``ML_AUDIT_REDACTION``,
then the ``ML_AUDIT_URL`` / ``ML_AUDIT_API_KEY`` / ``ML_AUDIT_MODE`` environment variables, then
the defaults."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, Mapping, Optional

from ._redaction import RedactionRules
from .errors import ConfigurationError

logger = logging.getLogger("ml_audit")

SYNC = "sync"
BACKGROUND = "background"
MODES = (SYNC, BACKGROUND)

DEFAULT_URL = "http://127.0.0.1:8080"
MAX_BATCH = 1000


@dataclass(frozen=True)
class Settings:
    """Every client setting. Django's ``ML_AUDIT`` dict uses the upper-case names
    (``URL``, ``API_KEY``, ``MODE``, ``TIMEOUT``, ...), ``configure()`` the lower-case ones."""

    #: Base URL of the ml-audit server (a path prefix is allowed: ``https://host/audit``).
    url: str = DEFAULT_URL
    #: An API key with the ``ingest`` scope (or ``admin``).
    api_key: str = ""
    #: Delivery mode when a call does not choose: ``None`` means ``sync`` for direct
    #: ``record_prediction_event`` / ``attach_explanation`` calls and ``background`` for the
    #: ``audited_prediction`` decorator; ``"sync"`` or ``"background"`` sets both.
    mode: Optional[str] = None
    #: Seconds for one HTTP request (connect + answer).
    timeout: float = 10.0
    #: Extra attempts of a ``sync`` call after a connection error, 5xx or 429 (never sooner
    #: than the server's ``Retry-After``, capped at ``max_backoff``).
    sync_retries: int = 2
    #: Most events waiting in the background queue; beyond it events are dropped and counted.
    queue_size: int = 10_000
    #: Most events per ``POST /predictions/batch`` (the server's limit is 1000).
    batch_size: int = MAX_BATCH
    #: Most bytes per batch request (the server's default body limit is 10 MB).
    batch_bytes: int = 4 * 1024 * 1024
    #: Longest time (seconds) an event waits in the queue for a batch to fill up.
    flush_interval: float = 0.05
    #: First retry delay (seconds) of the background worker; doubles on each failure.
    retry_backoff: float = 0.1
    #: Longest retry delay (seconds) of the background worker; also caps how long a retry
    #: waits for the server's ``Retry-After``.
    max_backoff: float = 5.0
    #: How long (seconds) interpreter exit waits for queued events to be delivered.
    shutdown_timeout: float = 5.0
    #: Key-name redaction applied before anything leaves the process.
    redaction: RedactionRules = field(default_factory=RedactionRules)

    def validated(self) -> "Settings":
        if self.mode is not None and self.mode not in MODES:
            raise ConfigurationError(f"ML_AUDIT MODE must be 'sync' or 'background', not {self.mode!r}")
        if not (1 <= self.batch_size <= MAX_BATCH):
            raise ConfigurationError(f"ML_AUDIT BATCH_SIZE must be from 1 to {MAX_BATCH}")
        if self.queue_size < 1:
            raise ConfigurationError("ML_AUDIT QUEUE_SIZE must be at least 1")
        if not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(f"ML_AUDIT URL must start with http:// or https://, not {self.url!r}")
        return self


_NAMES = {f.name for f in fields(Settings)}
_NUMBERS = {
    "timeout": float,
    "sync_retries": int,
    "queue_size": int,
    "batch_size": int,
    "batch_bytes": int,
    "flush_interval": float,
    "retry_backoff": float,
    "max_backoff": float,
    "shutdown_timeout": float,
}


def _django_settings() -> Optional[Any]:
    """Django's settings when this process is a Django one; never imports Django otherwise."""
    module_set = bool(os.environ.get("DJANGO_SETTINGS_MODULE"))
    if "django" not in sys.modules and not module_set:
        return None
    try:
        from django.conf import settings as django_settings
    except Exception:
        return None
    try:
        if not django_settings.configured and not module_set:
            return None
        # Loads them (from DJANGO_SETTINGS_MODULE) if that has not happened yet.
        getattr(django_settings, "ML_AUDIT", None)
    except Exception:
        return None
    return django_settings


def _coerce(name: str, value: Any) -> Any:
    if name in _NUMBERS and value is not None:
        try:
            return _NUMBERS[name](value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"ML_AUDIT {name.upper()} must be a number, not {value!r}") from None
    if name in ("url", "api_key") and value is not None:
        return str(value)
    if name == "mode" and value is not None:
        value = str(value).strip().lower()
        return value or None
    return value


def resolve(overrides: Optional[Mapping[str, Any]] = None) -> Settings:
    """The effective settings."""
    values: Dict[str, Any] = {}
    env_url = os.environ.get("ML_AUDIT_URL")
    env_key = os.environ.get("ML_AUDIT_API_KEY")
    env_mode = os.environ.get("ML_AUDIT_MODE")
    if env_url:
        values["url"] = env_url
    if env_key:
        values["api_key"] = env_key
    if env_mode:
        values["mode"] = env_mode

    redaction_setting: Optional[Mapping] = None
    django_settings = _django_settings()
    if django_settings is not None:
        section = getattr(django_settings, "ML_AUDIT", None) or {}
        if not isinstance(section, Mapping):
            raise ConfigurationError("settings.ML_AUDIT must be a dict")
        for key, value in section.items():
            name = str(key).lower()
            if name == "redaction":
                redaction_setting = value
            elif name in _NAMES:
                if value is not None and value != "":
                    values[name] = value
            else:
                logger.warning("ml_audit: unknown key %r in settings.ML_AUDIT is ignored", key)
        django_redaction = getattr(django_settings, "ML_AUDIT_REDACTION", None)
        if django_redaction is not None:
            redaction_setting = django_redaction

    for key, value in (overrides or {}).items():
        name = str(key).lower()
        if name not in _NAMES:
            raise ConfigurationError(f"unknown ml_audit setting {key!r}")
        if name == "redaction":
            redaction_setting = None
            values["redaction"] = value
        else:
            values[name] = value

    redaction = values.pop("redaction", None)
    if isinstance(redaction, RedactionRules):
        rules = redaction
    elif redaction is not None:
        rules = RedactionRules.from_setting(redaction)
    else:
        rules = RedactionRules.from_setting(redaction_setting)

    coerced = {name: _coerce(name, value) for name, value in values.items()}
    url = coerced.get("url")
    if url is not None:
        coerced["url"] = url.rstrip("/") or DEFAULT_URL
    return replace(Settings(), redaction=rules, **coerced).validated()
