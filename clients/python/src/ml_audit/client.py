"""The client: builds events (and explanations, outcomes, reviews), sends them now (``sync``) or
queues them (``background``)."""

from __future__ import annotations

import datetime as _dt
import enum
import json
import logging
import math
import os
import random
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union
from urllib.parse import quote, urlencode

from . import _config
from ._config import BACKGROUND, SYNC, Settings
from ._encoding import dumps, plain_copy
from ._transport import RETRYABLE_ERRORS, Connection, decode, retry_delay
from ._worker import Worker, _ExplanationItem, _OutcomeItem, _ReviewItem
from .errors import APIError, ConfigurationError, DeliveryError, api_error
from .models import (
    _TIMESTAMP,
    Explanation,
    Outcome,
    PredictionEvent,
    PredictionStatus,
    Review,
    ReviewAction,
)

logger = logging.getLogger("ml_audit")

_UTC = _dt.timezone.utc
_time_ns = time.time_ns
_random_bits = random.getrandbits
# Below the timestamp: version 7 in the top nibble, variant 0b10 at bits 62-63, random elsewhere.
_V7_MARKS = 0x7000_8000_0000_0000_0000
_V7_RANDOM = 0x0FFF_3FFF_FFFF_FFFF_FFFF


def new_prediction_id() -> str:
    """A time-ordered (version 7, RFC 9562) UUID as text: 48 bits of Unix milliseconds, then 74
    random bits. Ids made close in time sort close together, so the server's unique index on
    ``prediction_id`` grows at its end instead of taking a write at a random page per event.
    An id is not a secret, so ``random`` serves (Python reseeds it in a forked child); this is
    about as fast as formatting ``os.urandom`` bytes and twice as fast as ``uuid.uuid4()``."""
    bits = (_time_ns() // 1_000_000) << 80 | _V7_MARKS | _random_bits(76) & _V7_RANDOM
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_second_cache = (-1, "")


def utc_now_text() -> str:
    """The current time as RFC 3339 UTC with microseconds (``2026-11-27T08:00:00.123456Z``)."""
    global _second_cache
    seconds, nanos = divmod(_time_ns(), 1_000_000_000)
    cached = _second_cache
    if cached[0] != seconds:
        cached = _second_cache = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{nanos // 1000:06d}Z"


@dataclass
class ActorPayload:
    """Who asked for the prediction (django-ml-audit's ``ActorPayload``).

    ``actor_type`` is one of ``user``, ``service``, ``api_key``, ``job``, ``other``;
    ``auth_token`` is stored as the actor's ``auth_context`` (a dict, never a raw token)."""

    actor_type: str
    actor_id: str
    tenant_id: Optional[str] = None
    ip_address: Optional[str] = None
    user_agent: Optional[str] = None
    auth_token: Optional[Dict[str, Any]] = None


PredictionRef = Union[PredictionEvent, uuid.UUID, str]

_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


_INF = float("inf")


def _text(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        value = value.value
    return value if isinstance(value, str) else str(value)


def _timestamp(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        # A naive datetime is taken as local time (Django sets the process's zone from
        # TIME_ZONE), never sent as is: the server refuses timestamps without a zone.
        return value.astimezone(_UTC).isoformat()
    return value


def _aware_timestamp(name: str, value: Any) -> str:
    """An outcome's or review's time as RFC 3339 with an offset. Unlike an event's timestamp, a
    naive datetime is refused (ValueError), not taken as local time: when ground truth was
    observed, or a human decided, is evidence, and must not depend on the zone of the process
    that forwards it."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(
                f"{name} must be a timezone-aware datetime (e.g. datetime.now(timezone.utc)), "
                f"not the naive {value.isoformat()!r}"
            )
        return value.isoformat()
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return value
    raise ValueError(
        f"{name} must be a timezone-aware datetime or RFC 3339 text with an offset "
        f"(2026-11-27T08:00:00Z), not {value!r}"
    )


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if type(value) is str else _text(value)


def _outcome_value(value: Any) -> Any:
    if isinstance(value, (int, float, str)):
        return value  # a bool or a string: the server answers 422 naming the field
    try:  # Decimal, NumPy scalars: the server takes a JSON number
        return float(value)
    except (TypeError, ValueError):
        return plain_copy(value)


_OUTCOME_FIELDS = frozenset(
    ("prediction_id", "outcome_id", "label", "value", "source", "observed_at", "metadata")
)


class Client:
    """An ml-audit client. Most code uses the module-level functions, which share one client
    configured from the settings; create a ``Client`` to talk to another server or to use other
    settings side by side.

    ``Client(url=..., api_key=..., mode=..., ...)`` takes the names of :class:`Settings`."""

    def __init__(self, settings: Optional[Settings] = None, **overrides: Any) -> None:
        if settings is None:
            settings = _config.resolve(overrides)
        elif overrides:
            raise TypeError("pass either settings or keyword overrides, not both")
        self.settings: Settings = settings
        self._rules = settings.redaction
        self._worker_obj: Optional[Worker] = None
        self._worker_lock = threading.Lock()
        self._local = threading.local()
        _clients.add(self)

    def __repr__(self) -> str:
        return f"<ml_audit.Client url={self.settings.url!r} mode={self.settings.mode!r}>"

    # -- recording ----------------------------------------------------------------------------

    def record_prediction_event(
        self,
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
        explanation: Optional[Dict[str, Any]] = None,
    ) -> PredictionEvent:
        """Record one prediction. See :func:`ml_audit.services.record_prediction_event`."""
        if mode is not None and mode not in _config.MODES:
            raise ConfigurationError(f"mode must be 'sync' or 'background', not {mode!r}")
        background = (mode or self.settings.mode or SYNC) == BACKGROUND
        # The same event either way; only background mode turns a failure into a log line.
        try:
            event = self._event(
                model_name, model_version, features, output, decision_outcome, actor,
                environment, trace_id, latency_ms, status, confidence, metadata,
                input_fingerprint, framework, build_id, commit_hash, config_snapshot,
                prediction_id, timestamp, explanation, background,
            )  # fmt: skip
            if background:
                self._enqueue(event)
                return PredictionEvent(sent=event)
        except Exception:
            if not background:
                raise
            # Never into the host application: log, count, and hand back what is known.
            logger.exception("ml_audit: could not queue an audit event")
            try:
                self._worker()._drop(1, "it could not be built (see the error logged above)")
            except Exception:
                pass
            return PredictionEvent(
                sent={
                    "model_name": model_name,
                    "model_version": model_version,
                    "prediction_id": prediction_id or new_prediction_id(),
                    "features": {},
                    "output": None,
                }
            )
        return PredictionEvent(self._call("POST", "/api/v1/predictions", dumps(event)))

    def _event(
        self, model_name: Any, model_version: Any, features: Any, output: Any,
        decision_outcome: Any, actor: Any, environment: Any, trace_id: Any, latency_ms: Any,
        status: Any, confidence: Any, metadata: Any, input_fingerprint: Any, framework: Any,
        build_id: Any, commit_hash: Any, config_snapshot: Any, prediction_id: Any,
        timestamp: Any, explanation: Any, background: bool,
    ) -> Dict[str, Any]:  # fmt: skip
        event: Dict[str, Any] = {
            "prediction_id": (
                (prediction_id if type(prediction_id) is str else _text(prediction_id))
                if prediction_id
                else new_prediction_id()
            ),
            "model_name": model_name if type(model_name) is str else plain_copy(model_name),
            "model_version": model_version if type(model_version) is str else plain_copy(model_version),
            # Copies (redacted, of plain JSON types): a background event is encoded later, on
            # the delivery thread, and must keep the values of this moment.
            "features": self._rules._copy(features) if features is not None else {},
            "output": plain_copy(output),
        }
        if timestamp is not None:
            event["timestamp"] = _timestamp(timestamp)
        elif background:
            # The time of the call, not of delivery; sent again unchanged on every retry.
            event["timestamp"] = utc_now_text()
        if status is not None and status != "success":
            event["status"] = _text(status)
        if decision_outcome is not None:
            event["decision_outcome"] = (
                decision_outcome if type(decision_outcome) is str else _text(decision_outcome)
            )
        if confidence is not None:
            if type(confidence) is not float or not 0.0 <= confidence <= 1.0:
                confidence = self._number("confidence", confidence, 1.0, background)
            if confidence is not None:
                event["confidence"] = confidence
        if latency_ms is not None:
            if type(latency_ms) is not float or not 0.0 <= latency_ms < _INF:
                latency_ms = self._number("latency_ms", latency_ms, None, background)
            if latency_ms is not None:
                event["latency_ms"] = latency_ms
        if actor is not None:
            event["actor"] = _actor(actor)
        if environment is not None:
            event["environment"] = environment if type(environment) is str else _text(environment)
        if trace_id is not None:
            event["trace_id"] = trace_id if type(trace_id) is str else _text(trace_id)
        if metadata is not None:
            event["metadata"] = plain_copy(metadata)
        if input_fingerprint is not None:
            event["input_fingerprint"] = _text(input_fingerprint)
        if framework is not None:
            event["framework"] = _text(framework)
        if build_id is not None:
            event["build_id"] = _text(build_id)
        if commit_hash is not None:
            event["commit_hash"] = (
                commit_hash if isinstance(commit_hash, str) else json.dumps(commit_hash, default=str)
            )
        if config_snapshot is not None:
            event["config_snapshot"] = plain_copy(config_snapshot)
        if explanation is not None:
            event["explanation"] = plain_copy(explanation)
        return event

    def _enqueue(self, event: Dict[str, Any]) -> None:
        """Queue a built event. The delivery thread encodes it: the calling thread only builds
        the event (copying what the caller could still change) and appends it."""
        self._worker().put(event)

    @staticmethod
    def _number(name: str, value: Any, high: Optional[float], background: bool) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if math.isfinite(number) and number >= 0 and (high is None or number <= high):
            return number
        if not background:
            return value  # the server answers 422 naming the field
        # In background mode a bad number must not cost the whole audit event (the server
        # would refuse it after the call has returned): leave the field out, say so.
        logger.warning("ml_audit: %s=%r is not valid and was left out of the audit event", name, value)
        return None

    def attach_explanation(
        self,
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
        """Attach an explanation. See :func:`ml_audit.services.attach_explanation`."""
        if mode is not None and mode not in _config.MODES:
            raise ConfigurationError(f"mode must be 'sync' or 'background', not {mode!r}")
        background = (mode or self.settings.mode or SYNC) == BACKGROUND
        ref = _reference(prediction)
        # A copy, encoded by the worker in background mode (as events are).
        body: Dict[str, Any] = {
            # Fixed here, so that a retry (sync or background) never adds a second revision.
            "explanation_id": _text(explanation_id) if explanation_id else new_prediction_id(),
            "method": method,
            "payload": plain_copy(payload),
        }
        if summary_text is not None:
            body["summary_text"] = _text(summary_text)
        if status is not None and status != "success":
            body["status"] = _text(status)
        if method_version is not None:
            body["method_version"] = _text(method_version)
        if generated_at is not None:
            body["generated_at"] = _timestamp(generated_at)
        elif background:
            body["generated_at"] = utc_now_text()
        parent = prediction if isinstance(prediction, PredictionEvent) else None
        if not background:
            path = f"/api/v1/predictions/{quote(ref, safe='')}/explanation"
            return Explanation(self._call("POST", path, dumps(body)), prediction=parent)
        try:
            self._worker().put(_ExplanationItem(ref, body))
        except Exception:
            logger.exception("ml_audit: could not queue an explanation")
        shown = plain_copy(body)  # the queued body stays the worker's alone
        shown.setdefault("summary_text", "")
        shown.setdefault("method_version", "")
        shown.setdefault("status", "success")
        shown.update({"id": None, "prediction_id": None, "created_at": None, "revision": None})
        return Explanation(shown, prediction=parent)

    # -- what happened after the prediction: outcomes and reviews ------------------------------

    def record_outcome(
        self,
        prediction_ref: PredictionRef,
        *,
        label: Optional[str] = None,
        value: Optional[float] = None,
        source: str,
        outcome_id: Optional[str] = None,
        observed_at: Optional[Union[_dt.datetime, str]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        mode: Optional[str] = None,
    ) -> Outcome:
        """Record the ground truth of a prediction. See :func:`ml_audit.services.record_outcome`."""
        background = self._background(mode)
        try:
            body = self._outcome_body(label, value, source, outcome_id, observed_at, metadata, background)
            ref = _reference(prediction_ref)
        except Exception:
            if not background:
                raise
            # Never into the host application: log, count, hand back what is known.
            logger.exception("ml_audit: could not queue an outcome")
            self._drop_quietly("it could not be built (see the error logged above)")
            body = {"outcome_id": _text(outcome_id) if outcome_id else None, "source": source}
            return Outcome(_pending_outcome(body), prediction=_parent(prediction_ref))
        parent = _parent(prediction_ref)
        if not background:
            path = f"/api/v1/predictions/{quote(ref, safe='')}/outcomes"
            return Outcome(self._call("POST", path, dumps(body)), prediction=parent)
        try:
            self._worker().put(_OutcomeItem(ref, body))
        except Exception:
            logger.exception("ml_audit: could not queue an outcome")
        return Outcome(_pending_outcome(plain_copy(body)), prediction=parent)

    def record_outcomes(
        self, outcomes: Iterable[Mapping[str, Any]], *, mode: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """Record many outcomes. See :func:`ml_audit.services.record_outcomes`."""
        background = self._background(mode)
        items = list(outcomes)
        if not background:
            bodies = [self._batch_outcome(index, item, False) for index, item in enumerate(items)]
            return self._post_outcome_batches(bodies)
        results: List[Dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                body = self._batch_outcome(index, item, True)
            except Exception as exc:
                logger.error("ml_audit: could not queue an outcome: %s", exc)
                self._drop_quietly("it could not be built (see the error logged above)")
                results.append(_pending_result(index, None, str(exc)))
                continue
            try:
                queued = self._worker().put(_OutcomeItem(body["prediction_id"], body, batch=True))
            except Exception:
                logger.exception("ml_audit: could not queue an outcome")
                queued = False
            if queued:
                results.append(_pending_result(index, body["outcome_id"], None))
            else:
                results.append(_pending_result(index, body["outcome_id"], "it could not be queued"))
        return results

    def _batch_outcome(self, index: int, item: Any, background: bool) -> Dict[str, Any]:
        """One item of ``record_outcomes`` as the batch request carries it; ValueError (naming
        the item) when it is not a valid outcome."""
        try:
            if not isinstance(item, Mapping):
                raise TypeError(f"an outcome must be a dict, not {type(item).__name__}")
            unknown = sorted(str(key) for key in item if key not in _OUTCOME_FIELDS)
            if unknown:
                raise ValueError(f"unknown field(s) {', '.join(unknown)}")
            for required in ("prediction_id", "source"):
                if item.get(required) is None:
                    raise ValueError(f"{required} is required")
            prediction_id = item["prediction_id"]
            if isinstance(prediction_id, PredictionEvent):
                prediction_id = prediction_id.prediction_id
            body = {"prediction_id": _text(prediction_id)}
            body.update(
                self._outcome_body(
                    item.get("label"), item.get("value"), item["source"], item.get("outcome_id"),
                    item.get("observed_at"), item.get("metadata"), background,
                )
            )  # fmt: skip
            return body
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"outcomes[{index}]: {exc}") from None

    def _post_outcome_batches(self, bodies: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """``POST /api/v1/outcomes/batch`` in chunks of ``batch_size`` (at most the server's
        1000); the per-item results of all chunks, indexes counted in the caller's list."""
        results: List[Dict[str, Any]] = []
        size = self.settings.batch_size
        for start in range(0, len(bodies), size):
            chunk = bodies[start : start + size]
            answer = self._call("POST", "/api/v1/outcomes/batch", dumps({"outcomes": chunk}))
            answered = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(answered, list):
                raise APIError(200, "", "the outcome batch answer has no results", body=answer)
            for result in sorted(answered, key=lambda r: r.get("index", 0) if isinstance(r, dict) else 0):
                if isinstance(result, dict) and isinstance(result.get("index"), int):
                    result = dict(result)
                    result["index"] += start
                results.append(result)
        return results

    def _outcome_body(
        self, label: Any, value: Any, source: Any, outcome_id: Any, observed_at: Any,
        metadata: Any, background: bool,
    ) -> Dict[str, Any]:  # fmt: skip
        if label is None and value is None:
            raise ValueError("an outcome needs a label or a value (or both)")
        body: Dict[str, Any] = {
            # Fixed here, so that a retry (sync or background) can never store it twice.
            "outcome_id": _text(outcome_id) if outcome_id else new_prediction_id(),
            "source": source if type(source) is str else _text(source),
        }
        if label is not None:
            body["label"] = _label(label)
        if value is not None:
            body["value"] = _outcome_value(value)
        if observed_at is not None:
            body["observed_at"] = _aware_timestamp("observed_at", observed_at)
        elif background:
            # The time of the call, not of delivery; sent again unchanged on every retry.
            body["observed_at"] = utc_now_text()
        if metadata is not None:
            body["metadata"] = plain_copy(metadata)
        return body

    def record_review(
        self,
        prediction_ref: PredictionRef,
        *,
        reviewer_id: str,
        action: str,
        reviewer_name: Optional[str] = None,
        final_decision: Optional[str] = None,
        reason_codes: Optional[Sequence[str]] = None,
        comment: Optional[str] = None,
        review_id: Optional[str] = None,
        reviewed_at: Optional[Union[_dt.datetime, str]] = None,
        mode: Optional[str] = None,
    ) -> Review:
        """Record a human review of a prediction. See :func:`ml_audit.services.record_review`."""
        background = self._background(mode)
        try:
            ref = _reference(prediction_ref)
            body = self._review_body(
                reviewer_id, action, reviewer_name, final_decision, reason_codes, comment,
                review_id, reviewed_at, background,
            )  # fmt: skip
        except Exception:
            if not background:
                raise
            logger.exception("ml_audit: could not queue a review")
            self._drop_quietly("it could not be built (see the error logged above)")
            body = {
                "review_id": _text(review_id) if review_id else None,
                "reviewer": {"reviewer_id": reviewer_id, "name": reviewer_name},
                "action": action,
            }
            return Review(_pending_review(body), prediction=_parent(prediction_ref))
        parent = _parent(prediction_ref)
        if not background:
            path = f"/api/v1/predictions/{quote(ref, safe='')}/reviews"
            return Review(self._call("POST", path, dumps(body)), prediction=parent)
        try:
            self._worker().put(_ReviewItem(ref, body))
        except Exception:
            logger.exception("ml_audit: could not queue a review")
        return Review(_pending_review(plain_copy(body)), prediction=parent)

    @staticmethod
    def _review_body(
        reviewer_id: Any, action: Any, reviewer_name: Any, final_decision: Any, reason_codes: Any,
        comment: Any, review_id: Any, reviewed_at: Any, background: bool,
    ) -> Dict[str, Any]:  # fmt: skip
        if reviewer_id is None or reviewer_id == "":
            raise ValueError("reviewer_id is required")
        action = action if type(action) is str else _text(action)
        if action == ReviewAction.OVERRIDE.value and final_decision is None:
            raise ValueError("an override needs a final_decision")
        reviewer: Dict[str, Any] = {"reviewer_id": _text(reviewer_id)}
        if reviewer_name is not None:
            reviewer["name"] = _text(reviewer_name)
        body: Dict[str, Any] = {
            # Fixed here, so that a retry can never store it twice.
            "review_id": _text(review_id) if review_id else new_prediction_id(),
            "reviewer": reviewer,
            "action": action,
        }
        if final_decision is not None:
            body["final_decision"] = _label(final_decision)
        if reason_codes is not None:
            if isinstance(reason_codes, (str, bytes)) or not isinstance(reason_codes, Iterable):
                raise TypeError("reason_codes must be a list of strings")
            body["reason_codes"] = [_text(code) for code in reason_codes]
        if comment is not None:
            body["comment"] = _text(comment)
        if reviewed_at is not None:
            body["reviewed_at"] = _aware_timestamp("reviewed_at", reviewed_at)
        elif background:
            body["reviewed_at"] = utc_now_text()
        return body

    def _background(self, mode: Optional[str]) -> bool:
        if mode is not None and mode not in _config.MODES:
            raise ConfigurationError(f"mode must be 'sync' or 'background', not {mode!r}")
        return (mode or self.settings.mode or SYNC) == BACKGROUND

    def _drop_quietly(self, why: str) -> None:
        try:
            self._worker()._drop(1, why)
        except Exception:
            pass

    # -- reading (needs a key with the read scope) -------------------------------------------

    def get_prediction(self, ref: PredictionRef) -> PredictionEvent:
        """``GET /api/v1/predictions/{ref}`` by ``id`` or ``prediction_id``."""
        path = f"/api/v1/predictions/{quote(_reference(ref), safe='')}"
        return PredictionEvent(self._call("GET", path, None))

    def list_outcomes(self, ref: PredictionRef) -> List[Outcome]:
        """``GET /api/v1/predictions/{ref}/outcomes``: every outcome of a prediction, in arrival
        order (the current one, the latest by ``observed_at``, is its ``outcome``)."""
        path = f"/api/v1/predictions/{quote(_reference(ref), safe='')}/outcomes"
        return [Outcome(item) for item in self._call("GET", path, None).get("items", [])]

    def list_reviews(self, ref: PredictionRef) -> List[Review]:
        """``GET /api/v1/predictions/{ref}/reviews``: every review of a prediction, oldest
        first."""
        path = f"/api/v1/predictions/{quote(_reference(ref), safe='')}/reviews"
        return [Review(item) for item in self._call("GET", path, None).get("items", [])]

    def list_predictions(self, **filters: Any) -> Dict[str, Any]:
        """One page of ``GET /api/v1/predictions`` (``{"items": [...], "next_cursor": ...}``),
        items as :class:`PredictionEvent`. Filters as in the API (``model_name=...``, ...)."""
        query = {key: _query_value(value) for key, value in filters.items() if value is not None}
        path = "/api/v1/predictions" + (f"?{urlencode(query)}" if query else "")
        page = self._call("GET", path, None)
        return {
            "items": [PredictionEvent(item) for item in page.get("items", [])],
            "next_cursor": page.get("next_cursor"),
        }

    def iter_predictions(self, **filters: Any) -> Iterator[PredictionEvent]:
        """Every prediction matching ``filters``, newest first, following the cursor."""
        filters.setdefault("limit", 1000)
        while True:
            page = self.list_predictions(**filters)
            yield from page["items"]
            if not page["next_cursor"]:
                return
            filters["cursor"] = page["next_cursor"]

    # -- background control --------------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every event queued so far is delivered (or rejected for good); False if
        ``timeout`` seconds passed first. Never raises."""
        worker = self._worker_obj
        return True if worker is None else worker.flush(timeout)

    def stats(self) -> Dict[str, Any]:
        """Counters of background delivery: queued, sent, created, replayed, rejected, dropped,
        retries, batches, explanations, last_error."""
        worker = self._worker_obj
        if worker is None:
            return Worker.empty_stats()
        return worker.stats()

    def close(self, timeout: Optional[float] = None) -> bool:
        """Flush (up to ``timeout``), then stop the delivery thread."""
        worker = self._worker_obj
        delivered = True if worker is None else worker.close(timeout)
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        return delivered

    def _retire(self) -> None:
        worker = self._worker_obj
        if worker is not None:
            worker.retire()

    def _worker(self) -> Worker:
        worker = self._worker_obj
        if worker is None:
            with self._worker_lock:
                worker = self._worker_obj
                if worker is None:
                    if not self.settings.api_key:
                        logger.error(
                            "ml_audit: no API key configured (ML_AUDIT_API_KEY or "
                            "settings.ML_AUDIT['API_KEY']); audit events will be refused"
                        )
                    worker = self._worker_obj = Worker(self.settings)
        return worker

    def _after_fork_in_child(self) -> None:
        self._local = threading.local()
        self._worker_lock = threading.Lock()

    # -- sync HTTP -----------------------------------------------------------------------------

    def _connection(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.settings.api_key:
                raise ConfigurationError(
                    "no ml-audit API key: set ML_AUDIT_API_KEY or settings.ML_AUDIT['API_KEY']"
                )
            s = self.settings
            conn = self._local.conn = Connection(s.url, s.api_key, s.timeout)
        return conn

    def _call(self, method: str, path: str, body: Optional[bytes]) -> Any:
        """One request, retried on connection errors, 5xx and 429 (safe: writes carry a fixed
        ``prediction_id``); raises an :class:`~ml_audit.errors.MLAuditError` on failure.

        A retry never comes sooner than the answer's ``Retry-After`` (capped at ``max_backoff``);
        when that wait would take the call past its time budget (``timeout`` per attempt), the
        error is raised at once instead (with its ``retry_after``)."""
        settings = self.settings
        deadline = time.monotonic() + settings.timeout * (settings.sync_retries + 1)
        attempt = 0
        while True:
            attempt += 1
            error: Optional[APIError] = None
            try:
                status, data, headers = self._connection().request(method, path, body)
            except RETRYABLE_ERRORS as exc:
                if attempt > settings.sync_retries or time.monotonic() >= deadline:
                    raise DeliveryError(
                        f"cannot reach the ml-audit server at {settings.url}: {exc}"
                    ) from exc
            else:
                if status < 300:
                    return decode(data)
                error = api_error(status, decode(data), headers)
                if (status != 429 and status < 500) or attempt > settings.sync_retries:
                    raise error
            # Only after a failure (a successful attempt has returned above).
            own = min(1.0, settings.retry_backoff * (2 ** (attempt - 1))) * random.uniform(0.5, 1.0)
            asked = None if error is None else error.retry_after
            delay = retry_delay(own, asked, settings.max_backoff)
            if error is not None and asked is not None and time.monotonic() + delay > deadline:
                raise error
            time.sleep(delay)


def _actor(actor: Any) -> Dict[str, Any]:
    if isinstance(actor, ActorPayload):
        actor_type = actor.actor_type
        actor_id = actor.actor_id
        out: Dict[str, Any] = {
            "actor_type": actor_type if type(actor_type) is str else _text(actor_type),
            "actor_id": actor_id if type(actor_id) is str else _text(actor_id),
        }
        value = actor.tenant_id
        if value:
            out["tenant_id"] = value if type(value) is str else _text(value)
        value = actor.ip_address
        if value:
            out["ip_address"] = value if type(value) is str else _text(value)
        value = actor.user_agent
        if value:
            out["user_agent"] = value if type(value) is str else _text(value)
        if actor.auth_token is not None:
            out["auth_context"] = plain_copy(actor.auth_token)
        return out
    if isinstance(actor, Mapping):
        out = {"actor_type": _text(actor["actor_type"]), "actor_id": _text(actor["actor_id"])}
        for name in ("tenant_id", "ip_address", "user_agent"):
            value = actor.get(name)
            if value:
                out[name] = _text(value)
        context = actor.get("auth_context", actor.get("auth_token"))
        if context is not None:
            out["auth_context"] = plain_copy(context)
        return out
    raise TypeError(f"actor must be an ActorPayload, not {type(actor).__name__}")


def _reference(prediction: Any) -> str:
    if isinstance(prediction, PredictionEvent):
        ident = None if prediction.pending else prediction.get("id")
        if ident:
            return str(ident)
        return str(prediction.prediction_id)
    if isinstance(prediction, uuid.UUID):
        return str(prediction)
    if isinstance(prediction, str) and prediction:
        return prediction
    ident = getattr(prediction, "prediction_id", None) or getattr(prediction, "id", None)
    if ident:
        return str(ident)
    raise TypeError(
        "prediction must be a PredictionEvent, a UUID or a prediction_id string, "
        f"not {type(prediction).__name__}"
    )


def _parent(prediction: Any) -> Optional[PredictionEvent]:
    return prediction if isinstance(prediction, PredictionEvent) else None


def _pending_outcome(body: Dict[str, Any]) -> Dict[str, Any]:
    """The server's shape for an outcome the client has only queued (what is known of it)."""
    shown = {
        "id": None,
        "outcome_id": body.get("outcome_id"),
        "prediction_id": None,
        "label": body.get("label"),
        "value": body.get("value"),
        "source": body.get("source"),
        "observed_at": body.get("observed_at"),
        "metadata": body.get("metadata") or {},
        "created_at": None,
    }
    return shown


def _pending_review(body: Dict[str, Any]) -> Dict[str, Any]:
    """The server's shape for a review the client has only queued."""
    reviewer = dict(body.get("reviewer") or {})
    reviewer["name"] = reviewer.get("name") or ""
    return {
        "id": None,
        "review_id": body.get("review_id"),
        "prediction_id": None,
        "reviewer": reviewer,
        "action": body.get("action"),
        "final_decision": body.get("final_decision") or "",
        "reason_codes": body.get("reason_codes") or [],
        "comment": body.get("comment") or "",
        "reviewed_at": body.get("reviewed_at"),
        "created_at": None,
    }


def _pending_result(index: int, outcome_id: Optional[str], dropped: Optional[str]) -> Dict[str, Any]:
    """A ``record_outcomes`` result in background mode: ``status`` is None (not sent yet)."""
    result: Dict[str, Any] = {"index": index, "status": None, "id": None, "outcome_id": outcome_id}
    if dropped is not None:
        result["error"] = {"code": "dropped", "message": dropped, "field": None}
    return result


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.datetime):
        return _timestamp(value)
    return _text(value)


# -- the shared default client ----------------------------------------------------------------

_default: Optional[Client] = None
_overrides: Dict[str, Any] = {}
_default_lock = threading.Lock()
_django_hooked = False


def get_client() -> Client:
    """The client the module-level functions use, built from the settings on first use."""
    client = _default
    if client is None:
        client = _build_default()
    return client


def _build_default() -> Client:
    global _default
    with _default_lock:
        if _default is None:
            _default = Client(_config.resolve(_overrides))
            _hook_django()
        return _default


def configure(**settings: Any) -> Client:
    """Set the shared client's settings in code (they win over Django settings and the
    environment): ``ml_audit.configure(url=..., api_key=..., mode="background")``. Called with
    no arguments, goes back to Django settings and the environment. Events already queued are
    still delivered with the previous settings."""
    global _default, _overrides
    with _default_lock:
        new = Client(_config.resolve(settings))
        old, _default = _default, new
        _overrides = dict(settings)
        _hook_django()
    if old is not None:
        old._retire()
    return new


def reset() -> None:
    """Drop the shared client so that the next call reads the settings again."""
    global _default
    with _default_lock:
        old, _default = _default, None
    if old is not None:
        old._retire()


def _hook_django() -> None:
    global _django_hooked
    if _django_hooked or _config._django_settings() is None:
        return
    try:
        from django.core.signals import setting_changed
    except Exception:  # pragma: no cover
        return

    def _changed(sender: Any = None, setting: str = "", **kwargs: Any) -> None:
        if setting in ("ML_AUDIT", "ML_AUDIT_REDACTION"):
            reset()

    setting_changed.connect(_changed, weak=False, dispatch_uid="ml_audit.settings")
    _django_hooked = True


def flush(timeout: Optional[float] = None) -> bool:
    """Wait for the shared client's queued events (see :meth:`Client.flush`)."""
    client = _default
    return True if client is None else client.flush(timeout)


def stats() -> Dict[str, Any]:
    """The shared client's delivery counters (see :meth:`Client.stats`)."""
    client = _default
    return Worker.empty_stats() if client is None else client.stats()


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()
    for client in list(_clients):
        client._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


__all__ = [
    "ActorPayload",
    "Client",
    "configure",
    "flush",
    "get_client",
    "reset",
    "stats",
    "Settings",
]
