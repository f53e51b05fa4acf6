"""Exceptions raised by ml_audit in ``sync`` mode (``background`` mode never raises)."""

from __future__ import annotations

from typing import Any, Optional

from ._transport import retry_after_seconds


class MLAuditError(Exception):
    """Base class of every error the client raises."""


class ConfigurationError(MLAuditError):
    """The client is missing a setting (URL, API key) or a setting has a bad value."""


class DeliveryError(MLAuditError):
    """The server could not be reached, or kept failing, within the configured timeout."""


class APIError(MLAuditError):
    """The server answered with an error (``{"error": {"code", "message", "field"}}``).
    ``retry_after`` is the server's ``Retry-After`` in seconds, ``None`` when it sent none."""

    def __init__(
        self,
        status: int,
        code: str = "",
        message: str = "",
        field: Optional[str] = None,
        body: Any = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.body = body
        self.retry_after = retry_after
        text = f"ml-audit server answered {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if field:
            text += f" (field {field})"
        if retry_after is not None:
            text += f" (retry after {retry_after:g} s)"
        super().__init__(text)


class AuthenticationError(APIError):
    """401: no API key, or the key is unknown or revoked."""


class PermissionDenied(APIError):
    """403: the key has the wrong scope, or writes another tenant's prediction."""


class NotFound(APIError):
    """404: no such prediction (or one this key may not see)."""


class Conflict(APIError):
    """409: the ``prediction_id`` (or ``outcome_id``, ``review_id``) is already recorded with
    different content (``code`` ``conflict``), a review breaks the two-person rule (the same
    reviewer confirming their own change: ``conflict``), or the prediction was erased
    (``code`` ``erased``)."""


class ValidationError(APIError):
    """422 (or 400): the event is not valid; ``field`` names the culprit."""


class ServiceUnavailable(APIError):
    """503: nothing was stored; try again after ``retry_after`` seconds. ``code`` says why:
    ``overloaded`` (the server sheds load: too many events wait for its database; ``Retry-After:
    1``), ``unavailable`` (the database is down) or ``storage_full`` (it is full; both
    ``Retry-After: 5``)."""


def api_error(status: int, body: Any, headers: Any = None) -> APIError:
    """The exception for an error answer: its status, its JSON body and its headers."""
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        detail = {}
    code = str(detail.get("code") or "")
    message = str(detail.get("message") or (body if isinstance(body, str) else ""))
    field = detail.get("field")
    cls = {
        401: AuthenticationError,
        403: PermissionDenied,
        404: NotFound,
        409: Conflict,
        400: ValidationError,
        422: ValidationError,
        503: ServiceUnavailable,
    }.get(status, APIError)
    return cls(status, code, message, field, body, retry_after_seconds(headers))
