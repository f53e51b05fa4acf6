"""audited_prediction's finer points, with small views built here (DRF request factory)."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

import ml_audit
from ml_audit import Client
from ml_audit.integrations.drf import audited_prediction

factory = APIRequestFactory()


def model() -> str:
    return f"detail-{uuid.uuid4().hex[:10]}"


def only(audit: Client, model_name: str):
    assert ml_audit.flush(30)
    [event] = audit.list_predictions(model_name=model_name)["items"]
    return event


def call(view_class: type, data, **extra):
    request = factory.post("/x/", data, **extra)
    return view_class.as_view()(request)


def test_decision_outcome_field_and_anonymous_actor(audit: Client) -> None:
    name = model()

    class View(APIView):
        permission_classes = [AllowAny]

        @audited_prediction(model_name=name, model_version="2", environment="staging",
                            decision_field="is_fraud", decision_outcome_field="label",
                            confidence_field="p")
        def post(self, request):
            return {"is_fraud": True, "label": "review", "p": 0.55}

    response = call(View, {"amount": 3}, format="json")
    assert response.status_code == 200 and response.data["label"] == "review"
    event = only(audit, name)
    assert (event.decision_outcome, event.confidence, event.environment) == ("review", 0.55, "staging")
    assert event.actor is None and event.explanation is None
    assert event.prediction_id == response.data["prediction_id"]


def test_builder_error_propagates_after_the_event_is_queued(audit: Client) -> None:
    name = model()

    def builder(features, output, prediction):
        raise KeyError("boom")

    class View(APIView):
        permission_classes = [AllowAny]

        @audited_prediction(model_name=name, model_version="1", explanation_builder=builder)
        def post(self, request):
            return {"score": 0.1}

    with pytest.raises(KeyError):
        call(View, {"a": 1}, format="json")
    event = only(audit, name)
    assert event.status == "success" and event.explanation is None


def test_builder_sees_the_prediction_and_may_return_none(audit: Client) -> None:
    name = model()
    seen = []

    def builder(features, output, prediction):
        seen.append((dict(features), output, prediction.prediction_id, prediction.id))
        return None

    class View(APIView):
        permission_classes = [AllowAny]

        @audited_prediction(model_name=name, model_version="1", explanation_builder=builder)
        def post(self, request):
            return {"score": 0.2}

    response = call(View, {"email": "raw@example.com"}, format="json")
    [(features, output, prediction_id, ident)] = seen
    # The builder gets the raw features (like django-ml-audit); what is sent is redacted.
    assert features == {"email": "raw@example.com"} and output == {"score": 0.2}
    assert prediction_id == response.data["prediction_id"] and ident is None
    event = only(audit, name)
    assert event.features == {"email": "*****"} and event.explanation is None


def test_a_response_returned_by_the_view_passes_through(audit: Client) -> None:
    name = model()

    class View(APIView):
        permission_classes = [AllowAny]

        @audited_prediction(model_name=name, model_version="1")
        def post(self, request):
            return Response({"score": 0.3}, status=201)

    response = call(View, {"a": 1}, format="json")
    assert response.status_code == 201 and response.data == {"score": 0.3}
    assert only(audit, name).output == {"score": 0.3}


def test_form_data_bad_addresses_and_long_trace_ids(audit: Client) -> None:
    name = model()

    class View(APIView):
        permission_classes = [AllowAny]

        @audited_prediction(model_name=name, model_version="1")
        def post(self, request):
            return {"ok": True}

    response = call(
        View,
        {"amount": "12", "tags": ["a", "b"]},
        REMOTE_ADDR="unknown",
        HTTP_X_REQUEST_ID="t" * 400,
    )
    assert response.status_code == 200
    event = only(audit, name)
    assert event.features == {"amount": "12", "tags": ["a", "b"]}
    assert event.trace_id == "t" * 255


def test_the_actor_comes_from_request_user(audit: Client) -> None:
    from django.contrib.auth import get_user_model
    from rest_framework.test import force_authenticate

    name = model()
    user = get_user_model()(id=987654, username="ghost", tenant_id="")

    class View(APIView):
        @audited_prediction(model_name=name, model_version="1")
        def post(self, request):
            return {"ok": True}

    request = factory.post("/x/", {"a": 1}, format="json", REMOTE_ADDR="2001:db8::1", HTTP_USER_AGENT="ua")
    force_authenticate(request, user=user)
    assert View.as_view()(request).status_code == 200
    event = only(audit, name)
    assert (event.actor.actor_type, event.actor.actor_id, event.actor.tenant_id) == ("user", "987654", "")
    assert (event.actor.ip_address, event.actor.user_agent) == ("2001:db8::1", "ua")
