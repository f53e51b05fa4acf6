"""Django REST framework integration: ``audited_prediction``, as in django-ml-audit.

::

    class FraudPredictionView(APIView):
        @audited_prediction(model_name="fraud_model", model_version="1.0.0",
                            decision_field="is_fraud", confidence_field="fraud_probability")
        def post(self, request):
            return {"fraud_probability": 0.9, "is_fraud": True}

The decorated view method returns a dict; the decorator records the prediction (features from
``request.validated_data`` if set, else ``request.data``; the actor from ``request.user``; the
``X-Request-ID`` header as trace id; the latency of the view) and returns
``Response({**output, "prediction_id": ...}, status=200)``. When the view raises, a ``failed``
event with output ``{"error": "exception"}`` is recorded and the exception is re-raised.

Delivery is ``background`` by default: the request never waits for the audit server and never
fails because of it. ``ML_AUDIT = {"MODE": "sync"}`` (or ``mode="sync"``) records before
answering instead.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional

try:
    from rest_framework.response import Response
except ImportError as exc:  # pragma: no cover
    raise ImportError(
        "djangorestframework is required for ml_audit.integrations.drf; "
        "install it with `pip install ml-audit-client[drf]`."
    ) from exc

from .._config import BACKGROUND, SYNC
from .._encoding import plain_copy
from ..client import ActorPayload, Client, get_client, new_prediction_id, utc_now_text
from ..models import PredictionEvent, PredictionStatus

logger = logging.getLogger("ml_audit")

__all__ = ["audited_prediction"]

_MAX_TRACE_ID = 255
_MAX_USER_AGENT = 8192


def audited_prediction(
    model_name: str,
    model_version: str,
    environment: str = "prod",
    decision_field: Optional[str] = None,
    confidence_field: Optional[str] = None,
    explanation_builder: Optional[Callable[..., Dict[str, Any]]] = None,
    decision_outcome_field: Optional[str] = None,
    *,
    mode: Optional[str] = None,
    client: Optional[Client] = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a DRF view method ``(self, request, *args, **kwargs) -> dict``.

    - ``decision_outcome_field``: the output key stored as ``decision_outcome``; when not given,
      ``decision_field``'s value is stored there instead (``true``/``false`` for booleans).
    - ``confidence_field``: the output key stored as ``confidence`` (a number in [0, 1]).
    - ``explanation_builder(features, output, prediction)`` returns
      ``{"payload": {...}, "summary": "..."}``; it is attached with method ``auto`` (in
      ``background`` mode inside the same event, so both are stored together).
    - ``mode``: ``"background"`` (default unless ``ML_AUDIT["MODE"]`` says otherwise) or
      ``"sync"``; ``client``: a :class:`~ml_audit.Client` other than the shared one.
    """

    def decorator(view_func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view_func)
        def wrapper(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                output = view_func(self, request, *args, **kwargs)
            except Exception:
                latency_ms = (time.perf_counter() - started) * 1000.0
                _record_failure(request, latency_ms)
                raise
            latency_ms = (time.perf_counter() - started) * 1000.0
            return _record_success(request, output, latency_ms)

        def _settings() -> tuple:
            the_client = client or get_client()
            chosen = mode or the_client.settings.mode or BACKGROUND
            return the_client, chosen

        def _common(request: Any, latency_ms: float) -> Dict[str, Any]:
            return {
                "model_name": model_name,
                "model_version": model_version,
                "environment": environment,
                "features": _features(request),
                "actor": _actor(request),
                "trace_id": _trace_id(request),
                "latency_ms": latency_ms,
            }

        def _record_failure(request: Any, latency_ms: float) -> None:
            try:
                the_client, chosen = _settings()
                the_client.record_prediction_event(
                    **_common(request, latency_ms),
                    output={"error": "exception"},
                    status=PredictionStatus.FAILED,
                    mode=chosen,
                )
            except Exception:
                # The view's own exception is what the caller must see.
                logger.exception("ml_audit: could not record the failed prediction")

        def _record_success(request: Any, output: Any, latency_ms: float) -> Any:
            passthrough = None
            if not isinstance(output, Mapping):
                if hasattr(output, "status_code"):  # already a response: record, pass it on
                    passthrough = output
                    output = getattr(output, "data", None)
                else:
                    raise TypeError(
                        f"a view decorated with audited_prediction must return a dict, "
                        f"not {type(output).__name__}"
                    )
            mapping = output if isinstance(output, Mapping) else {}
            confidence = mapping.get(confidence_field) if confidence_field else None
            if decision_outcome_field:
                decision = mapping.get(decision_outcome_field)
            elif decision_field:
                decision = mapping.get(decision_field)
            else:
                decision = None
            if isinstance(decision, bool):
                decision = "true" if decision else "false"
            elif decision is not None and not isinstance(decision, str):
                decision = str(decision)

            try:
                the_client, chosen = _settings()
            except Exception:
                # Broken settings must not break the endpoint; say so loudly.
                logger.exception("ml_audit: cannot record the prediction: bad ML_AUDIT settings")
                the_client, chosen = None, None
            fields = _common(request, latency_ms)
            fields.update(output=output, confidence=confidence, decision_outcome=decision)

            if the_client is None:
                prediction_id = new_prediction_id()
            elif chosen == SYNC:
                prediction = the_client.record_prediction_event(**fields, mode=SYNC)
                built = None
                if explanation_builder is not None:
                    built = explanation_builder(fields["features"], output, prediction)
                if built is not None:
                    payload, summary, method = _explanation_parts(built)
                    the_client.attach_explanation(
                        prediction=prediction,
                        method=method,
                        payload=payload,
                        summary_text=summary,
                        mode=SYNC,
                    )
                prediction_id = prediction.prediction_id
            else:
                prediction_id = _record_background(the_client, fields, output)

            if passthrough is not None:
                return passthrough
            return Response({**output, "prediction_id": prediction_id}, status=200)

        def _record_background(the_client: Client, fields: Dict[str, Any], output: Any) -> str:
            # Never raises into the view, except for the explanation builder's own errors
            # (user code), which propagate after the event is queued, as in django-ml-audit.
            try:
                event = the_client._event(
                    fields["model_name"], fields["model_version"], fields["features"], output,
                    fields["decision_outcome"], fields["actor"], fields["environment"],
                    fields["trace_id"], fields["latency_ms"], "success", fields["confidence"],
                    None, None, None, None, None, None, None, None, None, True,
                )  # fmt: skip
            except Exception:
                logger.exception("ml_audit: could not build the audit event")
                prediction = the_client.record_prediction_event(**fields, mode=BACKGROUND)
                return str(prediction.prediction_id)
            prediction_id: str = event["prediction_id"]
            builder_error: Optional[BaseException] = None
            if explanation_builder is not None:
                try:
                    built = explanation_builder(
                        fields["features"], output, PredictionEvent(sent=event)
                    )
                    if built is not None:
                        payload, summary, method = _explanation_parts(built)
                        explanation: Dict[str, Any] = {
                            "method": method,
                            "payload": plain_copy(payload),
                            "generated_at": utc_now_text(),
                        }
                        if summary is not None:
                            explanation["summary_text"] = str(summary)
                        event["explanation"] = explanation
                except Exception as exc:
                    builder_error = exc
            the_client._enqueue(event)
            if builder_error is not None:
                raise builder_error
            return prediction_id

        return wrapper

    return decorator


def _explanation_parts(built: Any) -> tuple:
    if not isinstance(built, Mapping):
        raise TypeError("explanation_builder must return a dict with 'payload' and 'summary'")
    payload = built.get("payload", {})
    summary = built.get("summary", built.get("summary_text"))
    method = built.get("method") or "auto"
    return payload, summary, method


def _features(request: Any) -> Any:
    try:
        data = getattr(request, "validated_data", None)
        if data is None:
            data = request.data if hasattr(request, "data") else getattr(request, "POST", {})
    except Exception:
        # The body could not be parsed; the view raised that already, or will.
        return {}
    lists = getattr(data, "lists", None)
    if callable(lists):
        try:  # a QueryDict (form data): single values as values, repeated ones as lists
            return {key: values[0] if len(values) == 1 else list(values) for key, values in lists()}
        except Exception:
            pass
    if isinstance(data, Mapping):
        return data
    if data is None:
        return {}
    return {"data": data}


def _actor(request: Any) -> Optional[ActorPayload]:
    try:
        user = getattr(request, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        user_id = getattr(user, "id", None)
        if user_id is None:
            user_id = getattr(user, "pk", None)
        if user_id is None:
            return None
        tenant_id = getattr(user, "tenant_id", None)
        meta = getattr(request, "META", None) or {}
        ip_address = meta.get("REMOTE_ADDR") or None
        if ip_address is not None:
            try:
                ip_address = str(ipaddress.ip_address(ip_address))
            except ValueError:
                ip_address = None  # the server refuses anything but an IP address
        user_agent = meta.get("HTTP_USER_AGENT") or None
        if user_agent is not None:
            user_agent = str(user_agent)[:_MAX_USER_AGENT]
        return ActorPayload(
            actor_type="user",
            actor_id=str(user_id),
            tenant_id=str(tenant_id) if tenant_id not in (None, "") else None,
            ip_address=ip_address,
            user_agent=user_agent,
        )
    except Exception:
        logger.exception("ml_audit: could not read the requesting user")
        return None


def _trace_id(request: Any) -> Optional[str]:
    try:
        value = request.headers.get("X-Request-ID")
    except Exception:
        return None
    if not value:
        return None
    return str(value)[:_MAX_TRACE_ID]
