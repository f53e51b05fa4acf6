"""``attach_explanation`` (django-ml-audit's ``ml_audit.services.explanations``)."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Optional

from ..client import PredictionRef, get_client
from ..models import Explanation, PredictionStatus

__all__ = ["PredictionRef", "attach_explanation"]


def attach_explanation(
    *,
    method: str,
    prediction: PredictionRef,
    payload: Dict[str, Any],
    summary_text: Optional[str] = None,
    status: str = PredictionStatus.SUCCESS,
    method_version: Optional[str] = None,
    generated_at: Optional[_dt.datetime] = None,
    mode: Optional[str] = None,
    explanation_id: Optional[str] = None,
) -> Explanation:
    """Attach an explanation (SHAP, LIME, reason codes, ...) to a recorded prediction.

    ``prediction`` is the object ``record_prediction_event`` returned, its ``id`` (UUID), or
    its ``prediction_id`` string (UUID-shaped ones too). Attaching again adds a new revision;
    earlier ones stay on record. ``generated_at`` is kept as given. ``explanation_id`` (generated
    when not given) makes a retry safe: the server answers it with the stored revision instead
    of adding another.

    ``sync`` (default) returns the stored :class:`~ml_audit.models.Explanation` (with
    ``revision``); ``background`` queues it behind the prediction and returns at once.
    """
    return get_client().attach_explanation(
        method=method,
        prediction=prediction,
        payload=payload,
        summary_text=summary_text,
        status=status,
        method_version=method_version,
        generated_at=generated_at,
        mode=mode,
        explanation_id=explanation_id,
    )
