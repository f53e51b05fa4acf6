"""ml-audit's Python client: record ML predictions in an ml-audit server.

Keeps django-ml-audit's API at the same import paths (``ml_audit.services``,
``ml_audit.integrations.drf``), so a Django app moves over by changing its installed package and
its settings. The core uses the standard library only.

Settings: ``ML_AUDIT_URL`` / ``ML_AUDIT_API_KEY`` in the environment, or Django's
``ML_AUDIT = {"URL": ..., "API_KEY": ..., "MODE": ...}``, or :func:`configure` in code.
"""

from ._version import __version__
from ._redaction import RedactionRules
from ._config import Settings
from .client import ActorPayload, Client, configure, flush, get_client, reset, stats
from .errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    Conflict,
    DeliveryError,
    MLAuditError,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    ValidationError,
)
from .models import (
    ActorType,
    Explanation,
    ModelVersion,
    Outcome,
    PredictionEvent,
    PredictionStatus,
    RequestingActor,
    Review,
    ReviewAction,
    Reviewer,
    ReviewState,
)

__all__ = [
    "__version__",
    "ActorPayload",
    "ActorType",
    "APIError",
    "AuthenticationError",
    "Client",
    "ConfigurationError",
    "Conflict",
    "DeliveryError",
    "Explanation",
    "MLAuditError",
    "ModelVersion",
    "NotFound",
    "Outcome",
    "PermissionDenied",
    "PredictionEvent",
    "PredictionStatus",
    "RedactionRules",
    "RequestingActor",
    "Review",
    "ReviewAction",
    "Reviewer",
    "ReviewState",
    "ServiceUnavailable",
    "Settings",
    "ValidationError",
    "configure",
    "flush",
    "get_client",
    "reset",
    "stats",
]
