"""The records the server returns, with django-ml-audit's names.

``PredictionEvent``, ``ModelVersion``, ``RequestingActor``, ``Explanation``, ``Outcome`` and
``Review`` are read-only views of the server's JSON with attribute access (``prediction.id``,
``prediction.model.model_name``, ``prediction.actor.tenant_id``,
``prediction.explanation.summary_text``, ``prediction.outcome.label``). Ids are ``uuid.UUID``
and times are timezone-aware ``datetime`` objects, as on the Django models; ``to_dict()`` gives
the JSON as the server sent it.

There are no ``.objects`` managers: reading is done over the HTTP API.
"""

from __future__ import annotations

import datetime as _dt
import enum
import re
import uuid
from typing import Any, Dict, Optional

from ._encoding import plain_copy


class PredictionStatus(str, enum.Enum):
    SUCCESS = "success"
    FAILED = "failed"
    PARTIAL = "partial"

    def __str__(self) -> str:
        return self.value


class ReviewAction(str, enum.Enum):
    """What a human reviewer did with a prediction (``record_review(action=...)``)."""

    CONFIRM = "confirm"
    OVERRIDE = "override"
    REVERSE = "reverse"
    ESCALATE = "escalate"

    def __str__(self) -> str:
        return self.value


class ReviewState(str, enum.Enum):
    """A prediction's ``review_state``: no review yet, an override waiting for a second
    reviewer's confirmation (the two-person rule), or a final decision."""

    NONE = "none"
    PENDING_SECOND = "pending_second"
    FINAL = "final"

    def __str__(self) -> str:
        return self.value


class ActorType(str, enum.Enum):
    USER = "user"
    SERVICE = "service"
    API_KEY = "api_key"
    JOB = "job"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:\d\d)\Z"
)


def parse_datetime(text: Any) -> Any:
    """RFC 3339 text to an aware ``datetime`` (Python 3.9 cannot parse ``Z`` itself)."""
    if not isinstance(text, str):
        return text
    match = _TIMESTAMP.match(text)
    if not match:
        return text
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    if offset in ("Z", "z"):
        tz = _dt.timezone.utc
    else:
        sign = 1 if offset[0] == "+" else -1
        tz = _dt.timezone(sign * _dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    return _dt.datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=tz
    )


def _uuid(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


class Record:
    """Attribute access over a JSON object, converting ids and times on first access."""

    _converters: Dict[str, Any] = {}

    def __init__(self, data: Optional[Dict[str, Any]] = None) -> None:
        object.__setattr__(self, "_data", data if data is not None else {})

    def _materialize(self) -> Dict[str, Any]:
        return self._data  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        data = self._materialize()
        try:
            value = data[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__!s} has no field {name!r}"
            ) from None
        converter = self._converters.get(name)
        if converter is not None and value is not None:
            value = converter(value)
        object.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} records are read-only")

    def to_dict(self) -> Dict[str, Any]:
        """The record as JSON-shaped data (a copy of the top level)."""
        return dict(self._materialize())

    def __getitem__(self, key: str) -> Any:
        return self._materialize()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._materialize().get(key, default)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._materialize() == other._materialize()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        data = self._materialize()
        shown = ", ".join(f"{key}={data[key]!r}" for key in self._repr_fields if key in data)
        return f"<{type(self).__name__} {shown}>"

    _repr_fields: tuple = ("id",)

    @property
    def pk(self) -> Any:
        return self.id


class ModelVersion(Record):
    """``model_name``, ``version``, ``framework``, ``build_id``, ``commit_hash``,
    ``config_snapshot``, ``is_active``, ``created_at``."""

    _converters = {"id": _uuid, "created_at": parse_datetime}
    _repr_fields = ("model_name", "version")


class RequestingActor(Record):
    """``actor_type``, ``actor_id``, ``tenant_id``, ``ip_address``, ``user_agent``,
    ``auth_context``, ``created_at``."""

    _converters = {"id": _uuid, "created_at": parse_datetime}
    _repr_fields = ("actor_type", "actor_id", "tenant_id")


class _FollowUp(Record):
    """A record attached to a prediction (an explanation, an outcome, a review): ``prediction``
    is the :class:`PredictionEvent` it was recorded for, when the caller passed one; ``pending``
    is True while it waits in the background queue (``id`` is ``None`` until stored)."""

    def __init__(
        self, data: Optional[Dict[str, Any]] = None, prediction: Optional["PredictionEvent"] = None
    ) -> None:
        super().__init__(data)
        object.__setattr__(self, "prediction", prediction)

    @property
    def pending(self) -> bool:
        return self._materialize().get("id") is None


class Explanation(_FollowUp):
    """``method``, ``method_version``, ``payload``, ``summary_text``, ``status``,
    ``generated_at``, ``created_at``, ``revision``, ``explanation_id`` (the client's id of the
    attach); ``prediction_id`` is the prediction's ``id``.

    In ``background`` mode the explanation is queued: ``id``, ``created_at`` and ``revision``
    are ``None`` and ``pending`` is True."""

    _converters = {
        "id": _uuid,
        "prediction_id": _uuid,
        "generated_at": parse_datetime,
        "created_at": parse_datetime,
    }
    _repr_fields = ("method", "revision", "summary_text")


class Outcome(_FollowUp):
    """The ground truth observed for a prediction: ``outcome_id``, ``label``, ``value``,
    ``source``, ``observed_at``, ``metadata``, ``created_at``; ``prediction_id`` is the
    prediction's ``id``.

    In ``background`` mode the outcome is queued: ``id`` and ``created_at`` are ``None``,
    ``pending`` is True, and ``outcome_id`` (generated by the client unless given) is final."""

    _converters = {
        "id": _uuid,
        "prediction_id": _uuid,
        "observed_at": parse_datetime,
        "created_at": parse_datetime,
    }
    _repr_fields = ("outcome_id", "label", "value", "source")


class Reviewer(Record):
    """``reviewer_id`` and ``name`` of a review's reviewer."""

    _repr_fields = ("reviewer_id", "name")

    @property
    def pk(self) -> Any:
        return self.reviewer_id


def _reviewer(value: Any) -> Any:
    return Reviewer(value) if isinstance(value, dict) else value


class Review(_FollowUp):
    """A human review of a prediction: ``review_id``, ``reviewer`` (:class:`Reviewer`),
    ``action`` (``confirm``, ``override``, ``reverse``, ``escalate``), ``final_decision``,
    ``reason_codes``, ``comment``, ``reviewed_at``, ``created_at``; ``prediction_id`` is the
    prediction's ``id``.

    In ``background`` mode the review is queued: ``id`` and ``created_at`` are ``None``,
    ``pending`` is True, and ``review_id`` (generated by the client unless given) is final."""

    _converters = {
        "id": _uuid,
        "prediction_id": _uuid,
        "reviewer": _reviewer,
        "reviewed_at": parse_datetime,
        "created_at": parse_datetime,
    }
    _repr_fields = ("review_id", "action", "final_decision")


def _model(value: Any) -> Any:
    return ModelVersion(value) if isinstance(value, dict) else value


def _actor(value: Any) -> Any:
    return RequestingActor(value) if isinstance(value, dict) else value


def _explanation(value: Any) -> Any:
    return Explanation(value) if isinstance(value, dict) else value


def _outcome(value: Any) -> Any:
    return Outcome(value) if isinstance(value, dict) else value


def _reviews(value: Any) -> Any:
    if isinstance(value, list):
        return [Review(item) if isinstance(item, dict) else item for item in value]
    return value


class PredictionEvent(Record):
    """A recorded prediction, in the shape ``GET /api/v1/predictions/{ref}`` shows.

    Fields: ``id`` (UUID), ``prediction_id``, ``timestamp``, ``trace_id``, ``environment``,
    ``model`` (:class:`ModelVersion`), ``actor`` (:class:`RequestingActor` or None), ``features``
    (redacted), ``redactions``, ``input_fingerprint``, ``output``, ``confidence``,
    ``decision_outcome``, ``status``, ``latency_ms``, ``metadata``, ``explanation``
    (:class:`Explanation` or None), ``ledger``; and what came after it: ``outcome`` (the
    current :class:`Outcome`, the latest by ``observed_at``, or None), ``reviews`` (a list of
    :class:`Review`, oldest first), ``final_decision`` and ``review_state`` (``none``,
    ``pending_second`` or ``final``).

    In ``background`` mode the call returns before the server has the event: ``pending`` is
    True, ``id`` is ``None`` (use ``prediction_id``, which the client generated), and the other
    fields are the ones sent (features after the client's redaction)."""

    _converters = {
        "id": _uuid,
        "timestamp": parse_datetime,
        "model": _model,
        "actor": _actor,
        "explanation": _explanation,
        "outcome": _outcome,
        "reviews": _reviews,
    }
    _repr_fields = ("id", "prediction_id", "status")

    def __init__(
        self, data: Optional[Dict[str, Any]] = None, *, sent: Optional[Dict[str, Any]] = None
    ) -> None:
        super().__init__(data)
        object.__setattr__(self, "_sent", sent)

    @property
    def pending(self) -> bool:
        """True while this is only the client's copy of a queued event."""
        return self._sent is not None  # type: ignore[attr-defined]

    def _materialize(self) -> Dict[str, Any]:
        sent = self._sent  # type: ignore[attr-defined]
        if sent is not None and not self._data:  # type: ignore[attr-defined]
            # A copy: the queued event itself is encoded later by the delivery thread, and
            # nothing done with this view may change it.
            self._data.update(_as_stored(plain_copy(sent)))  # type: ignore[attr-defined]
        return self._data  # type: ignore[attr-defined]


def _as_stored(sent: Dict[str, Any]) -> Dict[str, Any]:
    """The server's shape for an event the client has only queued (what is known of it)."""
    actor = sent.get("actor")
    if actor is not None:
        actor = {
            "id": None,
            "actor_type": actor.get("actor_type"),
            "actor_id": actor.get("actor_id"),
            "tenant_id": actor.get("tenant_id") or "",
            "ip_address": actor.get("ip_address"),
            "user_agent": actor.get("user_agent") or "",
            "auth_context": actor.get("auth_context"),
            "created_at": None,
        }
    explanation = sent.get("explanation")
    if explanation is not None:
        explanation = {
            "id": None,
            "prediction_id": None,
            "method": explanation.get("method"),
            "method_version": explanation.get("method_version") or "",
            "payload": explanation.get("payload"),
            "summary_text": explanation.get("summary_text") or "",
            "status": explanation.get("status") or "success",
            "generated_at": explanation.get("generated_at"),
            "created_at": None,
            "revision": None,
        }
    return {
        "id": None,
        "prediction_id": sent.get("prediction_id"),
        "timestamp": sent.get("timestamp"),
        "trace_id": sent.get("trace_id") or "",
        "environment": sent.get("environment") or "",
        "model": {
            "id": None,
            "model_name": sent.get("model_name"),
            "version": sent.get("model_version"),
            "framework": sent.get("framework") or "",
            "build_id": sent.get("build_id") or "",
            "commit_hash": sent.get("commit_hash") or "",
            "config_snapshot": sent.get("config_snapshot"),
            "is_active": True,
            "created_at": None,
        },
        "actor": actor,
        "features": sent.get("features"),
        "redactions": [],
        "input_fingerprint": sent.get("input_fingerprint") or "",
        "output": sent.get("output"),
        "confidence": sent.get("confidence"),
        "decision_outcome": sent.get("decision_outcome") or "",
        "status": sent.get("status") or "success",
        "latency_ms": sent.get("latency_ms"),
        "metadata": sent.get("metadata") or {},
        "explanation": explanation,
        "ledger": None,
        "outcome": None,
        "reviews": [],
        # Unreviewed: the model's own decision.
        "final_decision": sent.get("decision_outcome") or "",
        "review_state": "none",
    }
