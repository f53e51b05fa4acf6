"""One example event for the tests (the README quickstart's)."""

from __future__ import annotations

from typing import Any, Dict

from ml_audit.services import ActorPayload


def example_event(**changes: Any) -> Dict[str, Any]:
    """Keyword arguments of ``record_prediction_event`` for a typical fraud-scoring event (the
    README quickstart's), with ``changes``. New objects on every call: callers may change them."""
    event: Dict[str, Any] = dict(
        model_name="fraud_detector",
        model_version="1.0.0",
        features={"age": 42, "income": 100_000, "email": "user@example.com"},
        output={"score": 0.87, "is_fraud": True},
        decision_outcome="flagged",
        confidence=0.87,
        actor=ActorPayload(
            actor_type="user", actor_id="42", tenant_id="acme", ip_address="203.0.113.7"
        ),
        environment="prod",
        trace_id="req-1",
        latency_ms=12.3,
    )
    event.update(changes)
    return event
