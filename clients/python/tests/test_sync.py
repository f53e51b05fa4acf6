"""``sync`` mode against the real server: django-ml-audit's calls return stored records and
failures raise clear errors."""

from __future__ import annotations

import datetime as dt
import inspect
import time
import uuid
from typing import Callable

import pytest

import ml_audit
from ml_audit import Client, errors
from ml_audit.models import Explanation, ModelVersion, PredictionEvent, RequestingActor
from ml_audit.services import ActorPayload, attach_explanation, record_prediction_event
from ml_audit.testing import MLAuditServer

from .conftest import closed_port
from .example_event import example_event


@pytest.fixture
def shared(server: MLAuditServer, ingest_key: str) -> Client:
    """The shared client (module-level functions), configured in code with an ingest key."""
    return ml_audit.configure(url=server.url, api_key=ingest_key, redaction={})


def test_module_functions_take_the_client_methods_arguments() -> None:
    # Each module function spells out its signature and forwards by name: this keeps it equal
    # to the Client method's (names, order, defaults, annotations), but for the method's
    # ``explanation``, which django-ml-audit's record_prediction_event does not take.
    for function, method, leaving_out in (
        (record_prediction_event, Client.record_prediction_event, {"self", "explanation"}),
        (attach_explanation, Client.attach_explanation, {"self"}),
    ):
        expected = inspect.signature(method)
        assert leaving_out <= set(expected.parameters)
        expected = expected.replace(
            parameters=[p for name, p in expected.parameters.items() if name not in leaving_out]
        )
        assert inspect.signature(function) == expected, function.__name__
    with pytest.raises(TypeError, match="explanation"):
        record_prediction_event(  # type: ignore[call-arg]
            model_name="m", model_version="1", features={}, output=1, explanation={}
        )


def test_record_returns_the_stored_event(shared: Client, admin: Client, model_name: str) -> None:
    actor = ActorPayload(
        actor_type="user",
        actor_id="42",
        tenant_id="acme",
        ip_address="203.0.113.7",
        user_agent="pytest",
        auth_token={"scopes": ["predict"]},
    )
    when = dt.datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=dt.timezone.utc)
    prediction = record_prediction_event(
        **example_event(model_name=model_name, actor=actor),
        metadata={"region": "eu"},
        input_fingerprint="fp",
        framework="sklearn",
        build_id="b1",
        commit_hash="abc123",
        config_snapshot={"threshold": 0.8},
        timestamp=when,
    )
    assert isinstance(prediction, PredictionEvent) and not prediction.pending
    assert isinstance(prediction.id, uuid.UUID) and prediction.pk == prediction.id
    assert uuid.UUID(prediction.prediction_id)  # generated, UUID-shaped
    assert prediction.timestamp == when
    assert prediction.features == {"age": 42, "income": 100_000, "email": "*****"}
    assert prediction.redactions == ["$.email"]
    assert prediction.output == {"score": 0.87, "is_fraud": True}
    assert (prediction.decision_outcome, prediction.confidence, prediction.status) == ("flagged", 0.87, "success")
    assert (prediction.environment, prediction.trace_id, prediction.latency_ms) == ("prod", "req-1", 12.3)
    assert prediction.metadata == {"region": "eu"} and prediction.input_fingerprint == "fp"
    assert isinstance(prediction.model, ModelVersion)
    assert (prediction.model.model_name, prediction.model.version, prediction.model.framework) == (
        model_name,
        "1.0.0",
        "sklearn",
    )
    assert prediction.model.config_snapshot == {"threshold": 0.8}
    assert prediction.model.commit_hash == "abc123" and prediction.model.build_id == "b1"
    assert isinstance(prediction.actor, RequestingActor)
    assert (prediction.actor.actor_type, prediction.actor.actor_id, prediction.actor.tenant_id) == (
        "user",
        "42",
        "acme",
    )
    assert prediction.actor.ip_address == "203.0.113.7"
    assert prediction.actor.auth_context == {"scopes": ["predict"]}
    assert prediction.explanation is None
    # What the server has is what the call returned.
    assert admin.get_prediction(prediction.id).to_dict() == prediction.to_dict()


def test_defaults_of_optional_fields(shared: Client, model_name: str) -> None:
    prediction = record_prediction_event(
        model_name=model_name, model_version="1", features={}, output=None
    )
    assert prediction.actor is None and prediction.confidence is None
    assert prediction.trace_id == "" and prediction.decision_outcome == "" and prediction.metadata == {}
    assert prediction.timestamp.tzinfo is not None


def test_attach_explanation_by_object_uuid_and_prediction_id(
    shared: Client, admin: Client, model_name: str
) -> None:
    prediction = record_prediction_event(
        model_name=model_name, model_version="1", features={"amount": 1500}, output={"score": 0.9}
    )
    generated = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    first = attach_explanation(
        prediction=prediction,
        method="shap",
        payload={"amount": 0.6},
        summary_text="High amount.",
        method_version="0.45",
        generated_at=generated,
    )
    assert isinstance(first, Explanation) and first.prediction is prediction
    assert (first.revision, first.method, first.method_version, first.summary_text) == (1, "shap", "0.45", "High amount.")
    assert first.generated_at == generated  # kept, not replaced by the time of receipt
    assert first.prediction_id == prediction.id
    by_uuid = attach_explanation(prediction=prediction.id, method="lime", payload={})
    # An auto-generated, UUID-shaped prediction_id string works too (django-ml-audit's defect).
    by_prediction_id = attach_explanation(
        prediction=prediction.prediction_id, method="reason_codes", payload={"codes": ["R1"]}, status="partial"
    )
    assert (by_uuid.revision, by_prediction_id.revision) == (2, 3)
    assert by_prediction_id.status == "partial"
    stored = admin.get_prediction(prediction.prediction_id)
    assert stored.explanation.method == "reason_codes" and stored.explanation.revision == 3


def test_a_retried_explanation_adds_no_revision(shared: Client, admin: Client, model_name: str) -> None:
    prediction = record_prediction_event(model_name=model_name, model_version="1", features={}, output=1)
    fields = dict(prediction=prediction.prediction_id, method="shap", payload={"amount": 0.2})
    first = attach_explanation(explanation_id=f"expl-{model_name}", **fields)
    again = attach_explanation(explanation_id=f"expl-{model_name}", **fields)
    assert (first.revision, again.revision, again.id) == (1, 1, first.id)
    assert first.explanation_id == f"expl-{model_name}"
    with pytest.raises(errors.Conflict):
        attach_explanation(explanation_id=f"expl-{model_name}", **{**fields, "payload": {"amount": 0.3}})
    # Without one given, each attach gets its own id: a new revision each time.
    generated = attach_explanation(**fields)
    assert generated.revision == 2 and generated.explanation_id not in (None, first.explanation_id)
    assert admin.get_prediction(prediction.prediction_id).explanation.revision == 2


def test_repeated_prediction_id(shared: Client, model_name: str) -> None:
    fields = dict(model_name=model_name, model_version="1", features={"a": 1}, output={"s": 1})
    first = record_prediction_event(prediction_id=f"ext-{model_name}", **fields)
    again = record_prediction_event(prediction_id=f"ext-{model_name}", **fields)
    assert again.id == first.id  # the stored event, nothing new
    with pytest.raises(errors.Conflict) as caught:
        record_prediction_event(prediction_id=f"ext-{model_name}", **{**fields, "output": {"s": 2}})
    assert caught.value.status == 409


def test_invalid_event_names_the_field(shared: Client, model_name: str) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        record_prediction_event(
            model_name=model_name, model_version="1", features={}, output=1, confidence=1.5
        )
    assert caught.value.status == 422 and caught.value.field == "confidence"
    with pytest.raises(errors.ValidationError) as caught:
        record_prediction_event(
            model_name=model_name, model_version="1", features={}, output=1, status="bogus"
        )
    assert caught.value.field == "status"


def test_unknown_prediction_for_explanation(shared: Client) -> None:
    with pytest.raises(errors.NotFound):
        attach_explanation(prediction="no-such-prediction", method="shap", payload={})


def test_bad_key_and_wrong_scope(server: MLAuditServer, make_client: Callable[..., Client]) -> None:
    bad = make_client(url=server.url, api_key="mla_" + "0" * 64)
    with pytest.raises(errors.AuthenticationError):
        bad.record_prediction_event(model_name="m", model_version="1", features={}, output=1)
    reader = make_client(url=server.url, api_key=server.create_key("read"))
    with pytest.raises(errors.PermissionDenied):
        reader.record_prediction_event(model_name="m", model_version="1", features={}, output=1)


def test_tenant_key_writes_only_its_tenant(
    server: MLAuditServer, make_client: Callable[..., Client], model_name: str
) -> None:
    tenant = make_client(url=server.url, api_key=server.create_key("ingest", tenant="acme"))
    ok = tenant.record_prediction_event(
        model_name=model_name,
        model_version="1",
        features={},
        output=1,
        actor=ActorPayload(actor_type="service", actor_id="svc", tenant_id="acme"),
    )
    assert ok.actor.tenant_id == "acme"
    with pytest.raises(errors.PermissionDenied):
        tenant.record_prediction_event(
            model_name=model_name,
            model_version="1",
            features={},
            output=1,
            actor=ActorPayload(actor_type="service", actor_id="svc", tenant_id="other"),
        )


def test_server_down_raises_quickly(make_client: Callable[..., Client]) -> None:
    client = make_client(url=f"http://127.0.0.1:{closed_port()}", api_key="mla_x", timeout=2)
    started = time.monotonic()
    with pytest.raises(errors.DeliveryError) as caught:
        client.record_prediction_event(model_name="m", model_version="1", features={}, output=1)
    assert "cannot reach the ml-audit server" in str(caught.value)
    assert time.monotonic() - started < 5


def test_missing_api_key_is_a_clear_error(make_client: Callable[..., Client]) -> None:
    client = make_client(url="http://127.0.0.1:9", api_key="")
    with pytest.raises(errors.ConfigurationError):
        client.record_prediction_event(model_name="m", model_version="1", features={}, output=1)


def test_client_side_redaction_uses_the_settings(
    server: MLAuditServer, ingest_key: str, admin: Client, model_name: str
) -> None:
    # The server knows nothing of this denylist or mask: the client masked before sending.
    ml_audit.configure(
        url=server.url,
        api_key=ingest_key,
        redaction={"DENYLIST": ["national_id"], "ALLOWLIST": ["contact"], "MASK_VALUE": "[gone]"},
    )
    prediction = record_prediction_event(
        model_name=model_name,
        model_version="1",
        features={"national_id": "AB123456C", "nested": {"national_id": "x", "password": "p"}, "contact": {"x": 1}},
        output=1,
    )
    assert prediction.features["national_id"] == "[gone]"
    stored = admin.get_prediction(prediction.id)
    assert stored.features["national_id"] == "[gone]"
    assert stored.features["contact"] == {"x": 1}
    # The server redacts again with its own rules: a default-sensitive key gets its mask.
    assert stored.features["nested"] == {"national_id": "[gone]", "password": "*****"}


def test_values_json_cannot_hold_are_converted(shared: Client, model_name: str) -> None:
    prediction = record_prediction_event(
        model_name=model_name,
        model_version="1",
        features={
            "nan": float("nan"),
            "when": dt.date(2026, 1, 2),
            "ids": {uuid.UUID(int=1)},
            "amount": __import__("decimal").Decimal("12.50"),
        },
        output={"inf": float("inf")},
    )
    assert prediction.features == {
        "nan": "NaN",
        "when": "2026-01-02",
        "ids": ["00000000-0000-0000-0000-000000000001"],
        "amount": "12.50",
    }
    assert prediction.output == {"inf": "Infinity"}


def test_naive_timestamp_is_local_time(shared: Client, model_name: str) -> None:
    naive = dt.datetime(2026, 5, 6, 7, 8, 9)
    prediction = record_prediction_event(
        model_name=model_name, model_version="1", features={}, output=1, timestamp=naive
    )
    assert prediction.timestamp == naive.astimezone(dt.timezone.utc)


def test_list_and_filter(shared: Client, admin: Client, model_name: str) -> None:
    for outcome in ("flagged", "clean", "flagged"):
        record_prediction_event(
            model_name=model_name, model_version="1", features={}, output=1, decision_outcome=outcome
        )
    page = admin.list_predictions(model_name=model_name, decision_outcome="flagged")
    assert len(page["items"]) == 2 and page["next_cursor"] is None
    assert len(list(admin.iter_predictions(model_name=model_name, limit=1))) == 3
