"""The fraud example of django-ml-audit, written against its API; it runs unchanged on the
ml-audit client. Two ways to audit a prediction endpoint:

- ``FraudPredictionView``: the ``@audited_prediction`` decorator (background delivery: the
  request never waits for the audit server);
- ``FraudPredictionManualView``: the service functions ``record_prediction_event`` and
  ``attach_explanation`` (sync: the prediction is stored before the response is sent).
"""

from __future__ import annotations

from typing import Any, Dict

from rest_framework import status, views
from rest_framework.response import Response

from ml_audit.integrations.drf import audited_prediction
from ml_audit.services import ActorPayload, attach_explanation, record_prediction_event

from .model import model
from .serializers import FraudRequestSerializer, FraudResponseSerializer


def build_fraud_explanation(features: Dict[str, Any], output: Dict[str, Any], prediction: Any) -> Dict[str, Any]:
    amount = float(features["amount"])
    importances = {
        "amount": 0.6 if amount > 1000 else 0.1,
        "is_new_customer": 0.3 if features["is_new_customer"] else 0.0,
    }
    return {
        "payload": {"feature_importances": importances},
        "summary": f"high amount ({amount:g}) and new customer status increased fraud risk.",
    }


class FraudPredictionView(views.APIView):
    """POST /api/fraud/predict/ — audited by the decorator."""

    @audited_prediction(
        model_name="fraud_model",
        model_version="1.0.0",
        environment="prod",
        decision_field="is_fraud",
        confidence_field="fraud_probability",
        explanation_builder=build_fraud_explanation,
    )
    def post(self, request, *args, **kwargs):
        serializer = FraudRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        score = model.predict_proba(serializer.validated_data)
        return {"fraud_probability": score, "is_fraud": score > 0.8}


class FraudPredictionManualView(views.APIView):
    """POST /api/fraud/predict-manual/ — audited with the service functions."""

    def post(self, request, *args, **kwargs):
        serializer = FraudRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        features = serializer.validated_data

        # 1. Run the model
        score = model.predict_proba(features)
        is_fraud = score > 0.8
        output = {"fraud_probability": score, "is_fraud": is_fraud}

        # 2. Build actor payload from request (if authenticated)
        actor = None
        user = request.user if request.user and request.user.is_authenticated else None
        if user is not None:
            actor = ActorPayload(
                actor_type="user",
                actor_id=str(user.pk),
                tenant_id=getattr(user, "tenant_id", None),
                ip_address=request.META.get("REMOTE_ADDR"),
                user_agent=request.META.get("HTTP_USER_AGENT"),
            )

        # 3. Record prediction event
        prediction = record_prediction_event(
            model_name="dummy_fraud_model",
            model_version="1.0.0",
            features=features,
            output=output,
            decision_outcome="flagged" if is_fraud else "clean",
            confidence=score,
            actor=actor,
            environment="prod",
            trace_id=request.headers.get("X-Request-ID"),
        )

        # 4. Attach a simple explanation
        feature_importances = {
            "amount": 0.6 if features["amount"] > 1000 else 0.1,
            "is_new_customer": 0.3 if features["is_new_customer"] else 0.0,
        }
        attach_explanation(
            prediction=prediction,
            method="dummy_reason_codes",
            payload={"feature_importances": feature_importances},
            summary_text="High transaction amount and new customer status increased fraud risk.",
        )

        # 5. Build response
        response_data = FraudResponseSerializer(
            {"fraud_probability": score, "is_fraud": is_fraud, "prediction_id": prediction.id}
        ).data
        return Response(response_data, status=status.HTTP_200_OK)
