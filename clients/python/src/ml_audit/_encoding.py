"""JSON encoding of events: compact UTF-8, and never a body the server cannot parse.

- datetimes, dates, times, Decimals, UUIDs, enums, sets, bytes, lazy strings, NumPy scalars and
  arrays and other mappings are converted (as Django's JSON encoder would, roughly);
- NaN and infinities, which JSON cannot hold, become the strings ``"NaN"``, ``"Infinity"`` and
  ``"-Infinity"``;
- lone surrogates, which are not UTF-8, become ``"?"``;
- anything else becomes its ``str()``, so encoding an event never fails.

``plain_copy`` makes the same conversions ahead of time, into a copy: a background event is
encoded later, on the delivery thread, and must hold the values of the moment of the call.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return dict(value)
    # NumPy (and similar) scalars and arrays, without importing NumPy.
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and hasattr(value, "dtype"):
        try:
            return tolist()
        except Exception:  # pragma: no cover - exotic array types
            pass
    if hasattr(value, "__iter__") and not isinstance(value, str):
        try:
            return list(value)
        except Exception:
            pass
    return str(value)


_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default
)


def _make_fast_encode() -> Any:
    """``JSONEncoder.encode`` builds a new C encoder on every call; build one once instead
    (a third of the cost of encoding an event). Without circular-reference checks: a circular
    structure fails with RecursionError instead of ValueError."""
    try:
        from json.encoder import c_make_encoder, encode_basestring

        if c_make_encoder is None or encode_basestring is None:
            return None
        encoder = c_make_encoder(None, _default, encode_basestring, None, ":", ",", False, False, False)
        join = "".join
        if join(encoder({"a": [1, 2.5, None, True, "\u00e9"]}, 0)) != '{"a":[1,2.5,null,true,"\u00e9"]}':
            return None

        def encode(value: Any) -> str:
            if type(value) is str:
                return _encoder.encode(value)
            return join(encoder(value, 0))

        return encode
    except Exception:  # pragma: no cover - another Python implementation
        return None


_encode = _make_fast_encode() or _encoder.encode


# Immutable, and written by the encoder as they are (subclasses too: str enums, Django's
# SafeString), so a copy can share them.
_IMMUTABLE = frozenset((str, int, float, bool))


def plain_copy(value: Any) -> Any:
    """A copy of ``value`` that shares nothing mutable with it: dicts and lists are copied at
    every depth, and any other object is converted as the encoder would convert it (a NumPy
    array into a list, a datetime into its ISO text, ...). Encoding the copy later gives what
    encoding ``value`` now would have given, whatever the caller changes in between."""
    kind = type(value)
    if kind in _IMMUTABLE or value is None:
        return value
    if kind is dict:
        return {
            key: child if type(child) in _IMMUTABLE or child is None else plain_copy(child)
            for key, child in value.items()
        }
    if kind is list or kind is tuple:
        return [child if type(child) in _IMMUTABLE or child is None else plain_copy(child) for child in value]
    return plain_leaf(value)


def plain_leaf(value: Any) -> Any:
    """:func:`plain_copy` of a value that is neither a plain dict, list nor tuple."""
    if isinstance(value, (str, int, float)):
        return value
    if isinstance(value, Mapping):  # dict subclasses too: copied into a plain dict
        return plain_copy(dict(value.items()))
    if isinstance(value, (list, tuple)):
        return plain_copy(list(value))
    converted = _default(value)
    return converted if type(converted) is str else plain_copy(converted)


def _finite(value: Any) -> Any:
    """Replace non-finite floats (at any depth) by strings JSON can hold."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {key: _finite(child) for key, child in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_finite(child) for child in value]
    converted = _default(value) if not isinstance(value, (str, int, bool, type(None))) else value
    if converted is not value and not isinstance(converted, str):
        return _finite(converted)
    return converted


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON that the server accepts."""
    try:
        text = _encode(value)
    except (ValueError, RecursionError):
        # A non-finite float somewhere (allow_nan=False): rewrite them, then encode again.
        text = _encode(_finite(value))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (from broken input decoding) are not UTF-8.
        return text.encode("utf-8", "replace")
