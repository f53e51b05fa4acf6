"""Background delivery: a bounded in-memory queue and one worker thread that sends batches.

The calling thread only appends the event (a dict of plain JSON values, copied from the
caller's at the call) to a deque, and about once per batch sets an Event; encoding, and
everything that can block or fail, happens on the worker thread. Events carry their
client-generated ``prediction_id``, so a batch can be sent again after any failure: the server
answers an identical retry with 200 and stores nothing twice.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple
from urllib.parse import quote

from ._config import Settings
from ._encoding import dumps
from ._transport import RETRYABLE_ERRORS, Answer, Connection, decode, retry_delay
from .errors import APIError, api_error

logger = logging.getLogger("ml_audit")

BATCH_PATH = "/api/v1/predictions/batch"
OUTCOMES_BATCH_PATH = "/api/v1/outcomes/batch"
# Only the events that failed are listed in the answer, with counts of the others: 1,000 results
# cost the server and this thread more than the whole batch's bookkeeping. A server that does not
# know the parameter lists every event, which is read as well.
_BATCH_TARGET = BATCH_PATH + "?results=failures"

# A queued event: the dict the client built, encoded only when its batch is taken.
Event = Dict[str, Any]

# A warning about dropped events is logged at most this often (seconds).
_DROP_WARNING_EVERY = 10.0
# Rejected events logged one by one per batch; the rest are summed up in one line.
_LOGGED_REJECTIONS = 5
# Batch requests the worker keeps in flight, each on a connection of its own: the next batches
# are encoded and sent while the server stores the one before (the server's parse, redaction
# and write are then never waiting on this thread, nor this thread on them). Three, since this
# thread encodes: with two, the server sometimes waited for the encoding of the next batch
# (A/B on 2 cores: 17,663-19,865 events/s with two, 19,197-22,292 with three; four no better).
_PIPELINE = 3


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Item:
    """A queued request of its own (not an event): sent alone, after everything queued before
    it, to ``/api/v1/predictions/{ref}/<suffix>``; retried like events."""

    __slots__ = ("ref", "body")
    # What it is (for the log), the stats counter of the delivered ones, the path after the ref.
    what = ""
    counter = ""
    suffix = ""

    def __init__(self, ref: str, body: Dict[str, Any]) -> None:
        self.ref = ref
        self.body = body


class _ExplanationItem(_Item):
    __slots__ = ()
    what = "an explanation"
    counter = "explanations"
    suffix = "explanation"


class _OutcomeItem(_Item):
    """An outcome. ``body`` carries its client-generated (or given) ``outcome_id``, so sending
    it again after any failure is safe: the server answers an identical replay with 200."""

    __slots__ = ("batch",)
    what = "an outcome"
    counter = "outcomes"
    suffix = "outcomes"

    def __init__(self, ref: str, body: Dict[str, Any], batch: bool = False) -> None:
        super().__init__(ref, body)
        # From record_outcomes: ``body`` holds the external ``prediction_id`` too, and
        # consecutive ones travel together to POST /api/v1/outcomes/batch.
        self.batch = batch


class _ReviewItem(_Item):
    """A review, with its client-generated (or given) ``review_id`` (a replay is safe)."""

    __slots__ = ()
    what = "a review"
    counter = "reviews"
    suffix = "reviews"


class _Stop(Exception):
    pass


_workers: "weakref.WeakSet[Worker]" = weakref.WeakSet()


class Worker:
    """Queue + delivery thread of one client. Thread-safe; fork-safe (restarts in the child)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._batch_size = settings.batch_size
        self._max_queue = settings.queue_size
        self._init_state()
        _workers.add(self)

    # -- state, also rebuilt in a forked child ----------------------------------------------

    def _init_state(self) -> None:
        self._queue: Deque[Any] = deque()
        self._wake = threading.Event()
        self._retry_now = threading.Event()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()
        self._stopping = False
        self._retired = False
        self._flushes = 0
        self._hold = threading.Event()
        self._hold.set()
        self._conns: List[Connection] = []
        self._inflight = 0
        self._last_drop_warning = 0.0
        self._failing_since: Optional[float] = None
        self._stats: Dict[str, Any] = self.empty_stats()
        del self._stats["queued"]

    def _after_fork_in_child(self) -> None:
        # The parent's queued events stay the parent's to deliver; the child starts empty, with
        # fresh locks (one may have been held at fork time) and no thread (threads do not
        # survive fork). Its worker starts on the child's first event.
        self._init_state()

    @staticmethod
    def empty_stats() -> Dict[str, Any]:
        return {
            "queued": 0,  # events waiting or being sent
            "sent": 0,  # events the server stored: answered 201 or 200 (identical retry)
            "created": 0,  # of which 201
            "replayed": 0,  # of which 200
            "rejected": 0,  # answered 4xx for good (409, 422, 403, ...): logged, not retried
            "dropped": 0,  # not delivered: the queue was full, or the event could not be encoded
            "retries": 0,  # requests sent again after a failure
            "batches": 0,  # batch requests answered
            "explanations": 0,  # explanations attached
            "outcomes": 0,  # outcomes stored (201) or already stored (200, an identical replay)
            "reviews": 0,  # reviews stored (201) or already stored (200)
            "last_error": None,
        }

    # -- calling side: must stay cheap and never raise ---------------------------------------

    def put(self, item: Any) -> bool:
        """Queues an event (or an explanation, outcome or review); drops and counts it when
        ``queue_size`` items wait already (events, explanations, outcomes, reviews and flush
        markers alike). The check takes no lock, to
        keep the call cheap: threads calling at the very moment the queue fills may each add one
        more (bounded by the number of threads)."""
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._drop(1, "the queue is full")
            return False
        if self._thread is None or self._retired or self._stopping:
            if not self._start():
                self._drop(1, "the delivery thread could not start")
                return False
        queue.append(item)
        size = len(queue)
        if size == 1 or size == self._batch_size:
            self._wake.set()
        return True

    def _drop(self, count: int, why: str) -> None:
        with self._lock:
            self._stats["dropped"] += count
            dropped = self._stats["dropped"]
            now = time.monotonic()
            warn = now - self._last_drop_warning >= _DROP_WARNING_EVERY
            if warn:
                self._last_drop_warning = now
        if warn:
            logger.warning(
                "ml_audit: dropped an audit event because %s (%d dropped so far; queue size %d)",
                why,
                dropped,
                self._max_queue,
            )

    def _start(self) -> bool:
        # Also revives a retired or closed worker that is used again: its thread may have ended
        # (it ends under this lock, so the check below cannot miss it).
        with self._lock:
            self._retired = False
            self._stopping = False
            if self._thread is not None:
                return True
            thread = threading.Thread(target=self._run, name="ml-audit-worker", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down
                return False
            self._thread = thread
            return True

    # -- control ------------------------------------------------------------------------------

    def pending(self) -> int:
        """Events (and explanations, outcomes, reviews) queued or being sent."""
        return max(0, len(self._queue) - self._flushes) + self._inflight

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            stats = dict(self._stats)
        stats["queued"] = self.pending()
        return stats

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every event queued before this call is delivered or rejected for good.
        Returns False when ``timeout`` (seconds) passed first. Never raises."""
        try:
            thread = self._thread
            if thread is None or not thread.is_alive():
                return self.pending() == 0
            queue = self._queue
            try:
                marker = queue[-1]
            except IndexError:
                marker = None
            # A flush that timed out left its marker queued: while nothing came after it, it
            # serves this flush as well (repeated flushes during an outage must not grow the
            # queue, nor crowd events out of it).
            if type(marker) is not _Flush:
                marker = _Flush()
                with self._lock:
                    self._flushes += 1
                queue.append(marker)
            self._wake.set()
            self._retry_now.set()
            return marker.done.wait(timeout)
        except Exception:  # pragma: no cover - never raise into the host
            logger.exception("ml_audit: flush failed")
            return False

    def retire(self) -> None:
        """Deliver what is queued, then let the thread end (used when settings change)."""
        self._retired = True
        self._wake.set()

    def close(self, timeout: Optional[float] = None) -> bool:
        """Flush (up to ``timeout``), then stop the thread; what is left stays queued (a later
        event starts the thread again)."""
        delivered = self.flush(timeout)
        thread = self._thread
        self._stopping = True
        self._wake.set()
        self._retry_now.set()
        self._hold.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return delivered

    # -- the worker thread -------------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        try:
            while True:
                try:
                    if self._stopping or (self._retired and not queue):
                        with self._lock:
                            if self._stopping or (self._retired and not queue):
                                self._thread = None
                                break
                        continue
                    if not queue:
                        self._wake.wait(1.0)
                        self._wake.clear()
                        continue
                    linger = self.settings.flush_interval
                    if len(queue) < self._batch_size and not self._flushes and linger > 0:
                        self._wake.wait(linger)
                        self._wake.clear()
                    self._hold.wait()
                    self._drain(queue)
                except _Stop:
                    break
                except Exception:  # pragma: no cover - a bug must not kill delivery
                    logger.exception("ml_audit: unexpected error in the delivery thread")
                    time.sleep(0.5)
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
            for conn in self._conns:
                conn.close()
            self._conns = []

    def _drain(self, queue: Deque[Any]) -> None:
        inflight: Deque[Tuple[Connection, List[Event], bool]] = deque()
        answering: List[Event] = []
        try:
            while queue or inflight:
                if queue and type(queue[0]) is dict and len(inflight) < _PIPELINE:
                    batch, body = self._take_batch(queue)
                    if not batch:
                        continue  # none of them could be encoded (dropped, counted)
                    # Pending from the moment it leaves the queue: sending can take a while
                    # (a connect, a full socket buffer), and stats must not lose it meanwhile.
                    self._inflight += len(batch)
                    busy = [conn for conn, _, _ in inflight]
                    conn = next(conn for conn in self._connections() if conn not in busy)
                    inflight.append((conn, batch, self._start_batch(conn, body)))
                    continue
                if inflight:
                    conn, answering, sent = inflight.popleft()
                    self._finish_batch(conn, answering, sent)
                    self._inflight -= len(answering)
                    answering = []
                    continue
                # A flush marker, an explanation, an outcome or a review: after everything
                # queued before it.
                head = queue[0]
                if type(head) is _OutcomeItem and head.batch:
                    self._send_outcomes(queue)
                    continue
                item = queue.popleft()
                if type(item) is _Flush:
                    with self._lock:
                        self._flushes -= 1
                    item.done.set()
                elif isinstance(item, _Item):
                    self._inflight += 1
                    try:
                        self._send_item(item)
                    except _Stop:
                        queue.appendleft(item)
                        raise
                    finally:
                        self._inflight -= 1
        except _Stop:
            # Stopped: what was in flight is queued again, in order, still counted as pending
            # (sending it again later is safe).
            for _, batch, _ in reversed(inflight):
                queue.extendleft(reversed(batch))
            queue.extendleft(reversed(answering))
            self._inflight = 0
            raise

    def _take_batch(self, queue: Deque[Any]) -> Tuple[List[Event], bytes]:
        """The events at the head of the queue, up to the batch size and byte limit, and the
        request body that carries them. An event that cannot be encoded is dropped (counted,
        logged) here; an event past the byte limit stays queued for the next batch."""
        batch: List[Event] = []
        parts: List[bytes] = []
        size = 0
        max_bytes = self.settings.batch_bytes
        while queue and len(batch) < self._batch_size:
            item = queue[0]
            if type(item) is not dict:
                break
            try:
                encoded = dumps(item)
            except Exception:
                queue.popleft()
                logger.exception("ml_audit: could not encode an audit event")
                self._drop(1, "it could not be encoded")
                continue
            if batch and size + len(encoded) > max_bytes:
                break
            batch.append(queue.popleft())
            parts.append(encoded)
            size += len(encoded) + 1
        return batch, self._body(parts)

    def _connections(self) -> List[Connection]:
        if not self._conns:
            s = self.settings
            self._conns = [Connection(s.url, s.api_key, s.timeout) for _ in range(_PIPELINE)]
        return self._conns

    def _connection(self) -> Connection:
        return self._connections()[0]

    def _count(self, **increments: int) -> None:
        with self._lock:
            for key, value in increments.items():
                self._stats[key] += value

    @staticmethod
    def _body(encoded_events: List[bytes]) -> bytes:
        return b'{"events":[' + b",".join(encoded_events) + b"]}"

    def _batch_body(self, events: List[Event]) -> bytes:
        # Events that were encoded once encode again (retries, halves of a refused batch).
        return self._body([dumps(event) for event in events])

    def _start_batch(self, conn: Connection, body: bytes) -> bool:
        """Sends a batch without waiting for the answer; False if it could not be sent."""
        try:
            conn.send("POST", _BATCH_TARGET, body)
            return True
        except RETRYABLE_ERRORS:
            return False

    def _finish_batch(self, conn: Connection, events: List[Event], sent: bool) -> None:
        """Reads the answer to a batch ``_start_batch`` sent, and sees the batch delivered."""
        answer = None
        if sent:
            try:
                answer = conn.receive()
            except RETRYABLE_ERRORS:
                answer = None  # sent again below, with the retry rules of any request
        self._send_batch(events, conn, answer)

    def _send_batch(
        self, events: List[Event], conn: Optional[Connection] = None, answer: Optional[Answer] = None
    ) -> None:
        """Delivers ``events`` (retrying as long as it takes) or rejects them for good.
        ``answer`` is the server's answer to a first attempt already sent, if any."""
        conn = conn or self._connection()
        attempt = 0
        while events:
            if answer is None:
                try:
                    answer = conn.request("POST", _BATCH_TARGET, self._batch_body(events))
                except RETRYABLE_ERRORS as exc:
                    attempt = self._backoff(attempt, f"{type(exc).__name__}: {exc}")
                    continue
            status, data, headers = answer
            answer = None
            if status == 200:
                parsed = decode(data)
                results = parsed.get("results") if isinstance(parsed, dict) else None
                if not isinstance(results, list):
                    attempt = self._backoff(attempt, "batch answer without results")
                    continue
                self._recovered()
                events = self._read_results(events, results, parsed.get("created"), parsed.get("replayed"))
                if events:
                    attempt = self._backoff(attempt, "some events failed on the server; retrying them")
                continue
            if status == 429 or status >= 500:
                error = api_error(status, decode(data), headers)
                attempt = self._backoff(attempt, _failure(error), error.retry_after)
                continue
            if status in (400, 413, 422) and len(events) > 1:
                # The request as a whole was refused (too big, or one event broke it): halve it
                # until the culprit is alone, so the others still get through.
                self._recovered()
                middle = len(events) // 2
                self._send_batch(events[:middle], conn)
                self._send_batch(events[middle:], conn)
                return
            self._recovered()
            self._reject(events, status, decode(data))
            return

    def _read_results(
        self, events: List[Event], results: List[Any], created_count: Any, replayed_count: Any
    ) -> List[Event]:
        """Counts a batch's answer and returns the events to send again. With counts
        (``?results=failures``) ``results`` lists only the events that were not stored."""
        again: List[Event] = []
        created = replayed = rejected = 0
        failures_only = type(created_count) is int and type(replayed_count) is int
        if failures_only:
            created, replayed = created_count, replayed_count
        seen = set()
        for result in results:
            if not isinstance(result, dict):
                continue
            index = result.get("index")
            status = result.get("status")
            if not isinstance(index, int) or not 0 <= index < len(events):
                continue
            seen.add(index)
            if status == 201:
                created += 1
            elif status == 200:
                replayed += 1
            elif status == 429 or (isinstance(status, int) and status >= 500):
                again.append(events[index])
            else:
                rejected += 1
                if rejected <= _LOGGED_REJECTIONS:
                    self._log_rejection(events[index], status, result.get("error"))
                else:
                    self._note_error(f"HTTP {status}: {result.get('error')}")
        if rejected > _LOGGED_REJECTIONS:
            logger.warning(
                "ml_audit: the server rejected %d more audit event(s) of this batch",
                rejected - _LOGGED_REJECTIONS,
            )
        if len(seen) < len(events) and not failures_only:
            # An event the server did not answer for: send it again (retries are safe).
            again.extend(event for index, event in enumerate(events) if index not in seen)
        with self._lock:
            self._stats["batches"] += 1
            self._stats["created"] += created
            self._stats["replayed"] += replayed
            self._stats["sent"] += created + replayed
            self._stats["rejected"] += rejected
        return again

    def _reject(self, events: List[Event], status: int, body: Any) -> None:
        error = body.get("error") if isinstance(body, dict) else body
        self._count(rejected=len(events))
        if status in (401, 403):
            logger.error(
                "ml_audit: the server refused the API key (HTTP %s: %s); %d audit event(s) lost. "
                "Check ML_AUDIT API_KEY (an ingest key is needed).",
                status,
                error,
                len(events),
            )
        elif status == 404:
            logger.error(
                "ml_audit: %s%s answered 404; is ML_AUDIT URL right? %d audit event(s) lost.",
                self.settings.url,
                BATCH_PATH,
                len(events),
            )
        else:
            for event in events[:_LOGGED_REJECTIONS]:
                self._log_rejection(event, status, error)
            if len(events) > _LOGGED_REJECTIONS:
                logger.warning(
                    "ml_audit: the server rejected %d more audit event(s) (HTTP %s)",
                    len(events) - _LOGGED_REJECTIONS,
                    status,
                )

    def _note_error(self, text: str) -> None:
        with self._lock:
            self._stats["last_error"] = text

    def _log_rejection(self, event: Event, status: Any, error: Any) -> None:
        prediction_id = event.get("prediction_id")
        self._note_error(f"HTTP {status}: {error}")
        logger.warning(
            "ml_audit: the server rejected audit event %s (HTTP %s): %s", prediction_id, status, error
        )

    def _send_item(self, item: _Item) -> None:
        """Sends an explanation, outcome or review alone, retrying as long as it takes."""
        path = f"/api/v1/predictions/{quote(item.ref, safe='')}/{item.suffix}"
        try:
            body = dumps(item.body)
        except Exception:
            logger.exception("ml_audit: could not encode %s", item.what)
            self._drop(1, "it could not be encoded")
            return
        attempt = 0
        while True:
            try:
                status, data, headers = self._connection().request("POST", path, body)
            except RETRYABLE_ERRORS as exc:
                attempt = self._backoff(attempt, f"{type(exc).__name__}: {exc}")
                continue
            if status == 429 or status >= 500:
                error = api_error(status, decode(data), headers)
                attempt = self._backoff(attempt, _failure(error), error.retry_after)
                continue
            self._recovered()
            if status in (200, 201):
                self._count(**{item.counter: 1})
            else:
                answer = decode(data)
                error_body = answer.get("error") if isinstance(answer, dict) else answer
                self._count(rejected=1)
                self._note_error(f"HTTP {status}: {error_body}")
                logger.warning(
                    "ml_audit: the server rejected %s for prediction %s (HTTP %s): %s",
                    item.what,
                    item.ref,
                    status,
                    error_body,
                )
            return

    def _send_outcomes(self, queue: Deque[Any]) -> None:
        """Takes the batchable outcomes at the head of the queue (up to the batch size and byte
        limit) and delivers them in one ``POST /api/v1/outcomes/batch``. Stopped: they go back
        to the head of the queue (sending them again is safe)."""
        items: List[_OutcomeItem] = []
        parts: List[bytes] = []
        size = 0
        max_bytes = self.settings.batch_bytes
        while queue and len(items) < self._batch_size:
            item = queue[0]
            if type(item) is not _OutcomeItem or not item.batch:
                break
            try:
                encoded = dumps(item.body)
            except Exception:
                queue.popleft()
                logger.exception("ml_audit: could not encode an outcome")
                self._drop(1, "it could not be encoded")
                continue
            if items and size + len(encoded) > max_bytes:
                break
            items.append(queue.popleft())
            parts.append(encoded)
            size += len(encoded) + 1
        if not items:
            return
        self._inflight += len(items)
        try:
            self._send_outcome_batch(items, parts)
        except _Stop:
            queue.extendleft(reversed(items))
            raise
        finally:
            self._inflight -= len(items)

    def _send_outcome_batch(self, items: List[_OutcomeItem], parts: List[bytes]) -> None:
        """Delivers a batch of outcomes, retrying the request (and the outcomes answered with a
        5xx or 429 of their own) as long as it takes; the others are counted and never sent
        again. A batch refused as a whole (400, 413, 422) is halved until the culprit is
        alone."""
        attempt = 0
        while items:
            body = b'{"outcomes":[' + b",".join(parts) + b"]}"
            try:
                status, data, headers = self._connection().request("POST", OUTCOMES_BATCH_PATH, body)
            except RETRYABLE_ERRORS as exc:
                attempt = self._backoff(attempt, f"{type(exc).__name__}: {exc}")
                continue
            if status == 429 or status >= 500:
                error = api_error(status, decode(data), headers)
                attempt = self._backoff(attempt, _failure(error), error.retry_after)
                continue
            answer = decode(data)
            if status == 200:
                results = answer.get("results") if isinstance(answer, dict) else None
                if not isinstance(results, list):
                    attempt = self._backoff(attempt, "outcome batch answer without results")
                    continue
                self._recovered()
                again = self._read_outcome_results(items, results)
                if again:
                    items = [items[index] for index in again]
                    parts = [parts[index] for index in again]
                    attempt = self._backoff(attempt, "some outcomes failed on the server; retrying them")
                    continue
                return
            self._recovered()
            if status in (400, 413, 422) and len(items) > 1:
                middle = len(items) // 2
                self._send_outcome_batch(items[:middle], parts[:middle])
                self._send_outcome_batch(items[middle:], parts[middle:])
                return
            error_body = answer.get("error") if isinstance(answer, dict) else answer
            self._count(rejected=len(items))
            self._note_error(f"HTTP {status}: {error_body}")
            logger.warning(
                "ml_audit: the server rejected %d outcome(s) (POST %s%s answered HTTP %s: %s)",
                len(items),
                self.settings.url,
                OUTCOMES_BATCH_PATH,
                status,
                error_body,
            )
            return

    def _read_outcome_results(self, items: List[_OutcomeItem], results: List[Any]) -> List[int]:
        """Counts a batch of outcomes' answer; returns the indexes to send again (those
        answered 5xx or 429, and those not answered at all)."""
        again: List[int] = []
        seen = set()
        stored = rejected = 0
        for result in results:
            if not isinstance(result, dict):
                continue
            index = result.get("index")
            status = result.get("status")
            if not isinstance(index, int) or not 0 <= index < len(items) or index in seen:
                continue
            seen.add(index)
            if status in (200, 201):
                stored += 1
            elif status == 429 or (isinstance(status, int) and status >= 500):
                again.append(index)
            else:
                rejected += 1
                error = result.get("error")
                self._note_error(f"HTTP {status}: {error}")
                if rejected <= _LOGGED_REJECTIONS:
                    logger.warning(
                        "ml_audit: the server rejected an outcome for prediction %s (HTTP %s): %s",
                        items[index].ref,
                        status,
                        error,
                    )
        if rejected > _LOGGED_REJECTIONS:
            logger.warning(
                "ml_audit: the server rejected %d more outcome(s) of this batch",
                rejected - _LOGGED_REJECTIONS,
            )
        again.extend(index for index in range(len(items)) if index not in seen)
        self._count(outcomes=stored, rejected=rejected)
        return sorted(again)

    def _backoff(self, attempt: int, reason: str, retry_after: Optional[float] = None) -> int:
        """Sleep before the next attempt (exponential, with jitter, and never less than the
        server's ``retry_after``, capped at ``max_backoff``); returns the next attempt number.
        A ``flush()`` cuts the sleep short, down to the server's ``Retry-After``; ``close()``
        ends the retries."""
        if self._stopping:
            raise _Stop()
        with self._lock:
            self._stats["retries"] += 1
            self._stats["last_error"] = reason
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            logger.warning("ml_audit: cannot deliver audit events yet (%s); retrying", reason)
        s = self.settings
        own = min(s.max_backoff, s.retry_backoff * (2 ** min(attempt, 30)))
        own = own / 2 + random.uniform(0, own / 2)
        started = time.monotonic()
        deadline = started + retry_delay(own, retry_after, s.max_backoff)
        while True:
            self._retry_now.clear()
            if self._stopping:  # close() sets _stopping, then wakes this wait
                raise _Stop()
            left = deadline - time.monotonic()
            if left <= 0:
                return attempt + 1
            if self._retry_now.wait(left):
                # A flush ends the backoff early, but the server said when it can take more:
                # a retry sooner would only be refused again (503 overloaded), adding to the
                # load it sheds.
                deadline = started + retry_delay(0.0, retry_after, s.max_backoff)

    def _recovered(self) -> None:
        if self._failing_since is not None:
            logger.warning(
                "ml_audit: delivering audit events again after %.1f s of failures",
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None


def _failure(error: APIError) -> str:
    """A failed answer for the log and ``last_error``: ``HTTP 503 overloaded, Retry-After 1 s``."""
    text = f"HTTP {error.status} {error.code}" if error.code else f"HTTP {error.status}"
    if error.retry_after is not None:
        text += f", Retry-After {error.retry_after:g} s"
    return text


def _after_fork_in_child() -> None:
    for worker in list(_workers):
        worker._after_fork_in_child()


def _at_exit() -> None:
    deadline: Optional[float] = None
    for worker in list(_workers):
        if worker._pid != os.getpid() or not worker.pending():
            continue
        if deadline is None:
            deadline = time.monotonic() + worker.settings.shutdown_timeout
        remaining = max(0.0, deadline - time.monotonic())
        if not worker.flush(remaining):
            logger.warning(
                "ml_audit: %d audit event(s) not delivered at exit (last error: %s)",
                worker.pending(),
                worker._stats.get("last_error"),
            )
        worker._stopping = True
        worker._retry_now.set()
        worker._wake.set()


atexit.register(_at_exit)

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
