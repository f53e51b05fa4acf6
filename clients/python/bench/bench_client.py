#!/usr/bin/env python3
"""Benchmark of the ml-audit Python client's background mode (not part of the test suite).

Measures, and prints as a table:
1. the cost of one background ``record_prediction_event`` call on the calling thread (median,
   p90, p99 of its wall-clock time), with the delivery thread running against the server
   (target: median < 20 µs), and the calling thread's CPU time per call (the median over
   blocks of 100 calls): on a machine with few cores the server and the worker take turns on
   the calling thread's core, which the wall-clock figure includes and the CPU time does not;
2. the events per second one worker thread delivers to a local ml-audit server (target:
   >= 20,000/s): the queue is filled first, then timed from release until flush() returns;
   with the CPU time per delivered event of this process (the worker: encoding, sending) and,
   for a server this script started, of the server (on a machine with few cores the two
   together are what bounds the rate);
3. the same against a null HTTP server that answers every batch at once (the client's own
   ceiling, whatever the server's speed);
4. for reference, the round trip of a sync call.

Usage: python bench/bench_client.py [--binary PATH | --url URL --key KEY] [--calls N] [--events N]
The binary defaults to $ML_AUDIT_BIN, else target/release/ml-audit, else target/debug/ml-audit
(a debug server is much slower than a release one: build with `cargo build --release -p ml-audit`
for representative server figures).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import ml_audit  # noqa: E402
from ml_audit import Client  # noqa: E402
from ml_audit.services import ActorPayload  # noqa: E402
from ml_audit.testing import MLAuditServer  # noqa: E402

CALL_TARGET_US = 20.0
THROUGHPUT_TARGET = 20_000

ACTOR = ActorPayload(actor_type="user", actor_id="42", tenant_id="acme", ip_address="203.0.113.7", user_agent="bench")


def event_kwargs(index: int) -> Dict[str, Any]:
    """A typical fraud-scoring event (the django-ml-audit example's shape)."""
    return dict(
        model_name="fraud_model",
        model_version="1.0.0",
        features={"amount": 1500.0 + index, "is_new_customer": True, "email": "user@example.com", "age": 42, "country": "FR"},
        output={"fraud_probability": 0.7, "is_fraud": False},
        decision_outcome="clean",
        confidence=0.7,
        actor=ACTOR,
        environment="prod",
        trace_id="req-1234",
        latency_ms=3.2,
    )


def find_binary(explicit: Optional[str]) -> str:
    if explicit:
        return explicit
    if os.environ.get("ML_AUDIT_BIN"):
        return os.environ["ML_AUDIT_BIN"]
    root = HERE.parent.parent.parent
    for profile in ("release", "debug"):
        candidate = root / "target" / profile / "ml-audit"
        if candidate.is_file():
            return str(candidate)
    raise SystemExit("no ml-audit binary: pass --binary, set ML_AUDIT_BIN or build the server")


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def bench_call_cost(url: str, key: str, calls: int) -> Dict[str, float]:
    """Times ml_audit.services.record_prediction_event, what applications call."""
    from ml_audit.services import record_prediction_event

    client = ml_audit.configure(url=url, api_key=key, mode="background", queue_size=calls + 10, redaction={})
    kwargs = [event_kwargs(i) for i in range(1000)]
    for i in range(2000):  # warm up (caches, the worker thread)
        record_prediction_event(**kwargs[i % 1000])
    client.flush(120)
    record = record_prediction_event
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    samples: List[int] = []
    cpu_blocks: List[int] = []  # the calling thread's CPU time per 100 calls
    append = samples.append
    gc.collect()
    block_started = cpu_clock()
    for i in range(calls):
        event = kwargs[i % 1000]
        started = clock()
        record(**event)
        append(clock() - started)
        if i % 100 == 99:
            now = cpu_clock()
            cpu_blocks.append(now - block_started)
            block_started = now
    delivered = client.flush(600)
    stats = client.stats()
    client.close(5)
    us = [s / 1000 for s in samples]
    return {
        "median": statistics.median(us),
        "p90": percentile(us, 0.90),
        "p99": percentile(us, 0.99),
        "mean": statistics.fmean(us),
        # Its CPU time alone: what the call costs the thread, without the time the OS gives the
        # server or the worker (on a small machine they share its cores).
        "cpu_median": statistics.median(cpu_blocks) / 100 / 1000,
        "delivered": float(delivered and stats["sent"] >= calls),
    }


def process_cpu_seconds(pid: Optional[int] = None) -> Optional[float]:
    """CPU time (user + system) of this process, or of process ``pid`` (Linux /proc)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_throughput(
    url: str, key: str, events: int, server_pid: Optional[int] = None
) -> Tuple[float, Dict[str, Any]]:
    client = Client(url=url, api_key=key, mode="background", queue_size=events + 10, redaction={})
    client.record_prediction_event(**event_kwargs(-1))
    client.flush(60)  # connection open, worker running
    worker = client._worker()
    worker._hold.clear()  # hold the worker while the queue fills (benchmark hook)
    for i in range(events):
        client.record_prediction_event(**event_kwargs(i))
    started = time.perf_counter()
    cpu_before = (process_cpu_seconds(), process_cpu_seconds(server_pid) if server_pid else None)
    worker._hold.set()
    ok = client.flush(600)
    elapsed = time.perf_counter() - started
    cpu_after = (process_cpu_seconds(), process_cpu_seconds(server_pid) if server_pid else None)
    stats = client.stats()
    # µs of CPU per delivered event: this process (the worker; the caller waits in flush) and
    # the server, when known.
    stats["client_cpu_us"] = (cpu_after[0] - cpu_before[0]) * 1e6 / events
    if cpu_before[1] is not None and cpu_after[1] is not None:
        stats["server_cpu_us"] = (cpu_after[1] - cpu_before[1]) * 1e6 / events
    client.close(5)
    if not ok or stats["sent"] < events:
        raise SystemExit(f"delivery incomplete: {stats}")
    return events / elapsed, stats


def bench_sync(url: str, key: str, calls: int) -> float:
    client = Client(url=url, api_key=key, mode="sync", redaction={})
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        client.record_prediction_event(**event_kwargs(i))
        samples.append((time.perf_counter() - started) * 1000)
    client.close(1)
    return statistics.median(samples)


# -- a null server: answers every batch with 201s, as fast as Python can ------------------------


class _NullHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written separately
    cache: Dict[int, bytes] = {}

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        count = body.count(b'"prediction_id":')
        reply = self.cache.get(count)
        if reply is None:
            results = [{"index": i, "status": 201, "id": "0", "prediction_id": "x"} for i in range(count)]
            reply = self.cache[count] = json.dumps({"results": results}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


def null_server_main(port_file: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NullHandler)
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


def start_null_server() -> Tuple[subprocess.Popen, str]:
    port_file = tempfile.mktemp(prefix="ml-audit-null-")
    process = subprocess.Popen([sys.executable, __file__, "--null-server", port_file])
    deadline = time.monotonic() + 20
    while not (os.path.exists(port_file) and Path(port_file).read_text()):
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("the null server did not start")
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{Path(port_file).read_text()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary")
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--null-server", metavar="PORT_FILE")
    args = parser.parse_args()
    if args.null_server:
        null_server_main(args.null_server)
        return

    server: Optional[MLAuditServer] = None
    if args.url:
        url, key, where = args.url, args.key or os.environ.get("ML_AUDIT_API_KEY", ""), args.url
    else:
        binary = find_binary(args.binary)
        server = MLAuditServer(binary=binary).start()
        url, key = server.url, server.admin_key
        where = f"{binary} (fresh SQLite database)"
    null_process, null_url = start_null_server()
    try:
        print(f"python {sys.version.split()[0]}, ml_audit {ml_audit.__version__}, server {where}", flush=True)
        cost = bench_call_cost(url, key, args.calls)
        server_pid = server.process.pid if server and server.process else None
        rate, stats = bench_throughput(url, key, args.events, server_pid)
        null_rate, _ = bench_throughput(null_url, "mla_null", args.events)
        sync_ms = bench_sync(url, key, 300)
    finally:
        null_process.kill()
        if server is not None:
            server.stop()

    rows = [
        ("background call, calling thread, median", f"< {CALL_TARGET_US:.0f} µs", f"{cost['median']:.1f} µs",
         "ok" if cost["median"] < CALL_TARGET_US else "MISSED"),
        ("background call, p90 / p99", "", f"{cost['p90']:.1f} / {cost['p99']:.1f} µs", ""),
        ("background call, calling thread's CPU time", "", f"{cost['cpu_median']:.1f} µs", ""),
        ("delivered by one worker, ml-audit server", f">= {THROUGHPUT_TARGET:,}/s", f"{rate:,.0f} events/s",
         "ok" if rate >= THROUGHPUT_TARGET else "MISSED"),
        ("CPU per delivered event: worker / server", "",
         f"{stats['client_cpu_us']:.1f} / " + (f"{stats['server_cpu_us']:.1f} µs" if "server_cpu_us" in stats else "? µs"),
         ""),
        ("delivered by one worker, null server", "(client ceiling)", f"{null_rate:,.0f} events/s", ""),
        ("sync call round trip, median", "", f"{sync_ms:.2f} ms", ""),
    ]
    print(f"\n{args.calls:,} timed calls; {args.events:,} events per throughput run "
          f"({stats['batches']} batch requests)")
    widths = [max(len(str(row[i])) for row in rows + [("metric", "target", "result", "")]) for i in range(4)]
    header = ("metric", "target", "result", "")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    main()
