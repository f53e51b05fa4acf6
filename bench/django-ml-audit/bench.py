"""Records ml-audit's benchmark events through django-ml-audit 0.2.0's public API and measures it.

    python bench.py record --backend sqlite --sqlite-path F --events E.jsonl [--count N] [--run I]
    python bench.py record --backend postgres --pg-name DB --events E.jsonl [--count N] [--run I]
    python bench.py table RESULTS.jsonl

`record` is one run on a fresh, empty database (the caller provides it: a new SQLite path, or a
freshly created PostgreSQL database): it runs the migrations, then for every event calls
`ml_audit.services.record_prediction_event(...)` with an `ActorPayload` built from the event's
actor and, for events that carry an explanation, `attach_explanation(prediction=<the returned
event>, ...)` — one call each, in one process, each call in its own transaction as the library
does by default. Any exception aborts the run (non-zero exit, no result). After the loop it checks
that the database holds exactly the events and explanations that were recorded. It prints one JSON
line with the timings and sizes. `table` turns those lines into the markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ML_AUDIT_TABLES = (
    "ml_audit_modelversion",
    "ml_audit_requestingactor",
    "ml_audit_predictionevent",
    "ml_audit_explanation",
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_events(path: str, count: int) -> list[dict]:
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if len(events) == count:
                break
            if line.strip():
                events.append(json.loads(line))
    if len(events) < count:
        raise SystemExit(f"error: {path} holds {len(events)} events, {count} asked for")
    ids = {e["prediction_id"] for e in events}
    if len(ids) != len(events):
        raise SystemExit("error: prediction_ids in the events file are not unique")
    return events


def record_kwargs(event: dict, ActorPayload) -> dict:
    """Maps one ml-audit request body onto record_prediction_event's keyword arguments.

    The names are the same on both sides (ml-audit kept django-ml-audit's); `actor` becomes an
    ActorPayload; `explanation` is not an argument of this call (see attach_kwargs).
    """
    actor = event.get("actor")
    return {
        "model_name": event["model_name"],
        "model_version": event["model_version"],
        "framework": event.get("framework"),
        "prediction_id": event["prediction_id"],
        "features": event["features"],
        "output": event["output"],
        "decision_outcome": event.get("decision_outcome"),
        "confidence": event.get("confidence"),
        "status": event.get("status", "success"),
        "actor": None if actor is None else ActorPayload(
            actor_type=actor["actor_type"],
            actor_id=actor["actor_id"],
            tenant_id=actor.get("tenant_id"),
            ip_address=actor.get("ip_address"),
            user_agent=actor.get("user_agent"),
        ),
        "environment": event.get("environment"),
        "trace_id": event.get("trace_id"),
        "latency_ms": event.get("latency_ms"),
        "metadata": event.get("metadata"),
    }


def attach_kwargs(explanation: dict) -> dict:
    return {
        "method": explanation["method"],
        "method_version": explanation.get("method_version"),
        "payload": explanation["payload"],
        "summary_text": explanation.get("summary_text"),
    }


def machine_pressure() -> dict:
    """The 1-minute load average and Linux's I/O and CPU pressure (share of the last 60 s in
    which some task waited): the machine may be shared, and this says how busy it was."""
    out = {"load1": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    for kind in ("io", "cpu"):
        try:
            with open(f"/proc/pressure/{kind}", encoding="utf-8") as f:
                some = f.readline().split()
            out[f"{kind}_some_avg60"] = float(dict(x.split("=") for x in some[1:])["avg60"])
        except (OSError, KeyError, ValueError):
            out[f"{kind}_some_avg60"] = None
    return out


def storage(backend: str, sqlite_path: str | None) -> dict:
    from django.db import connection

    if backend == "postgres":
        with connection.cursor() as cur:
            per_table = {}
            for table in ML_AUDIT_TABLES:
                cur.execute("SELECT pg_total_relation_size(%s::regclass)", [table])
                per_table[table] = cur.fetchone()[0]
            cur.execute("SELECT pg_database_size(current_database())")
            database = cur.fetchone()[0]
        return {"tables_bytes": sum(per_table.values()), "per_table": per_table,
                "database_bytes": database}

    # SQLite: ml_audit's tables and their indexes from dbstat (pages in use), and the file.
    per_table = {}
    with connection.cursor() as cur:
        try:
            cur.execute(
                "SELECT tbl_name, name FROM sqlite_master WHERE tbl_name IN (%s)"
                % ",".join("?" * len(ML_AUDIT_TABLES)), list(ML_AUDIT_TABLES))
            objects = cur.fetchall()
            for tbl, name in objects:
                cur.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?", [name])
                per_table[tbl] = per_table.get(tbl, 0) + cur.fetchone()[0]
        except Exception:  # dbstat not compiled in: the file size is still reported
            per_table = {}
    connection.close()
    file_bytes = os.path.getsize(sqlite_path)
    for suffix in ("-wal", "-journal"):
        if os.path.exists(sqlite_path + suffix):
            file_bytes += os.path.getsize(sqlite_path + suffix)
    return {"file_bytes": file_bytes, "tables_bytes": sum(per_table.values()) or None,
            "per_table": per_table}


def time_read_api(calls: int, expected_total: int) -> dict:
    """Median time of the read API's first page through the Django test client (full stack:
    URL routing, DRF viewset, pagination with its COUNT, nested serializers)."""
    from django.test import Client

    client = Client()
    out = {}
    for name, url, check_total in (
        ("list_first_page", "/api/ml-audit/predictions/", True),
        ("list_filtered_first_page",
         "/api/ml-audit/predictions/?model_name=fraud_detector&decision_outcome=flagged", False),
    ):
        timings = []
        for i in range(calls + 1):
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} answered {response.status_code}: "
                                   f"{response.content[:500]!r}")
            body = response.json()
            if check_total and body["count"] != expected_total:
                raise RuntimeError(f"GET {url} counts {body['count']}, expected {expected_total}")
            if not body["results"]:
                raise RuntimeError(f"GET {url} returned no results")
            if i > 0:  # the first call warms caches and imports
                timings.append(elapsed)
        out[name] = {"url": url, "calls": calls, "median_ms": statistics.median(timings) * 1e3,
                     "page_size": len(body["results"])}
    return out


def cmd_record(args: argparse.Namespace) -> None:
    import bench_settings

    bench_settings.configure(args.backend, sqlite_path=args.sqlite_path, pg_name=args.pg_name)

    from django.core.management import call_command
    from django.db import connection

    if args.backend == "sqlite" and os.path.exists(args.sqlite_path):
        raise SystemExit(f"error: {args.sqlite_path} exists; each run needs a fresh database")

    events = load_events(args.events, args.count)
    call_command("migrate", verbosity=0, interactive=False)

    from ml_audit.models import Explanation, ModelVersion, PredictionEvent, RequestingActor
    from ml_audit.services import ActorPayload, attach_explanation, record_prediction_event

    if PredictionEvent.objects.exists():
        raise SystemExit("error: the database is not empty")
    empty = storage(args.backend, args.sqlite_path)
    connection.ensure_connection()  # storage() closes SQLite's; not inside the timed loop

    # Build the calls' arguments before the clock starts: the benchmark times the library.
    calls = [(record_kwargs(e, ActorPayload),
              attach_kwargs(e["explanation"]) if e.get("explanation") else None) for e in events]

    record_s = 0.0
    explain_s = 0.0
    recorded = 0
    explained = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    for kwargs, explanation in calls:
        t0 = time.perf_counter()
        prediction = record_prediction_event(**kwargs)
        t1 = time.perf_counter()
        if prediction.prediction_id != kwargs["prediction_id"]:
            raise RuntimeError(f"recorded {prediction.prediction_id!r} for "
                               f"{kwargs['prediction_id']!r}")
        recorded += 1
        record_s += t1 - t0
        if explanation is not None:
            attach_explanation(prediction=prediction, **explanation)
            explain_s += time.perf_counter() - t1
            explained += 1
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    pressure = machine_pressure()

    # Count only what is really stored.
    stored_events = PredictionEvent.objects.count()
    stored_explanations = Explanation.objects.count()
    expected_explanations = sum(1 for _, x in calls if x is not None)
    if stored_events != len(calls) or recorded != len(calls):
        raise RuntimeError(f"{stored_events} events stored, {len(calls)} recorded")
    if stored_explanations != expected_explanations or explained != expected_explanations:
        raise RuntimeError(f"{stored_explanations} explanations stored, "
                           f"{expected_explanations} attached")
    # Redaction really happened (top-level `email`/`phone`/`ip_address` are built-in names).
    sample = PredictionEvent.objects.get(prediction_id=calls[0][0]["prediction_id"])
    if sample.features.get("email") == calls[0][0]["features"].get("email"):
        raise RuntimeError("email was stored unredacted")
    models_n = ModelVersion.objects.count()
    actors_n = RequestingActor.objects.count()

    read_api = time_read_api(args.read_api_calls, stored_events) if args.read_api_calls else None

    if args.backend == "postgres":
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            db_version = "PostgreSQL " + cur.fetchone()[0].split()[0]
    else:
        import sqlite3
        db_version = "SQLite " + sqlite3.sqlite_version
    size = storage(args.backend, args.sqlite_path)

    import django
    import rest_framework
    from importlib.metadata import version

    result = {
        "backend": args.backend,
        "run": args.run,
        "events": stored_events,
        "explanations": stored_explanations,
        "model_versions": models_n,
        "actors": actors_n,
        "wall_s": wall_s,
        "record_s": record_s,
        "explain_s": explain_s,
        "python_cpu_s": cpu_s,
        "pressure_at_end": pressure,
        "events_per_s": stored_events / wall_s,
        "events_per_s_record_only": stored_events / record_s,
        "storage_empty": empty,
        "storage": size,
        "read_api": read_api,
        "versions": {
            "django-ml-audit": version("django-ml-audit"),
            "Django": django.get_version(),
            "djangorestframework": rest_framework.VERSION,
            "psycopg": version("psycopg") if args.backend == "postgres" else None,
            "Python": platform.python_version(),
            "database": db_version,
        },
    }
    log(f"  {args.backend} run {args.run}: {stored_events} events "
        f"({stored_explanations} explanations) in {wall_s:.2f} s = "
        f"{result['events_per_s']:.0f} events/s "
        f"(record only {result['events_per_s_record_only']:.0f}/s); Python CPU "
        f"{cpu_s / stored_events * 1e3:.2f} ms/event of {wall_s / stored_events * 1e3:.2f} ms; "
        f"load {pressure['load1']:.2f}, io pressure {pressure['io_some_avg60']}%")
    print(json.dumps(result), flush=True)


def machine_line() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average %.2f %.2f %.2f" % os.getloadavg()
    return (f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} "
            f"{platform.release()}{load}")


def span(values: list[float], fmt: str = "{:,.0f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–" \
           f"{fmt.format(max(values))})"


def cmd_table(args: argparse.Namespace) -> None:
    runs: dict[str, list[dict]] = {}
    with open(args.results, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                runs.setdefault(r["backend"], []).append(r)
    if not runs:
        raise SystemExit("error: no results")

    first = next(iter(runs.values()))[0]
    n = first["events"]
    print(f"django-ml-audit {first['versions']['django-ml-audit']} — {n:,} events a run "
          f"({first['explanations']:,} with an explanation), one process, one call per event, "
          f"fresh database each run")
    print()
    print("| backend | events/s incl. explanations, median (min–max) | events/s record only "
          "(attach not counted) | bytes/event | read API first page (ms) | django-ml-audit "
          "| Django | Python |")
    print("|---|---|---|---|---|---|---|---|")
    notes = []
    for backend, rs in runs.items():
        v = rs[0]["versions"]
        incl = [r["events_per_s"] for r in rs]
        rec = [r["events_per_s_record_only"] for r in rs]
        if backend == "postgres":
            per_event = statistics.median(r["storage"]["tables_bytes"] / r["events"] for r in rs)
            db_delta = statistics.median(
                (r["storage"]["database_bytes"] - r["storage_empty"]["database_bytes"])
                / r["events"] for r in rs)
            bytes_cell = f"{per_event:,.0f}"
            notes.append(f"- postgres bytes/event: sum of `pg_total_relation_size` (heap, TOAST, "
                         f"indexes) of django-ml-audit's four tables after the run ÷ events; "
                         f"pg_database_size grew by {db_delta:,.0f} bytes/event.")
        else:
            per_event = statistics.median(r["storage"]["file_bytes"] / r["events"] for r in rs)
            empty = rs[0]["storage_empty"]["file_bytes"]
            tables = [r["storage"]["tables_bytes"] for r in rs if r["storage"]["tables_bytes"]]
            bytes_cell = f"{per_event:,.0f}"
            extra = (f"; django-ml-audit's tables and indexes alone (dbstat): "
                     f"{statistics.median(tables) / n:,.0f} bytes/event" if tables else "")
            notes.append(f"- sqlite bytes/event: database file size after the run ÷ events "
                         f"(the file after migrations alone is {empty:,} bytes){extra}.")
        read = "–"
        if rs[0].get("read_api"):
            read = span([r["read_api"]["list_first_page"]["median_ms"] for r in rs], "{:.1f}")
            filtered = statistics.median(
                r["read_api"]["list_filtered_first_page"]["median_ms"] for r in rs)
            notes.append(f"- {backend} read API: `GET /api/ml-audit/predictions/` (50 a page, "
                         f"nested model/actor/explanation, COUNT of all rows) through Django's "
                         f"test client, median of {rs[0]['read_api']['list_first_page']['calls']} "
                         f"calls a run; with `?model_name=fraud_detector&decision_outcome="
                         f"flagged`: {filtered:.1f} ms.")
        print(f"| {backend} ({v['database']}) | {span(incl)} | {span(rec)} | {bytes_cell} "
              f"| {read} | {v['django-ml-audit']} | {v['Django']} "
              f"(DRF {v['djangorestframework']}"
              f"{', psycopg ' + v['psycopg'] if v.get('psycopg') else ''}) | {v['Python']} |")
        cpu_ms = statistics.median(r["python_cpu_s"] / r["events"] * 1e3 for r in rs)
        wall_ms = statistics.median(r["wall_s"] / r["events"] * 1e3 for r in rs)
        loads = [r["pressure_at_end"]["load1"] for r in rs]
        io = [r["pressure_at_end"]["io_some_avg60"] for r in rs
              if r["pressure_at_end"]["io_some_avg60"] is not None]
        notes.append(f"- {backend} time per event: {wall_ms:.2f} ms wall, of which the Python "
                     f"process's own CPU {cpu_ms:.2f} ms (the rest is waiting: commits/fsync, "
                     f"the database server, other processes); machine at the end of the runs: "
                     f"load {min(loads):.2f}–{max(loads):.2f}"
                     + (f", I/O pressure (some, avg60) {min(io):.1f}–{max(io):.1f}%" if io else "")
                     + ".")
        if len(rs) != args.expect_runs:
            notes.append(f"- {backend}: {len(rs)} runs, not {args.expect_runs}.")
    print()
    print("\n".join(notes))
    print()
    print(machine_line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="one run on a fresh database; prints one JSON line")
    rec.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    rec.add_argument("--sqlite-path")
    rec.add_argument("--pg-name")
    rec.add_argument("--events", required=True, help="JSON lines from `ml-audit-bench events`")
    rec.add_argument("--count", type=int, default=5000)
    rec.add_argument("--run", type=int, default=1)
    rec.add_argument("--read-api-calls", type=int, default=20, help="0 skips the read API")
    rec.set_defaults(func=cmd_record)
    tab = sub.add_parser("table", help="markdown table from `record` results")
    tab.add_argument("results")
    tab.add_argument("--expect-runs", type=int, default=5)
    tab.set_defaults(func=cmd_table)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
