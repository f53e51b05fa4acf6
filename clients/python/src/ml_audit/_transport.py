"""A small HTTP/1.1 client on http.client: one persistent connection, JSON in and out."""

from __future__ import annotations

import http.client
import json
import math
import socket
import ssl
from typing import Any, Optional, Tuple
from urllib.parse import urlsplit

from ._version import __version__

USER_AGENT = f"ml-audit-python/{__version__}"

# A server's answer: status, body bytes, headers.
Answer = Tuple[int, bytes, Any]

# Errors after which a request may be sent again (nothing was answered).
RETRYABLE_ERRORS: Tuple[type, ...] = (OSError, http.client.HTTPException, socket.timeout)

# Errors that mean a kept-alive connection was closed by the server while idle.
_STALE = (
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


class Connection:
    """Not thread-safe: each thread (the worker, each caller in sync mode) has its own."""

    def __init__(self, url: str, api_key: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._conn: Optional[http.client.HTTPConnection] = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def request(self, method: str, path: str, body: Optional[bytes] = None) -> Answer:
        """Send one request; returns (status, body bytes, headers). Raises one of
        ``RETRYABLE_ERRORS`` when no answer was received."""
        reused = self._conn is not None
        try:
            return self._once(method, path, body)
        except _STALE:
            self.close()
            if not reused:
                raise
            # The server closed an idle kept-alive connection: one fresh attempt.
            return self._once(method, path, body)
        except BaseException:
            self.close()
            raise

    def _once(self, method: str, path: str, body: Optional[bytes]) -> Answer:
        self.send(method, path, body)
        return self.receive()

    def send(self, method: str, path: str, body: Optional[bytes] = None) -> None:
        """The first half of a request: send it, without waiting for the answer (so that a
        caller can send on another connection meanwhile). Raises one of ``RETRYABLE_ERRORS``."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.request(method, self.base_path + path, body=body, headers=self._headers)
        except BaseException:
            self.close()
            raise

    def receive(self) -> Answer:
        """The second half: the answer to the request ``send`` sent, as (status, body bytes,
        headers). Raises one of ``RETRYABLE_ERRORS`` when none came."""
        conn = self._conn
        if conn is None:
            raise http.client.HTTPException("no request was sent on this connection")
        try:
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, data, response.headers


def decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def retry_after_seconds(headers: Any) -> Optional[float]:
    """The ``Retry-After`` of an answer's headers in seconds; ``None`` when there is none, or
    when it is not a number of seconds (the HTTP-date form, which the server never sends)."""
    if headers is None:
        return None
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retry_delay(own: float, retry_after: Optional[float], cap: float) -> float:
    """The wait before a retry: the client's ``own`` backoff, but never less than the server's
    ``retry_after`` (seconds; ``None`` when it sent none), itself capped at ``cap``
    (``max_backoff``): a retry sooner would only be refused again."""
    return own if retry_after is None else max(own, min(retry_after, cap))
