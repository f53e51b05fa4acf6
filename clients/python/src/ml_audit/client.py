"""The client: builds events, sends them now (``sync``) or queues them (``background``)."""

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
from typing import Any, Dict, Iterator, Optional, Union
from urllib.parse import quote, urlencode

from . import _config
from ._config import BACKGROUND, SYNC, Settings
from ._encoding import dumps, plain_copy
from ._transport import RETRYABLE_ERRORS, Connection, decode, retry_delay
from ._worker import Worker, _ExplanationItem
from .errors import APIError, ConfigurationError, DeliveryError, api_error
from .models import Explanation, PredictionEvent, PredictionStatus

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
    ) -> Explanation:
        """Attach an explanation. See :func:`ml_audit.services.attach_explanation`."""
        if mode is not None and mode not in _config.MODES:
            raise ConfigurationError(f"mode must be 'sync' or 'background', not {mode!r}")
        background = (mode or self.settings.mode or SYNC) == BACKGROUND
        ref = _reference(prediction)
        # A copy, encoded by the worker in background mode (as events are).
        body: Dict[str, Any] = {"method": method, "payload": plain_copy(payload)}
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

    # -- reading (needs a key with the read scope) -------------------------------------------

    def get_prediction(self, ref: PredictionRef) -> PredictionEvent:
        """``GET /api/v1/predictions/{ref}`` by ``id`` or ``prediction_id``."""
        path = f"/api/v1/predictions/{quote(_reference(ref), safe='')}"
        return PredictionEvent(self._call("GET", path, None))

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
