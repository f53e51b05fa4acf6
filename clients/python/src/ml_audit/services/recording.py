"""``record_prediction_event`` (django-ml-audit's ``ml_audit.services.recording``)."""

from __future__ import annotations

from ..client import ActorPayload, Client, shared_client_function

__all__ = ["ActorPayload", "record_prediction_event"]


# ``explanation`` is the Client method's alone: django-ml-audit's function has no such parameter.
@shared_client_function(Client.record_prediction_event, leaving_out="explanation")
def record_prediction_event():
    """Record one prediction in the audit trail.

    Features are redacted by key name (``ML_AUDIT_REDACTION``) before they leave the process;
    the server redacts again. ``prediction_id`` is the stable external id (a UUID is generated
    when it is not given); sending the same one again with the same content returns the stored
    event, with different content raises :class:`ml_audit.errors.Conflict`.

    ``mode="sync"`` (the default unless ``ML_AUDIT["MODE"]`` says otherwise) returns the stored
    :class:`~ml_audit.models.PredictionEvent` (``.id``, ``.prediction_id``, ``.features``, ...)
    and raises :class:`ml_audit.errors.MLAuditError` when it cannot be stored.
    ``mode="background"`` queues the event and returns at once a pending ``PredictionEvent``
    whose ``prediction_id`` is already final (``id`` is None); it never raises.
    """
