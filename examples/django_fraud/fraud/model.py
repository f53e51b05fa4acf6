"""A stand-in for a real fraud model (django-ml-audit's example model)."""

from __future__ import annotations

from typing import Any, Mapping


class ModelUnavailable(RuntimeError):
    """The model could not score (the example raises it for absurd amounts)."""


class DummyFraudModel:
    def predict_proba(self, features: Mapping[str, Any]) -> float:
        amount = float(features.get("amount", 0))
        if amount > 1_000_000:
            raise ModelUnavailable("amount out of the model's range")
        base = 0.1
        if amount > 1000:
            base += 0.4
        if features.get("is_new_customer"):
            base += 0.2
        return max(0.0, min(1.0, base))


model = DummyFraudModel()
