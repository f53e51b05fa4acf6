"""django-ml-audit's service functions, same names and arguments, backed by the ml-audit server.

``record_prediction_event``, ``attach_explanation`` and what follows a prediction
(``record_outcome``, ``record_outcomes``, ``record_review``) default to ``sync`` mode (the call
returns the stored record, or raises :class:`ml_audit.errors.MLAuditError`); pass
``mode="background"`` (or set ``ML_AUDIT = {"MODE": "background"}``) to queue instead and
return at once.
"""

from .explanations import attach_explanation
from .outcomes import record_outcome, record_outcomes
from .recording import ActorPayload, record_prediction_event
from .reviews import record_review

__all__ = [
    "record_prediction_event",
    "ActorPayload",
    "attach_explanation",
    "record_outcome",
    "record_outcomes",
    "record_review",
]
