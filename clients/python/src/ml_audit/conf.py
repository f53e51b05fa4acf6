"""django-ml-audit's ``ml_audit.conf``: the redaction settings the client applies."""

from __future__ import annotations

from typing import Optional

from ._redaction import DEFAULT_MASK, SENSITIVE_KEY_FRAGMENTS, RedactionRules

# django-ml-audit's name for the compiled rules.
RedactionConfig = RedactionRules

__all__ = [
    "DEFAULT_MASK",
    "SENSITIVE_KEY_FRAGMENTS",
    "RedactionConfig",
    "RedactionRules",
    "get_redaction_config",
]


def get_redaction_config(setting: Optional[dict] = None) -> RedactionRules:
    """The rules from ``setting`` or, by default, the shared client's (``ML_AUDIT_REDACTION``)."""
    if setting is not None:
        return RedactionRules.from_setting(setting)
    from .client import get_client

    return get_client().settings.redaction
