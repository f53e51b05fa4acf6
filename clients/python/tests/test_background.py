"""``background`` mode against the real server: the call returns at once, a worker thread
delivers in batches, retries safely through outages, and never raises into the host."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from typing import Callable, List

import pytest

from ml_audit import Client
from ml_audit._config import resolve
from ml_audit._worker import _PIPELINE, Worker
from ml_audit.services import ActorPayload
from ml_audit.testing import MLAuditServer

from .conftest import closed_port, stored_ids

# A call in background mode must never wait for the network (the tests' HTTP timeouts are 1 s
# and more); this bound is generous for a busy CI machine. The benchmark measures the real cost,
# in microseconds.
MAX_CALL_SECONDS = 0.25


def record(client: Client, model_name: str, index: int, **extra: object) -> str:
    started = time.perf_counter()
    prediction = client.record_prediction_event(
        model_name=model_name,
        model_version="1",
        features={"index": index, "email": "user@example.com"},
        output={"score": 0.5},
        confidence=0.5,
        **extra,  # type: ignore[arg-type]
    )
    elapsed = time.perf_counter() - started
    assert elapsed < MAX_CALL_SECONDS, f"a background call took {elapsed * 1000:.1f} ms"
    assert prediction.pending and prediction.id is None
    return prediction.prediction_id


@pytest.fixture
def prepared(ml_audit_server_factory: Callable[..., MLAuditServer]) -> MLAuditServer:
    """A server whose database and admin key exist, currently stopped (so a client can be
    configured before the server is up)."""
    server = ml_audit_server_factory()
    server.stop()
    return server


def test_returns_at_once_and_delivers(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], admin: Client, model_name: str
) -> None:
    client = make_client(url=server.url, api_key=ingest_key, mode="background")
    actor = ActorPayload(actor_type="user", actor_id="7", tenant_id="acme", ip_address="10.1.2.3")
    prediction = client.record_prediction_event(
        model_name=model_name,
        model_version="2.0",
        features={"amount": 1500, "card_number": "4111 1111 1111 1111"},
        output={"is_fraud": True},
        decision_outcome="flagged",
        confidence=0.91,
        actor=actor,
        trace_id="trace-bg",
        latency_ms=3.5,
    )
    assert prediction.pending and prediction.id is None
    assert uuid.UUID(prediction.prediction_id).version == 7
    # The client's copy already has the client-side redaction applied.
    assert prediction.features == {"amount": 1500, "card_number": "*****"}
    assert prediction.model.model_name == model_name and prediction.actor.tenant_id == "acme"
    client.attach_explanation(prediction=prediction, method="shap", payload={"amount": 0.7}, summary_text="amount")
    assert client.flush(30)
    stats = client.stats()
    assert (stats["sent"], stats["created"], stats["explanations"], stats["queued"]) == (1, 1, 1, 0)
    assert stats["rejected"] == stats["dropped"] == 0

    stored = admin.get_prediction(prediction.prediction_id)
    assert stored.features == {"amount": 1500, "card_number": "*****"}
    assert (stored.decision_outcome, stored.confidence, stored.trace_id, stored.latency_ms) == (
        "flagged",
        0.91,
        "trace-bg",
        3.5,
    )
    assert stored.actor.actor_id == "7" and stored.actor.ip_address == "10.1.2.3"
    # The timestamp is the time of the call, set by the client.
    assert stored.timestamp == prediction.timestamp
    assert stored.explanation.method == "shap" and stored.explanation.summary_text == "amount"


def test_many_events_are_batched(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], admin: Client, model_name: str
) -> None:
    client = make_client(url=server.url, api_key=ingest_key, mode="background", batch_size=100)
    expected = {record(client, model_name, index) for index in range(350)}
    assert client.flush(60)
    stats = client.stats()
    assert stats["sent"] == 350 and stats["batches"] >= 4
    ids = stored_ids(admin, model_name)
    assert len(ids) == 350 and set(ids) == expected


def test_rejected_events_are_counted_not_retried(
    server: MLAuditServer,
    ingest_key: str,
    make_client: Callable[..., Client],
    admin: Client,
    model_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(url=server.url, api_key=ingest_key, mode="background")
    good = record(client, model_name, 1)
    record(client, model_name, 2, status="bogus")  # 422
    fixed = f"fixed-{model_name}"
    record(client, model_name, 3, prediction_id=fixed)
    record(client, model_name, 4, prediction_id=fixed)  # same id, other content: 409
    # Text that is not valid UTF-8 (a lone surrogate) must not make the batch unreadable.
    broken_text = record(client, model_name, 5, metadata={"bad": "\ud800"})
    assert client.flush(30)
    stats = client.stats()
    assert stats["sent"] == 3 and stats["rejected"] == 2, stats
    assert stats["retries"] == 0
    assert set(stored_ids(admin, model_name)) == {good, fixed, broken_text}
    assert admin.get_prediction(broken_text).metadata == {"bad": "?"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("HTTP 422" in message for message in warnings)
    assert any("HTTP 409" in message for message in warnings)


def test_a_batch_refused_whole_is_split(
    ml_audit_server_factory: Callable[..., MLAuditServer], make_client: Callable[..., Client], model_name: str
) -> None:
    # A server with a small body limit answers 413 for the whole batch: the worker halves it
    # until the parts fit, and an event too big on its own is rejected alone.
    server = ml_audit_server_factory(env={"ML_AUDIT_MAX_BODY_BYTES": "4096"})
    client = make_client(url=server.url, api_key=server.admin_key, mode="background")
    expected = {record(client, model_name, index) for index in range(40)}
    too_big = record(client, model_name, 99, metadata={"blob": "x" * 8000})
    assert client.flush(30)
    stats = client.stats()
    assert (stats["sent"], stats["rejected"]) == (40, 1), stats
    admin = make_client(url=server.url, api_key=server.admin_key)
    ids = stored_ids(admin, model_name)
    assert len(ids) == 40 and set(ids) == expected and too_big not in ids


def test_tenant_refusal_is_counted(
    server: MLAuditServer, make_client: Callable[..., Client], model_name: str
) -> None:
    client = make_client(url=server.url, api_key=server.create_key("ingest", tenant="acme"), mode="background")
    record(client, model_name, 1, actor=ActorPayload(actor_type="user", actor_id="1", tenant_id="acme"))
    record(client, model_name, 2, actor=ActorPayload(actor_type="user", actor_id="1", tenant_id="evil"))
    assert client.flush(30)
    stats = client.stats()
    assert (stats["sent"], stats["rejected"]) == (1, 1)


def test_server_down_at_start(
    prepared: MLAuditServer, make_client: Callable[..., Client], model_name: str
) -> None:
    client = make_client(url=prepared.url, api_key=prepared.admin_key, mode="background")
    expected = {record(client, model_name, index) for index in range(50)}
    started = time.monotonic()
    assert not client.flush(0.5)  # nothing can be delivered yet; flush gives up on time
    assert time.monotonic() - started < 2
    assert client.stats()["retries"] >= 1 and client.stats()["queued"] == 50

    prepared.start()
    assert client.flush(30)
    assert client.stats()["sent"] == 50
    admin = make_client(url=prepared.url, api_key=prepared.admin_key)
    ids = stored_ids(admin, model_name)
    assert len(ids) == 50 and set(ids) == expected


def test_server_goes_away_mid_stream_and_comes_back(
    ml_audit_server_factory: Callable[..., MLAuditServer], make_client: Callable[..., Client], model_name: str
) -> None:
    server = ml_audit_server_factory()
    client = make_client(url=server.url, api_key=server.admin_key, mode="background", max_backoff=1.0)
    expected: List[str] = []
    for index in range(240):
        if index == 80:
            server.stop(kill=True)  # a crash, possibly in the middle of a batch
        if index == 160:
            server.start()  # same port, same database
        expected.append(record(client, model_name, index))
        time.sleep(0.003)  # requests keep coming while the server is away
    assert client.flush(60), client.stats()
    stats = client.stats()
    assert stats["sent"] == 240 and stats["rejected"] == stats["dropped"] == 0, stats
    assert stats["retries"] >= 1
    admin = make_client(url=server.url, api_key=server.admin_key)
    ids = stored_ids(admin, model_name)
    assert len(ids) == 240, "every event once: no loss, no duplicates"
    assert set(ids) == set(expected)


def test_full_queue_drops_counts_and_warns(
    prepared: MLAuditServer,
    make_client: Callable[..., Client],
    model_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A long flush interval keeps the worker from taking events off the queue during the burst.
    client = make_client(
        url=prepared.url, api_key=prepared.admin_key, mode="background", queue_size=10, flush_interval=30
    )
    kept = [record(client, model_name, index) for index in range(50)][:10]
    stats = client.stats()
    assert (stats["dropped"], stats["queued"]) == (40, 10)
    full = [r for r in caplog.records if "queue is full" in r.getMessage()]
    assert len(full) == 1 and full[0].levelno == logging.WARNING  # at most every 10 s

    prepared.start()
    assert client.flush(30)
    assert client.stats()["sent"] == 10
    admin = make_client(url=prepared.url, api_key=prepared.admin_key)
    assert sorted(stored_ids(admin, model_name)) == sorted(kept)


def held_worker(**settings: object) -> Worker:
    """A worker whose delivery is held: nothing leaves its queue (no server needed)."""
    url = f"http://127.0.0.1:{closed_port()}"
    worker = Worker(resolve({"url": url, "api_key": "mla_x", "flush_interval": 0, **settings}))
    worker._hold.clear()
    return worker


def test_flushes_that_time_out_leave_one_marker() -> None:
    # The host calling flush(timeout) again and again during an outage: one marker stays queued
    # behind the events, not one per call, and it takes a place in the bounded queue.
    worker = held_worker(queue_size=5)
    try:
        assert all(worker.put({"prediction_id": f"p{index}"}) for index in range(3))
        for _ in range(100):
            assert not worker.flush(0)
        assert len(worker._queue) == 4 and worker.stats()["queued"] == 3
        assert worker.put({"prediction_id": "p3"})
        assert not worker.put({"prediction_id": "late"})
        assert worker.stats()["dropped"] == 1
    finally:
        worker.close(0)


def test_the_queue_bound_holds_with_many_threads() -> None:
    # Give or take one event per thread putting at the moment the queue fills.
    worker = held_worker(queue_size=50)
    threads_count, per_thread = 8, 200
    start = threading.Barrier(threads_count)

    def puts(thread_index: int) -> None:
        start.wait()
        for index in range(per_thread):
            worker.put({"prediction_id": f"t{thread_index}-{index}"})

    try:
        threads = [threading.Thread(target=puts, args=(n,)) for n in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        stats = worker.stats()
        assert 50 <= stats["queued"] <= 50 + threads_count, stats
        assert stats["queued"] + stats["dropped"] == threads_count * per_thread, stats
    finally:
        worker.close(0)


def test_slow_server_does_not_slow_the_caller(make_client: Callable[..., Client], model_name: str) -> None:
    # A server that accepts connections and never answers.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = make_client(
            url=url, api_key="mla_x", mode="background", timeout=1, queue_size=500, batch_size=100
        )
        started = time.monotonic()
        for index in range(1000):
            record(client, model_name, index)
        assert time.monotonic() - started < 2
        stats = client.stats()
        # Memory stays bounded: the queue, plus the batches the worker is trying to send.
        assert stats["queued"] <= 500 + _PIPELINE * 100, stats
        assert stats["queued"] + stats["dropped"] == 1000, stats
        assert stats["sent"] == 0
        assert not client.flush(0.2)
        client.close(0)


def test_bad_input_never_raises(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], admin: Client, model_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(url=server.url, api_key=ingest_key, mode="background")
    broken = client.record_prediction_event(
        model_name=model_name, model_version="1", features={}, output=1, actor=12345  # type: ignore[arg-type]
    )
    assert broken.pending
    # An out-of-range confidence would make the server refuse the whole event after the call
    # returned: the client leaves the field out (and says so) and the event is kept.
    kept = client.record_prediction_event(
        model_name=model_name, model_version="1", features={"x": object()}, output=1, confidence=87
    )
    assert client.flush(30)
    stats = client.stats()
    assert (stats["dropped"], stats["sent"]) == (1, 1), stats
    stored = admin.get_prediction(kept.prediction_id)
    assert stored.confidence is None and stored.features["x"].startswith("<object object")
    assert any("confidence=87" in r.getMessage() for r in caplog.records)


def test_the_event_keeps_the_values_of_the_call(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], admin: Client, model_name: str
) -> None:
    # The worker encodes events after the call returned: changes the caller makes meanwhile
    # (a dict reused for the next row, a list appended to) must not reach the audit record.
    client = make_client(url=server.url, api_key=ingest_key, mode="background")
    client.record_prediction_event(model_name=model_name, model_version="1", features={}, output=1)
    assert client.flush(30)
    worker = client._worker()
    worker._hold.clear()  # the worker waits until the caller has changed everything
    features = {"amount": 10, "history": [1, 2], "customer": {"country": "FR", "email": "a@b.c"}}
    output = {"scores": [0.1, 0.9], "label": "clean"}
    metadata = {"tags": ["a"]}
    prediction = client.record_prediction_event(
        model_name=model_name, model_version="1", features=features, output=output, metadata=metadata
    )
    payload = {"amount": [0.4, 0.1]}
    shown = client.attach_explanation(prediction=prediction, method="shap", payload=payload)
    prediction.features["customer"]["country"] = "ES"  # the returned views are copies too
    shown.payload["amount"].append(9)
    payload["amount"][0] = 0.0
    features["amount"] = 99
    features["history"].append(3)
    features["customer"]["country"] = "DE"
    output["scores"][0] = 0.5
    metadata["tags"].append("b")
    worker._hold.set()
    assert client.flush(30)
    stored = admin.get_prediction(prediction.prediction_id)
    assert stored.features == {"amount": 10, "history": [1, 2], "customer": {"country": "FR", "email": "*****"}}
    assert stored.output == {"scores": [0.1, 0.9], "label": "clean"}
    assert stored.metadata == {"tags": ["a"]}
    assert stored.explanation.payload == {"amount": [0.4, 0.1]}


def test_an_event_the_worker_cannot_encode_is_dropped_alone(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], admin: Client, model_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(url=server.url, api_key=ingest_key, mode="background")
    ids = [record(client, model_name, 1)]
    # JSON keys must be text (or numbers): a tuple key is found only when the event is encoded.
    broken = client.record_prediction_event(model_name=model_name, model_version="1", features={(1, 2): "x"}, output=1)
    assert broken.pending
    ids.append(record(client, model_name, 2))
    assert client.flush(30)
    stats = client.stats()
    assert (stats["dropped"], stats["sent"], stats["queued"]) == (1, 2, 0), stats
    assert sorted(stored_ids(admin, model_name)) == sorted(ids)
    assert any("could not encode an audit event" in r.getMessage() for r in caplog.records)


def test_forked_child_restarts_its_worker(
    server: MLAuditServer, ingest_key: str, make_client: Callable[..., Client], admin: Client, model_name: str
) -> None:
    client = make_client(url=server.url, api_key=ingest_key, mode="background")
    parent_first = record(client, model_name, 0)
    assert client.flush(30)  # the parent's worker thread is running now
    child_ids = [str(uuid.uuid4()) for _ in range(20)]

    pid = os.fork()
    if pid == 0:  # the child: its worker must start anew (threads do not survive fork)
        code = 1
        try:
            for index, prediction_id in enumerate(child_ids):
                client.record_prediction_event(
                    model_name=model_name,
                    model_version="1",
                    features={"index": index},
                    output={"child": True},
                    prediction_id=prediction_id,
                )
            if client.flush(30) and client.stats()["sent"] == 20:
                code = 0
        finally:
            os._exit(code)
    parent_after = record(client, model_name, 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert client.flush(30)
    assert set(stored_ids(admin, model_name)) == {parent_first, parent_after, *child_ids}


SCRIPT_PRELUDE = """
import os, sys
sys.path.insert(0, {src!r})
import ml_audit
from ml_audit import Client
client = Client(url={url!r}, api_key={key!r}, mode="background", redaction={{}}, shutdown_timeout={timeout})
def record(tag, index):
    client.record_prediction_event(model_name={model!r}, model_version="1",
        features={{"index": index}}, output={{"tag": tag}}, prediction_id=f"{{tag}}-{{index}}-{model}")
"""


def run_script(body: str, **values: object) -> subprocess.CompletedProcess:
    src = os.path.dirname(os.path.dirname(os.path.abspath(__import__("ml_audit").__file__)))
    script = textwrap.dedent(SCRIPT_PRELUDE.format(src=src, **values)) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )


def test_interpreter_exit_flushes_and_forked_workers_deliver(
    server: MLAuditServer, ingest_key: str, admin: Client, model_name: str
) -> None:
    # Like gunicorn --preload: the app is imported (and has recorded) in the parent, then
    # worker processes are forked; each exits normally without calling flush().
    result = run_script(
        """
        record("parent", 0)
        children = []
        for worker in range(2):
            pid = os.fork()
            if pid == 0:
                for index in range(15):
                    record(f"child{worker}", index)
                sys.exit(0)  # atexit delivers what is queued
            children.append(pid)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            assert os.WEXITSTATUS(status) == 0
        """,
        url=server.url,
        key=ingest_key,
        model=model_name,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    ids = stored_ids(admin, model_name)
    assert len(ids) == 31
    assert {i for i in ids if i.startswith("child0-")} == {f"child0-{n}-{model_name}" for n in range(15)}


def test_exit_does_not_hang_when_the_server_is_down(model_name: str) -> None:
    started = time.monotonic()
    result = run_script(
        """
        for index in range(5):
            record("lost", index)
        """,
        url=f"http://127.0.0.1:{closed_port()}",
        key="mla_x",
        model=model_name,
        timeout=1,
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15
    assert "not delivered at exit" in result.stderr


def test_a_batch_answer_is_read_with_every_result_or_failures_only() -> None:
    # The worker asks for failures only (with counts); a server that lists every event is read
    # too. Unit level: the shapes are the server's, the server is not needed.
    from ml_audit._config import resolve
    from ml_audit._worker import Worker

    events = [{"prediction_id": f"p{index}"} for index in range(4)]
    every = Worker(resolve({"url": "http://127.0.0.1:9", "api_key": "mla_x"}))
    listed = [
        {"index": 0, "status": 201},
        {"index": 1, "status": 200},
        {"index": 2, "status": 422, "error": {"code": "invalid"}},
    ]  # index 3 unanswered: sent again
    assert every._read_results(events, listed, None, None) == [events[3]]
    failures = Worker(resolve({"url": "http://127.0.0.1:9", "api_key": "mla_x"}))
    only = [{"index": 2, "status": 422, "error": {"code": "invalid"}}, {"index": 3, "status": 503}]
    assert failures._read_results(events, only, 1, 1) == [events[3]]
    for worker in (every, failures):
        stats = worker.stats()
        assert (stats["created"], stats["replayed"], stats["sent"], stats["rejected"]) == (1, 1, 2, 1), stats
