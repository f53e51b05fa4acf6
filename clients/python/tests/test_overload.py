"""A server that sheds load: past ``queue_events`` events waiting for its database writer it
answers 503 ``overloaded`` with ``Retry-After: 1``. Sync calls raise ``ServiceUnavailable``
(nothing stored); the background worker waits as the server asks and delivers everything once.

Overload is made certain, not hoped for: the test holds the server's SQLite write lock (as
another process writing would), so its writers wait; with ``ML_AUDIT_SERVER_QUEUE_EVENTS=1`` the
first submissions occupy them and the one queue slot, and every later one is refused until the
lock is released."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections import defaultdict
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from ml_audit import Client, errors
from ml_audit._config import resolve
from ml_audit._transport import Connection, retry_after_seconds
from ml_audit._worker import BATCH_PATH, Worker, _Stop
from ml_audit.testing import MLAuditServer

from .conftest import stored_ids

# The cap on the worker's waits in these tests: below the server's Retry-After (1 s), so that a
# honoured Retry-After shows as waits of exactly this, without the tests sleeping long.
MAX_BACKOFF = 0.25
# Timers and clocks may round a wait down a little.
SLACK = 0.01


@pytest.fixture(scope="module")
def shedding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLAuditServer]:
    """A server that refuses submissions as soon as one event waits for its writer."""
    folder = str(tmp_path_factory.mktemp("ml-audit-shedding"))
    with MLAuditServer(folder, env={"ML_AUDIT_SERVER_QUEUE_EVENTS": "1"}) as server:
        yield server


@pytest.fixture
def shedding_admin(shedding: MLAuditServer, make_client: Callable[..., Client]) -> Client:
    return make_client(url=shedding.url, api_key=shedding.admin_key, mode="sync")


@contextlib.contextmanager
def database_write_locked(server: MLAuditServer) -> Iterator[None]:
    """Holds the server's SQLite write lock: its writers wait for it (their busy timeout is 10 s,
    far longer than any test holds it), so submissions stay in the server's queue."""
    conn = sqlite3.connect(str(server.directory / "ml-audit.db"), timeout=10, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


@contextlib.contextmanager
def overloaded(server: MLAuditServer, model_name: str) -> Iterator[None]:
    """While it lasts, the server refuses every submission with 503 ``overloaded``: its write
    lock is held and events of ``model_name`` fill its writers and its queue (sent until one is
    refused). On exit the lock is released and those events are stored."""
    client = Client(url=server.url, api_key=server.admin_key, mode="sync", sync_retries=0, redaction={})
    refused = threading.Event()

    def submit() -> None:
        try:
            client.record_prediction_event(model_name=model_name, model_version="1", features={}, output=0)
        except errors.ServiceUnavailable as exc:
            if exc.code == "overloaded":
                refused.set()

    threads: List[threading.Thread] = []
    try:
        with database_write_locked(server):
            deadline = time.monotonic() + 10
            while not refused.is_set():
                assert time.monotonic() < deadline, "the server never refused a submission"
                thread = threading.Thread(target=submit, daemon=True)
                thread.start()
                threads.append(thread)
                refused.wait(0.02)
            yield
    finally:
        for thread in threads:
            thread.join(15)
        client.close()


def test_sync_calls_under_overload_raise_and_store_nothing(
    shedding: MLAuditServer, make_client: Callable[..., Client], shedding_admin: Client, model_name: str
) -> None:
    # sync_retries=0: every overloaded answer reaches the caller (retries are the next test's).
    client = make_client(url=shedding.url, api_key=shedding.admin_key, mode="sync", sync_retries=0)
    threads_count, per_thread = 32, 20
    returned: Dict[str, Any] = {}
    refused: Dict[str, errors.ServiceUnavailable] = {}
    unexpected: List[BaseException] = []
    lock = threading.Lock()
    first_refusal = threading.Event()

    def calls(thread_index: int) -> None:
        for index in range(per_thread):
            prediction_id = f"{model_name}-{thread_index}-{index}"
            try:
                prediction = client.record_prediction_event(
                    model_name=model_name,
                    model_version="1",
                    features={"thread": thread_index, "index": index},
                    output={"score": 0.5},
                    prediction_id=prediction_id,
                )
            except errors.ServiceUnavailable as exc:
                with lock:
                    refused[prediction_id] = exc
                first_refusal.set()
            except BaseException as exc:  # anything else fails the test below
                with lock:
                    unexpected.append(exc)
            else:
                with lock:
                    returned[prediction_id] = prediction

    threads = [threading.Thread(target=calls, args=(n,), daemon=True) for n in range(threads_count)]
    with database_write_locked(shedding):
        for thread in threads:
            thread.start()
        # The writers take two submissions and the queue one; the next is refused, whatever
        # the timing. Then the lock goes and the rest of the calls meet the server as it is.
        assert first_refusal.wait(10), "no call was refused while the database was locked"
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)

    assert not unexpected, unexpected
    assert len(returned) + len(refused) == threads_count * per_thread
    assert returned, "the first submission into an empty queue is always taken"
    for exc in refused.values():
        assert isinstance(exc, errors.APIError) and exc.status == 503
        assert (exc.code, exc.retry_after) == ("overloaded", 1.0), exc
        assert "overloaded" in str(exc)
    for prediction_id, prediction in returned.items():
        assert not prediction.pending and prediction.id is not None
        assert prediction.prediction_id == prediction_id
    # Exactly the events that returned are stored, each once; the refused ones are not.
    stored = stored_ids(shedding_admin, model_name)
    assert len(stored) == len(set(stored))
    assert set(stored) == set(returned)
    assert not set(stored) & set(refused)


def requests_sent(client: Client) -> List[str]:
    """The paths of the requests the client's connection (this thread's) sends from now on."""
    conn = client._connection()
    request = conn.request
    sent: List[str] = []

    def counted(method: str, path: str, body: Optional[bytes] = None) -> Any:
        sent.append(path)
        return request(method, path, body)

    conn.request = counted  # type: ignore[method-assign]
    return sent


def test_a_sync_retry_waits_for_retry_after(
    shedding: MLAuditServer, make_client: Callable[..., Client], shedding_admin: Client, model_name: str
) -> None:
    patient = make_client(
        url=shedding.url, api_key=shedding.admin_key, mode="sync", sync_retries=1,
        retry_backoff=0.001, max_backoff=MAX_BACKOFF,
    )  # fmt: skip
    # Its time budget (timeout × attempts, 0.8 s) is shorter than the server's Retry-After.
    hurried = make_client(
        url=shedding.url, api_key=shedding.admin_key, mode="sync", sync_retries=1,
        retry_backoff=0.001, timeout=0.4,
    )  # fmt: skip
    event = dict(model_name=model_name, model_version="1", features={}, output=1)
    patient_sent, hurried_sent = requests_sent(patient), requests_sent(hurried)
    with overloaded(shedding, f"{model_name}-filler"):
        started = time.monotonic()
        with pytest.raises(errors.ServiceUnavailable) as caught:
            patient.record_prediction_event(**event)  # type: ignore[arg-type]
        # Refused, retried after the Retry-After (capped at max_backoff), refused again.
        assert time.monotonic() - started >= MAX_BACKOFF - SLACK
        assert (caught.value.code, caught.value.retry_after) == ("overloaded", 1.0)
        assert len(patient_sent) == 2, patient_sent

        started = time.monotonic()
        with pytest.raises(errors.ServiceUnavailable) as caught:
            hurried.record_prediction_event(**event)  # type: ignore[arg-type]
        # No retry that the server said would be refused: the error comes at once.
        assert time.monotonic() - started < 0.8
        assert caught.value.retry_after == 1.0
        assert len(hurried_sent) == 1, hurried_sent
    assert stored_ids(shedding_admin, model_name) == []


class BatchLog:
    """What the worker's connections do: each batch request sent (the prediction_ids in it) and
    each answer read (status, code, Retry-After), with the time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lock = threading.Lock()
        self.entries: Dict[int, List[Tuple[str, float, Any]]] = defaultdict(list)
        self.refused = threading.Event()
        self._batch_sent: Dict[int, bool] = {}
        send, receive = Connection.send, Connection.receive

        def logged_send(conn: Connection, method: str, path: str, body: Optional[bytes] = None) -> None:
            is_batch = path.startswith(BATCH_PATH)
            self._batch_sent[id(conn)] = is_batch
            if is_batch:
                assert body is not None
                ids = [event["prediction_id"] for event in json.loads(body)["events"]]
                self._add(conn, "send", ids)
            send(conn, method, path, body)

        def logged_receive(conn: Connection) -> Any:
            answer = receive(conn)
            if self._batch_sent.get(id(conn)):
                status, data, headers = answer
                code = (json.loads(data).get("error") or {}).get("code") if status >= 400 else None
                self._add(conn, "answer", (status, code, retry_after_seconds(headers)))
                if status == 503:
                    self.refused.set()
            return answer

        monkeypatch.setattr(Connection, "send", logged_send)
        monkeypatch.setattr(Connection, "receive", logged_receive)

    def _add(self, conn: Connection, kind: str, detail: Any) -> None:
        with self.lock:
            self.entries[id(conn)].append((kind, time.monotonic(), detail))

    def waits_after_refusals(self) -> List[float]:
        """For each batch answered 503: the time until it was sent again (checked to be the
        same events, on the same connection, as the worker does)."""
        waits = []
        for entries in self.entries.values():
            sent: Optional[List[str]] = None
            for position, (kind, when, detail) in enumerate(entries):
                if kind == "send":
                    sent = detail
                    continue
                status, code, retry_after = detail
                if status != 503:
                    continue
                assert (code, retry_after) == ("overloaded", 1.0), detail
                again = next((e for e in entries[position + 1 :] if e[0] == "send"), None)
                assert again is not None, "a refused batch was not sent again"
                assert again[2] == sent, "a refused batch was sent again with other events"
                waits.append(again[1] - when)
        return waits


def test_background_delivery_through_overload(
    shedding: MLAuditServer,
    make_client: Callable[..., Client],
    shedding_admin: Client,
    model_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = BatchLog(monkeypatch)
    client = make_client(
        url=shedding.url, api_key=shedding.admin_key, mode="background",
        retry_backoff=0.01, max_backoff=MAX_BACKOFF,
    )  # fmt: skip
    threads_count, per_thread = 4, 750
    expected: List[str] = []
    lock = threading.Lock()

    def calls(thread_index: int) -> None:
        ids = [
            client.record_prediction_event(
                model_name=model_name,
                model_version="1",
                features={"thread": thread_index, "index": index},
                output={"score": 0.5},
            ).prediction_id
            for index in range(per_thread)
        ]
        with lock:
            expected.extend(ids)

    with overloaded(shedding, f"{model_name}-filler"):
        threads = [threading.Thread(target=calls, args=(n,)) for n in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert client.stats()["dropped"] == 0
        assert log.refused.wait(10), "the worker's first batch was not refused"
        # Flushes while the worker waits to retry may cut its own backoff short, never the
        # server's Retry-After.
        for _ in range(6):
            assert not client.flush(0)
            time.sleep(0.05)
    assert client.flush(60), client.stats()

    stats = client.stats()
    assert stats["sent"] == stats["created"] == threads_count * per_thread, stats
    assert (stats["rejected"], stats["dropped"], stats["queued"]) == (0, 0, 0), stats
    assert stats["retries"] >= 1
    stored = stored_ids(shedding_admin, model_name)
    assert len(stored) == len(expected) == threads_count * per_thread, "each event once"
    assert set(stored) == set(expected)

    waits = log.waits_after_refusals()
    assert waits, "no refusal was seen"
    # Retry-After 1 s, capped at max_backoff: the worker's own backoff starts at 0.01 s.
    assert min(waits) >= MAX_BACKOFF - SLACK, sorted(waits)[:5]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("HTTP 503 overloaded, Retry-After 1 s" in message for message in warnings), warnings


def test_backoff_honours_retry_after_through_flushes() -> None:
    # Unit level, no server: the wait itself. A flush wakes a waiting worker (so that it retries
    # at once after an outage), but not before the server's Retry-After; close() ends it.
    worker = Worker(resolve({"url": "http://127.0.0.1:9", "api_key": "mla_x", "retry_backoff": 0.001}))

    def waited(retry_after: Optional[float], attempt: int = 0, flush_after: float = 0.05) -> float:
        flush = threading.Timer(flush_after, worker._retry_now.set)  # what flush() does
        flush.start()
        started = time.monotonic()
        worker._backoff(attempt, "HTTP 503 overloaded", retry_after)
        flush.join()
        return time.monotonic() - started

    assert waited(0.3) >= 0.3 - SLACK
    # Without Retry-After the flush cuts the worker's own backoff (here a second or more) short.
    assert waited(None, attempt=11) < 0.5
    # Retry-After is capped at max_backoff.
    capped = Worker(resolve({"url": "http://127.0.0.1:9", "api_key": "mla_x", "max_backoff": 0.2}))
    started = time.monotonic()
    capped._backoff(0, "HTTP 503 overloaded", 60.0)
    assert 0.2 - SLACK <= time.monotonic() - started < 2
    # close() ends the wait.
    threading.Timer(0.05, lambda: (setattr(worker, "_stopping", True), worker._retry_now.set())).start()
    started = time.monotonic()
    with pytest.raises(_Stop):
        worker._backoff(0, "HTTP 503 overloaded", 5.0)
    assert time.monotonic() - started < 1


def test_service_unavailable_carries_retry_after() -> None:
    body = {"error": {"code": "storage_full", "message": "disk full", "field": None}}
    error = errors.api_error(503, body, {"Retry-After": "5"})
    assert type(error) is errors.ServiceUnavailable and isinstance(error, errors.APIError)
    assert (error.status, error.code, error.retry_after) == (503, "storage_full", 5.0)
    assert str(error) == "ml-audit server answered 503 storage_full: disk full (retry after 5 s)"
    # The HTTP-date form (never sent by the server) and junk give None, as no header does.
    for value in ("Wed, 21 Oct 2015 07:28:00 GMT", "soon", "nan", ""):
        assert errors.api_error(503, body, {"Retry-After": value}).retry_after is None
    assert errors.api_error(503, body).retry_after is None
    assert errors.api_error(409, {"error": {"code": "conflict"}}).retry_after is None

