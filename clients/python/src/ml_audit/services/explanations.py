"""``attach_explanation`` (django-ml-audit's ``ml_audit.services.explanations``)."""

from __future__ import annotations

from ..client import Client, PredictionRef, shared_client_function

__all__ = ["PredictionRef", "attach_explanation"]


@shared_client_function(Client.attach_explanation)
def attach_explanation():
    """Attach an explanation (SHAP, LIME, reason codes, ...) to a recorded prediction.

    ``prediction`` is the object ``record_prediction_event`` returned, its ``id`` (UUID), or
    its ``prediction_id`` string (UUID-shaped ones too). Attaching again adds a new revision;
    earlier ones stay on record. ``generated_at`` is kept as given.

    ``sync`` (default) returns the stored :class:`~ml_audit.models.Explanation` (with
    ``revision``); ``background`` queues it behind the prediction and returns at once.
    """
