"""Benchmark (g): GET /v3/cdr_exports on PostgreSQL, 2 API processes, 64 connections.

bench/list_endpoint.py run against PostgreSQL: the same data (one account with 60 exports,
40 of them completed by the real worker; another with 100), the same wrk load (2
threads, 64 connections, alternating runs, medians, the median of the per-run ratios),
the same baseline (a one-route Starlette app returning the very bytes cdrex answered),
all with that script's own functions. The data is made afresh in the database
``cdrex_bench_list`` on every run (a few seconds).

Two processes: ``uvicorn --workers 2 --factory _asgi_apps:cdrex_app`` (the app
``cdrex serve --workers 0`` runs, built by a factory so that each worker process builds
its own, with its own connection pool), and the bare app the same way. Uvicorn's
supervisor binds the socket once and both workers accept on it. uvloop, httptools and
the access log (uvicorn's default: on) as under ``cdrex serve``.

On PostgreSQL cdrex keeps no response cache (nothing like SQLite's data_version tells it
when a page went stale), so every request checks the key and queries the page and the
total. The issue sets no target: requests/s and p99 are for the record. With --serve,
one process (``cdrex serve --workers 0`` against the bare app under the same uvicorn.run
call) is measured too. Exit status 1 when a run had errors.

Usage: .venv/bin/python bench/list_endpoint_postgres.py [--runs 5] [--duration 10] [--serve]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import _pg_data
import list_endpoint as bench_list
from _common import BENCH, PYTHON, load_note
from list_endpoint import Server, capture_body, compare, free_port, running, summarise

DATABASE = "cdrex_bench_list"
DATA = _pg_data.DATA / "list-endpoint"
UVICORN = str(Path(PYTHON).parent / "uvicorn")
PROCESSES = 2


def workers_server(name: str, factory: str, env: dict[str, str]) -> Server:
    port = free_port()
    return Server(
        name,
        [
            UVICORN,
            "--factory",
            f"_asgi_apps:{factory}",
            "--app-dir",
            str(BENCH),
            "--workers",
            str(PROCESSES),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-proxy-headers",
        ],
        env,
        port,
    )


def prepare_data() -> str:
    """list_endpoint.py's data, made by its own code, in a new PostgreSQL database."""
    DATA.mkdir(parents=True, exist_ok=True)
    bench_list.DATA, bench_list.KEY_FILE = DATA, DATA / "api-key"  # its files: ours
    _pg_data.create_database(DATABASE)
    os.environ["CDREX_DATABASE_URL"] = _pg_data.url(DATABASE)  # this process, and servers
    os.environ["CDREX_DATA_DIR"] = str(DATA)
    bench_list.KEY_FILE.unlink(missing_ok=True)
    return bench_list.prepare_data()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per server")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--serve", action="store_true", help="also measure one process: cdrex serve --workers 0"
    )
    args = parser.parse_args()
    print(f"start: {load_note()}")
    key = prepare_data()
    body_file = DATA / "list-response.json"
    product = workers_server("cdrex", "cdrex_app", {})
    with running(product, key):
        content_type, body = capture_body(product, key)
    body_file.write_bytes(body)
    print(f"captured {len(body):,} bytes of {content_type} from cdrex on PostgreSQL")

    bare = workers_server(
        "bare", "bare_app", {"BENCH_BODY_FILE": str(body_file), "BENCH_CONTENT_TYPE": content_type}
    )
    label = f"uvicorn --workers {PROCESSES}, PostgreSQL"
    print(f"{label}:")
    loads = compare((product, bare), key, args.runs, args.duration)
    summarise(label, loads, judged=False)
    failures = [load.errors for runs in loads.values() for load in runs if load.errors]
    if args.serve:
        print("one process, cdrex serve --workers 0:")
        servers = bench_list.uvicorn_servers(body_file, content_type, free_port(), free_port())
        summarise(
            "cdrex serve, one process, PostgreSQL",
            compare(servers, key, args.runs, args.duration),
            judged=False,
        )
    print(f"end: {load_note()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
