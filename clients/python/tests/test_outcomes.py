"""Outcomes (the ground truth that arrives after a prediction) against the real server: one at a
time (``record_outcome``) and in batches (``record_outcomes``), sync and background."""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from typing import Any, Callable, Dict, List

import pytest

import ml_audit
from ml_audit import Client, errors
from ml_audit._encoding import dumps
from ml_audit.models import Outcome, PredictionEvent
from ml_audit.services import record_outcome, record_outcomes, record_prediction_event
from ml_audit.testing import MLAuditServer

from .conftest import closed_port, raw_post

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)


@pytest.fixture
def shared(server: MLAuditServer, ingest_key: str) -> Client:
    """The shared client (module-level functions), configured in code with an ingest key."""
    return ml_audit.configure(url=server.url, api_key=ingest_key, redaction={})


def predict(model_name: str, decision: str = "approve", **changes: Any) -> PredictionEvent:
    """A stored prediction (sync, through the shared client)."""
    fields: Dict[str, Any] = dict(
        model_name=model_name, model_version="1", features={"amount": 120}, output={"score": 0.2},
        decision_outcome=decision,
    )  # fmt: skip
    fields.update(changes)
    return record_prediction_event(**fields)


def test_module_functions_take_the_client_methods_arguments() -> None:
    for function, method in (
        (record_outcome, Client.record_outcome),
        (record_outcomes, Client.record_outcomes),
    ):
        expected = inspect.signature(method)
        expected = expected.replace(
            parameters=[p for name, p in expected.parameters.items() if name != "self"]
        )
        assert inspect.signature(function) == expected, function.__name__


def test_record_outcome_returns_the_stored_outcome(shared: Client, admin: Client, model_name: str) -> None:
    prediction = predict(model_name)
    observed = dt.datetime(2026, 12, 1, 10, 30, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    outcome = record_outcome(
        prediction,
        label="fraud",
        value=129.5,
        source="chargeback",
        outcome_id=f"cb-{model_name}",
        observed_at=observed,
        metadata={"case": "C-1"},
    )
    assert isinstance(outcome, Outcome) and not outcome.pending and outcome.prediction is prediction
    assert isinstance(outcome.id, uuid.UUID)
    assert outcome.prediction_id == prediction.id
    assert (outcome.outcome_id, outcome.label, outcome.value, outcome.source) == (
        f"cb-{model_name}", "fraud", 129.5, "chargeback",
    )  # fmt: skip
    assert outcome.observed_at == observed  # the same instant, whatever the offset it is shown in
    assert outcome.metadata == {"case": "C-1"}
    assert outcome.created_at.tzinfo is not None
    stored = admin.get_prediction(prediction.prediction_id)
    assert isinstance(stored.outcome, Outcome)
    assert stored.outcome.to_dict() == outcome.to_dict()


def test_status_201_then_identical_replay_200_then_conflict_409(
    server: MLAuditServer, ingest_key: str, shared: Client, model_name: str
) -> None:
    prediction = predict(model_name)
    path = f"/api/v1/predictions/{prediction.prediction_id}/outcomes"
    body = {
        "outcome_id": f"o-{model_name}",
        "label": "fraud",
        "source": "chargeback",
        "observed_at": "2026-12-01T10:00:00Z",
    }
    status, first = raw_post(server, ingest_key, path, body)
    assert status == 201, first
    status, again = raw_post(server, ingest_key, path, body)
    assert status == 200 and again == first, again
    status, conflict = raw_post(server, ingest_key, path, {**body, "label": "legit"})
    assert status == 409 and conflict["error"]["code"] == "conflict", conflict

    # The same through the client: the replay returns the stored outcome, the change raises.
    replay = record_outcome(
        prediction, label="fraud", source="chargeback", outcome_id=body["outcome_id"],
        observed_at=dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
    )  # fmt: skip
    assert str(replay.id) == first["id"]
    with pytest.raises(errors.Conflict) as caught:
        record_outcome(prediction, label="legit", source="chargeback", outcome_id=body["outcome_id"])
    assert (caught.value.status, caught.value.code) == (409, "conflict")


def test_the_client_generates_the_outcome_id(shared: Client, model_name: str) -> None:
    prediction = predict(model_name)
    outcome = record_outcome(prediction.prediction_id, value=3.5, source="ledger")
    # Generated before sending (so a retry is a replay), UUID-shaped, time-ordered.
    assert uuid.UUID(outcome.outcome_id).version == 7
    assert outcome.label is None and outcome.value == 3.5
    # By the prediction's id (UUID) too.
    again = record_outcome(prediction.id, value=3.5, source="ledger", outcome_id=outcome.outcome_id)
    assert again.id == outcome.id


def test_label_or_value_is_required(
    server: MLAuditServer, ingest_key: str, shared: Client, admin: Client, model_name: str
) -> None:
    prediction = predict(model_name)
    with pytest.raises(ValueError, match="label or a value"):
        record_outcome(prediction, source="chargeback")
    assert admin.get_prediction(prediction.id).outcome is None  # nothing was sent
    # The server says the same, naming the field.
    status, body = raw_post(
        server,
        ingest_key,
        f"/api/v1/predictions/{prediction.prediction_id}/outcomes",
        {"source": "chargeback"},
    )
    assert status == 422 and body["error"]["field"] == "label", body
    # A bad value is the server's to refuse, naming it.
    with pytest.raises(errors.ValidationError) as caught:
        record_outcome(prediction, value="12", source="chargeback")
    assert (caught.value.status, caught.value.field) == (422, "value")


def test_times_must_be_timezone_aware(shared: Client, admin: Client, model_name: str) -> None:
    prediction = predict(model_name)
    with pytest.raises(ValueError, match="timezone-aware"):
        record_outcome(prediction, label="fraud", source="x", observed_at=dt.datetime(2026, 12, 1, 10, 0))
    with pytest.raises(ValueError, match="offset"):
        record_outcome(prediction, label="fraud", source="x", observed_at="2026-12-01T10:00:00")
    assert admin.get_prediction(prediction.id).outcome is None
    kept = record_outcome(prediction, label="fraud", source="x", observed_at="2026-12-01T10:00:00+01:00")
    assert kept.observed_at == dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_unknown_invisible_and_erased_predictions(
    server: MLAuditServer, shared: Client, admin: Client, make_client: Callable[..., Client], model_name: str
) -> None:
    with pytest.raises(errors.NotFound):
        record_outcome(f"no-such-{model_name}", label="fraud", source="x")
    # Another tenant's prediction is invisible to a tenant-bound key: 404, not 403.
    other = predict(
        model_name,
        actor=ml_audit.ActorPayload(actor_type="user", actor_id="9", tenant_id="other-tenant"),
    )
    acme = make_client(url=server.url, api_key=server.create_key("ingest", tenant="acme"))
    with pytest.raises(errors.NotFound):
        acme.record_outcome(other.prediction_id, label="fraud", source="x")
    assert admin.get_prediction(other.id).outcome is None

    erased = predict(model_name)
    admin._call(
        "POST", "/api/v1/erasures", dumps({"predictions": [erased.prediction_id], "reason": "ticket 1"})
    )
    with pytest.raises(errors.Conflict) as caught:
        record_outcome(erased.id, label="fraud", source="x")
    assert (caught.value.status, caught.value.code) == (409, "erased")
    with pytest.raises(errors.Conflict) as caught:
        shared.record_review(erased.id, reviewer_id="u-1", action="confirm")
    assert (caught.value.status, caught.value.code) == (409, "erased")
    [result] = record_outcomes([{"prediction_id": f"no-such-{model_name}", "label": "x", "source": "s"}])
    assert (result["status"], result["error"]["code"]) == (404, "not_found")


def test_reads_carry_the_latest_outcome_by_observed_at(
    shared: Client, admin: Client, model_name: str
) -> None:
    prediction = predict(model_name, decision="approve")
    unreviewed = admin.get_prediction(prediction.id)
    assert unreviewed.outcome is None and unreviewed.reviews == []
    assert (unreviewed.final_decision, unreviewed.review_state) == ("approve", "none")

    later = record_outcome(
        prediction, label="fraud", source="chargeback", observed_at=T0 + dt.timedelta(days=2)
    )
    # Arrives last but was observed earlier: not the current one.
    record_outcome(prediction, label="legit", source="review", observed_at=T0 + dt.timedelta(days=1))
    stored = admin.get_prediction(prediction.prediction_id)
    assert stored.outcome.id == later.id and stored.outcome.label == "fraud"
    newest = record_outcome(prediction, value=0.0, source="recovery", observed_at=T0 + dt.timedelta(days=3))
    stored = admin.get_prediction(prediction.prediction_id)
    assert stored.outcome.id == newest.id and stored.outcome.value == 0.0 and stored.outcome.label is None
    # Every outcome stays on record, in arrival order.
    every = admin.list_outcomes(prediction)
    assert [o.label for o in every] == ["fraud", "legit", None] and every[2].id == newest.id
    assert all(isinstance(o, Outcome) for o in every)


def test_batch_stores_each_outcome_and_answers_for_each(
    shared: Client, admin: Client, model_name: str
) -> None:
    first, second = predict(model_name), predict(model_name)
    unknown = f"unknown-{model_name}"
    results = record_outcomes(
        [
            {"prediction_id": first.prediction_id, "label": "fraud", "source": "chargeback",
             "observed_at": T0 + dt.timedelta(hours=5), "outcome_id": f"a-{model_name}"},
            {"prediction_id": unknown, "label": "fraud", "source": "chargeback"},
            {"prediction_id": second.prediction_id, "value": 42, "source": "ledger", "metadata": {"k": 1}},
            {"prediction_id": first.prediction_id, "label": "legit", "source": "review",
             "observed_at": T0 + dt.timedelta(hours=1)},
        ]
    )  # fmt: skip
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == [201, 404, 201, 201], results
    assert results[1]["error"]["code"] == "not_found" and results[1].get("id") is None
    assert results[0]["outcome_id"] == f"a-{model_name}"
    for result in (results[0], results[2], results[3]):
        assert uuid.UUID(result["id"]) and result["outcome_id"]
    # Each stored; the current outcome is the latest by observed_at, not by arrival.
    stored_first = admin.get_prediction(first.prediction_id)
    assert stored_first.outcome.outcome_id == f"a-{model_name}" and stored_first.outcome.label == "fraud"
    assert str(stored_first.outcome.id) == results[0]["id"]
    stored_second = admin.get_prediction(second.prediction_id)
    assert (stored_second.outcome.value, stored_second.outcome.metadata) == (42, {"k": 1})
    # The list filters on outcomes pass through: both have one; the first's current is "fraud".
    assert len(admin.list_predictions(model_name=model_name, has_outcome=True)["items"]) == 2
    [fraud] = admin.list_predictions(model_name=model_name, outcome_label="fraud")["items"]
    assert fraud.prediction_id == first.prediction_id

    # The same batch again: replays (200) where an outcome_id was given and known.
    again = record_outcomes(
        [{"prediction_id": first.prediction_id, "label": "fraud", "source": "chargeback",
          "observed_at": T0 + dt.timedelta(hours=5), "outcome_id": f"a-{model_name}"},
         {"prediction_id": first.prediction_id, "label": "other", "source": "chargeback",
          "outcome_id": f"a-{model_name}"}]
    )  # fmt: skip
    assert [r["status"] for r in again] == [200, 409], again
    assert again[0]["id"] == results[0]["id"]
    assert again[1]["error"]["code"] == "conflict"


def test_batch_is_split_in_chunks_and_indexes_count_in_the_callers_list(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], admin: Client, model_name: str
) -> None:
    client = make_client(url=server.url, api_key=ingest_key, batch_size=2)
    known = [
        client.record_prediction_event(model_name=model_name, model_version="1", features={}, output=1)
        for _ in range(3)
    ]
    items: List[Dict[str, Any]] = []
    for position in range(5):
        target = (
            known[position // 2].prediction_id if position % 2 == 0 else f"missing-{position}-{model_name}"
        )
        items.append({"prediction_id": target, "label": f"l{position}", "source": "s"})
    results = client.record_outcomes(items)  # three requests of 2, 2 and 1
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in results] == [201, 404, 201, 404, 201], results
    for position, prediction in ((0, known[0]), (2, known[1]), (4, known[2])):
        assert admin.get_prediction(prediction.id).outcome.label == f"l{position}"


def test_more_than_a_thousand_outcomes(shared: Client, admin: Client, model_name: str) -> None:
    target = predict(model_name)
    items = [{"prediction_id": f"nobody-{n}-{model_name}", "value": n, "source": "s"} for n in range(1000)]
    items.append({"prediction_id": target.prediction_id, "value": 1000, "source": "s"})
    results = record_outcomes(items)  # two requests: 1000, then 1
    assert len(results) == 1001 and [r["index"] for r in results] == list(range(1001))
    assert {r["status"] for r in results[:1000]} == {404}
    assert results[1000]["status"] == 201
    assert admin.get_prediction(target.id).outcome.value == 1000


def test_an_invalid_batch_item_raises_before_anything_is_sent(
    shared: Client, admin: Client, model_name: str
) -> None:
    prediction = predict(model_name)
    good = {"prediction_id": prediction.prediction_id, "label": "fraud", "source": "s"}
    with pytest.raises(ValueError, match=r"outcomes\[1\]: an outcome needs a label or a value"):
        record_outcomes([good, {"prediction_id": prediction.prediction_id, "source": "s"}])
    with pytest.raises(ValueError, match=r"outcomes\[0\]: observed_at must be a timezone-aware"):
        record_outcomes([{**good, "observed_at": dt.datetime(2026, 1, 1)}])
    with pytest.raises(ValueError, match=r"outcomes\[0\]: prediction_id is required"):
        record_outcomes([{"label": "fraud", "source": "s"}])
    with pytest.raises(ValueError, match=r"outcomes\[0\]: unknown field\(s\) colour"):
        record_outcomes([{**good, "colour": "red"}])
    assert admin.get_prediction(prediction.id).outcome is None


def test_background_outcomes_are_queued_and_delivered(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], admin: Client, model_name: str
) -> None:
    client = make_client(url=server.url, api_key=ingest_key, mode="background")
    prediction = client.record_prediction_event(
        model_name=model_name, model_version="1", features={}, output=1, decision_outcome="approve"
    )
    other = client.record_prediction_event(model_name=model_name, model_version="1", features={}, output=2)
    # Queued behind the predictions (not stored yet): the call returns at once.
    single = client.record_outcome(prediction, label="fraud", source="chargeback", metadata={"case": 7})
    assert isinstance(single, Outcome) and single.pending and single.id is None
    assert uuid.UUID(single.outcome_id).version == 7 and single.label == "fraud"
    # The time of the call is sent as observed_at (the same on every retry).
    assert single.observed_at.tzinfo is not None
    results = client.record_outcomes(
        [
            {"prediction_id": other.prediction_id, "value": 5, "source": "ledger"},
            {"prediction_id": f"unknown-{model_name}", "label": "x", "source": "ledger"},
            {"prediction_id": prediction.prediction_id, "label": "legit", "source": "review",
             "observed_at": single.observed_at - dt.timedelta(days=1)},
        ]
    )  # fmt: skip
    assert [(r["index"], r["status"], r["id"]) for r in results] == [
        (0, None, None),
        (1, None, None),
        (2, None, None),
    ]
    assert all(uuid.UUID(r["outcome_id"]) for r in results)
    assert client.flush(30), client.stats()
    stats = client.stats()
    assert (stats["sent"], stats["outcomes"], stats["rejected"], stats["queued"]) == (2, 3, 1, 0), stats
    assert "404" in stats["last_error"]

    stored = admin.get_prediction(prediction.prediction_id)
    assert stored.outcome.outcome_id == single.outcome_id and stored.outcome.metadata == {"case": 7}
    assert stored.outcome.observed_at == single.observed_at
    assert admin.get_prediction(other.prediction_id).outcome.outcome_id == results[0]["outcome_id"]


def test_background_never_raises_for_a_bad_outcome(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], model_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    client = make_client(url=server.url, api_key=ingest_key, mode="background")
    pending = client.record_outcome("whatever", source="x")  # neither label nor value
    assert pending.pending
    naive = client.record_outcome("whatever", label="x", source="x", observed_at=dt.datetime(2026, 1, 1))
    assert naive.pending
    results = client.record_outcomes([{"prediction_id": "p", "source": "x"}])
    assert results[0]["status"] is None and results[0]["error"]["code"] == "dropped"
    assert "label or a value" in results[0]["error"]["message"]
    assert client.flush(10)
    stats = client.stats()
    assert (stats["dropped"], stats["outcomes"], stats["rejected"]) == (3, 0, 0), stats
    assert any("could not queue an outcome" in r.getMessage() for r in caplog.records)


def test_background_outcomes_wait_for_the_server(
    ml_audit_server_factory: Callable[..., MLAuditServer], make_client: Callable[..., Client], model_name: str
) -> None:
    server = ml_audit_server_factory()
    server.stop()
    client = make_client(url=server.url, api_key=server.admin_key, mode="background", max_backoff=0.5)
    prediction = client.record_prediction_event(
        model_name=model_name, model_version="1", features={}, output=1
    )
    client.record_outcome(prediction, label="fraud", source="chargeback")
    client.record_outcomes([{"prediction_id": prediction.prediction_id, "value": 9, "source": "ledger"}])
    assert not client.flush(0.5)
    assert client.stats()["retries"] >= 1 and client.stats()["queued"] == 3
    server.start()
    assert client.flush(30), client.stats()
    stats = client.stats()
    assert (stats["sent"], stats["outcomes"], stats["rejected"], stats["dropped"]) == (1, 2, 0, 0), stats
    admin = make_client(url=server.url, api_key=server.admin_key)
    assert admin.get_prediction(prediction.prediction_id).outcome is not None


def test_missing_api_key_and_server_down(make_client: Callable[..., Client]) -> None:
    with pytest.raises(errors.ConfigurationError):
        make_client(url="http://127.0.0.1:9", api_key="").record_outcome("p", label="x", source="s")
    down = make_client(url=f"http://127.0.0.1:{closed_port()}", api_key="mla_x", timeout=1, sync_retries=0)
    with pytest.raises(errors.DeliveryError):
        down.record_outcomes([{"prediction_id": "p", "label": "x", "source": "s"}])
