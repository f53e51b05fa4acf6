"""``record_prediction_event`` (django-ml-audit's ``ml_audit.services.recording``)."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Optional

from ..client import ActorPayload, get_client
from ..models import PredictionEvent, PredictionStatus

__all__ = ["ActorPayload", "record_prediction_event"]


def record_prediction_event(
    *,
    model_name: str,
    model_version: str,
    features: Dict[str, Any],
    output: Any,
    decision_outcome: Optional[str] = None,
    actor: Optional[ActorPayload] = None,
    environment: Optional[str] = None,
    trace_id: Optional[str] = None,
    latency_ms: Optional[float] = None,
    status: str = PredictionStatus.SUCCESS,
    confidence: Optional[float] = None,
    metadata: Optional[Dict[str, Any]] = None,
    input_fingerprint: Optional[str] = None,
    framework: Optional[str] = None,
    build_id: Optional[str] = None,
    commit_hash: Optional[str] = None,
    config_snapshot: Optional[Dict[str, Any]] = None,
    prediction_id: Optional[str] = None,
    timestamp: Optional[_dt.datetime] = None,
    mode: Optional[str] = None,
) -> PredictionEvent:
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
    return get_client().record_prediction_event(
        model_name=model_name,
        model_version=model_version,
        features=features,
        output=output,
        decision_outcome=decision_outcome,
        actor=actor,
        environment=environment,
        trace_id=trace_id,
        latency_ms=latency_ms,
        status=status,
        confidence=confidence,
        metadata=metadata,
        input_fingerprint=input_fingerprint,
        framework=framework,
        build_id=build_id,
        commit_hash=commit_hash,
        config_snapshot=config_snapshot,
        prediction_id=prediction_id,
        timestamp=timestamp,
        mode=mode,
    )
