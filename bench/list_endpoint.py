"""Benchmark (b): GET /v3/cdr_exports with 50 exports on the page, under load.

wrk, 2 threads, 64 connections, against two servers run the same way (one process; the
uvicorn.run() call of ``cdrex serve``: uvloop, httptools, access log on stderr):
  - cdrex: ``cdrex serve --workers 0`` on a data dir with one account holding 60 exports
    (40 completed, so their ``url`` is rendered; 60 so the page is full and the total is
    counted) and another account holding 100;
  - bare: a one-route Starlette app returning the very bytes cdrex answered, with the
    same Content-Type (bench/_serve_bare.py): the cost of the server and framework alone.
Runs alternate between the two; figures are medians, the ratio is the median of the runs'
ratios. Each run also loads cdrex with requests its response cache cannot answer (a Host
header of its own per request): informative, not judged.

Target: cdrex at least 50% of the bare app's requests/s. p99 latency is reported for both.
With --granian, both apps are also measured under granian (one worker, uvloop; access
log on, then off), for the README's choice of production server. Exit status 1 when the
target is missed or a judged run had errors.

Usage: .venv/bin/python bench/list_endpoint.py [--runs 5] [--duration 10] [--granian]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import (
    BENCH,
    PYTHON,
    WORK,
    WRK_THREAD_IDS,
    cdrex,
    load_note,
    median,
    verdict,
    wrk_latency_ms,
)
from cdrex.exports.filters import parse_filters
from cdrex.exports.model import Export, ExportType
from cdrex.exports.versions import V2017_09_18
from cdrex.exports.window import exportable_months
from cdrex.pipeline.local_files import LocalFiles
from cdrex.settings import Settings
from cdrex.store.accounts import find_account
from cdrex.store.db import Database
from cdrex.store.exports import insert_export
from cdrex.worker.jobs import ExportWorker

DATA = WORK / "list-endpoint"
KEY_FILE = DATA / "api-key"  # a key is shown once, at creation: kept for reruns
ACCOUNT, OTHER = "bench-list", "bench-list-other"
EXPORTS, COMPLETED, OTHER_EXPORTS = 60, 40, 100
PAGE_SIZE = 50  # the API's default page size
LIST_PATH = "/v3/cdr_exports"
JSONAPI = "application/vnd.api+json"
CONNECTIONS = 64
TARGET = 0.5
GRANIAN = str(Path(PYTHON).parent / "granian")


# --- data -----------------------------------------------------------------------------


def export_count(name: str) -> int:
    database = DATA / "cdrex.sqlite3"
    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        try:
            return conn.execute(
                "SELECT count(*) FROM exports JOIN accounts ON accounts.id = account_id "
                "WHERE accounts.name = ?",
                (name,),
            ).fetchone()[0]
        except sqlite3.OperationalError:  # no schema yet
            return 0


def prepare_data() -> str:
    """The data dir and the account's API key; reused when already there."""
    if KEY_FILE.exists() and export_count(ACCOUNT) == EXPORTS:
        print(f"reusing data in {DATA}")
        return KEY_FILE.read_text().strip()
    print(f"creating data in {DATA}...", flush=True)
    for path in DATA.glob("cdrex.sqlite3*"):
        path.unlink()
    for name in (ACCOUNT, OTHER):
        cdrex(DATA, "accounts", "create", name)
    key = cdrex(DATA, "keys", "create", "--account", ACCOUNT).strip()
    settings = Settings.from_env(data_dir=DATA)
    db = Database(settings.resolved_database_url)
    add_exports(db, settings, ACCOUNT, EXPORTS)
    worker = ExportWorker(db, LocalFiles(settings.files_dir), settings)
    for _ in range(COMPLETED):  # the oldest pending first: this account's
        worker.run_once()
    add_exports(db, settings, OTHER, OTHER_EXPORTS)
    KEY_FILE.write_text(key + "\n")
    KEY_FILE.chmod(0o600)
    return key


def add_exports(db: Database, settings: Settings, name: str, count: int) -> None:
    """Exports as POST /v3/cdr_exports makes them: each exportable month, some per DID."""
    account = find_account(db, name)
    now = datetime.now(UTC)
    months = exportable_months(now, settings.export_window_months)
    for number in range(count):
        year, month = months[number % len(months)]
        raw = {"year": str(year), "month": str(month)}
        if number % 3 == 0:
            raw["did_number"] = f"4477000{number:05d}"
        filters, selection = parse_filters(
            V2017_09_18.filter_rules[ExportType.CDR_IN], raw, now, settings.export_window_months
        )
        created = now - timedelta(seconds=count - number)  # oldest first, one a second
        insert_export(
            db,
            Export(
                account_id=account.id,
                api_version="2017-09-18",
                export_type=ExportType.CDR_IN,
                filters=filters,
                selection=selection,
                created_at=created,
            ),
        )


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{LIST_PATH}"


def uvicorn_servers(
    body_file: Path, content_type: str, cdrex_port: int, bare_port: int
) -> tuple[Server, Server]:
    product = Server(
        "cdrex",
        [
            PYTHON,
            "-m",
            "cdrex",
            "--data-dir",
            str(DATA),
            "serve",
            "--workers",
            "0",
            "--port",
            str(cdrex_port),
        ],
        {},
        cdrex_port,
    )
    # The very uvicorn.run() call of `cdrex serve` (uvloop and httptools by "auto", access
    # log on stderr, no proxy headers, one process), around the bare app.
    bare = Server(
        "bare",
        [PYTHON, str(BENCH / "_serve_bare.py"), str(bare_port)],
        {"BENCH_BODY_FILE": str(body_file), "BENCH_CONTENT_TYPE": content_type},
        bare_port,
    )
    return product, bare


def granian_servers(body_file: Path, content_type: str, access_log: bool) -> tuple[Server, Server]:
    def server(name: str, factory: str, env: dict[str, str]) -> Server:
        port = free_port()
        log = ["--access-log"] if access_log else ["--no-access-log"]
        return Server(
            name,
            [
                GRANIAN,
                "--interface",
                "asgi",
                "--workers",
                "1",
                *log,
                "--loop",
                "uvloop",
                "--port",
                str(port),
                "--working-dir",
                str(BENCH),
                "--factory",
                f"_asgi_apps:{factory}",
            ],
            env,
            port,
        )

    return (
        server("cdrex", "cdrex_app", {"CDREX_DATA_DIR": str(DATA)}),
        server(
            "bare",
            "bare_app",
            {"BENCH_BODY_FILE": str(body_file), "BENCH_CONTENT_TYPE": content_type},
        ),
    )


@contextmanager
def running(server: Server, key: str) -> Iterator[None]:
    log = DATA / f"server-{server.name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            server.command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **server.env},
        )
    try:
        wait_until_answering(server, key, process, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def get(url: str, key: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Api-Key": key, "Accept": JSONAPI})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.headers["Content-Type"], response.read()


def wait_until_answering(server: Server, key: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{server.name} exited; see {log}")
        try:
            get(server.url, key)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer within 30 s; see {log}")


# --- load -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: str  # "" when every response was 2xx and no socket failed


# Each request with a Host header of its own: the base URL in the links differs, so
# cdrex can never answer from its response cache and renders every page afresh.
UNIQUE_HOSTS = (
    WRK_THREAD_IDS
    + """
function init(args)
   n = 0
end
function request()
   n = n + 1
   local headers = {}
   for name, value in pairs(wrk.headers) do headers[name] = value end
   headers["Host"] = "t" .. id .. "-" .. n .. ".cache-miss.example"
   return wrk.format(nil, nil, headers)
end
"""
)


def wrk(url: str, key: str, seconds: int, script: str | None = None) -> Load:
    extra = ["-s", str(DATA / "unique-hosts.lua")] if script else []
    if script:
        (DATA / "unique-hosts.lua").write_text(script)
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-H",
            f"Api-Key: {key}",
            "-H",
            f"Accept: {JSONAPI}",
            *extra,
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    errors = [
        line.strip() for line in output.splitlines() if "Non-2xx" in line or "Socket errors" in line
    ]
    return Load(
        float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        wrk_latency_ms(output, "50"),
        wrk_latency_ms(output, "99"),
        "; ".join(errors),
    )


def compare(
    servers: tuple[Server, Server], key: str, runs: int, seconds: int, uncached: bool = False
) -> dict:
    """wrk runs alternating between the two servers (both up, the idle one costs nothing);
    with ``uncached``, cdrex is also loaded with requests its cache cannot answer."""
    loads: dict[str, list[Load]] = {server.name: [] for server in servers}
    if uncached:
        loads["cdrex-uncached"] = []
    with running(servers[0], key), running(servers[1], key):
        for server in servers:
            wrk(server.url, key, 2)  # warm-up: connections, caches, the thread pool
        for number in range(1, runs + 1):
            plan = [(server.name, server.url, None) for server in servers]
            if uncached:
                plan.append(("cdrex-uncached", servers[0].url, UNIQUE_HOSTS))
            for name, url, script in plan:
                load = wrk(url, key, seconds, script)
                loads[name].append(load)
                print(
                    f"  run {number} {name:14}: {load.requests_per_second:8,.0f} req/s, "
                    f"p99 {load.p99_ms:7.2f} ms{'  ' + load.errors if load.errors else ''}",
                    flush=True,
                )
    return loads


# --- report ---------------------------------------------------------------------------


def summarise(label: str, loads: dict[str, list[Load]], judged: bool = True) -> bool:
    rps = {
        name: median([load.requests_per_second for load in runs]) for name, runs in loads.items()
    }
    p99 = {name: median([load.p99_ms for load in runs]) for name, runs in loads.items()}
    p50 = {name: median([load.p50_ms for load in runs]) for name, runs in loads.items()}
    errors = {name: [load.errors for load in runs if load.errors] for name, runs in loads.items()}
    failures = errors["bare"] + errors["cdrex"]
    # Each cdrex run against the bare run right after it: load from elsewhere on the machine
    # drifts slowly, so the pairs' ratios vary less than the ratio of the medians.
    pairs = [
        c.requests_per_second / b.requests_per_second
        for c, b in zip(loads["cdrex"], loads["bare"], strict=True)
    ]
    ratio = median(pairs)
    print(f"\n{label}: GET {LIST_PATH} ({PAGE_SIZE} on the page), {CONNECTIONS} connections")
    for name in loads:
        print(
            f"  {name:14} {rps[name]:9,.0f} req/s   p50 {p50[name]:7.2f} ms   "
            f"p99 {p99[name]:7.2f} ms   {rps[name] / rps['bare']:.2f} of bare"
        )
    outcome = f"target >= {TARGET}: {verdict(ratio >= TARGET)}" if judged else "not judged"
    print(
        f"  ratio cdrex / bare: {ratio:.2f} of the requests/s, median of the runs' ratios "
        f"({', '.join(f'{pair:.2f}' for pair in pairs)}); {outcome}"
    )
    print(
        f"  p99 latency: cdrex {p99['cdrex']:.2f} ms, bare {p99['bare']:.2f} ms "
        f"({p99['cdrex'] / p99['bare']:.2f}x)"
    )
    if "cdrex-uncached" in loads:
        print(
            "  (cdrex-uncached: a Host header of its own per request, so no response comes "
            "from cdrex's cache; informative, not the target)"
        )
    for name, found in errors.items():
        if found:
            print(f"  ERRORS in {len(found)} {name} runs, e.g. {found[0]}")
    return ratio >= TARGET and not failures


def capture_body(server: Server, key: str) -> tuple[str, bytes]:
    """The real response, checked: a full page of the account's exports and the total."""
    status, content_type, body = get(server.url, key)
    document = json.loads(body)
    assert status == 200, status
    assert len(document["data"]) == PAGE_SIZE, len(document["data"])
    assert document["meta"]["total_records"] == EXPORTS, document["meta"]
    return content_type, body


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per server")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--granian", action="store_true", help="also measure under granian")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    print(f"start: {load_note()}")
    key = prepare_data()
    body_file = DATA / "list-response.json"
    ports = free_port(), free_port()  # the same for capture and load: the same bytes
    product, _ = uvicorn_servers(body_file, "", *ports)
    with running(product, key):
        content_type, body = capture_body(product, key)
    body_file.write_bytes(body)
    print(f"captured {len(body):,} bytes of {content_type} from cdrex")

    print("uvicorn:")
    ok = summarise(
        "uvicorn",
        compare(
            uvicorn_servers(body_file, content_type, *ports),
            key,
            args.runs,
            args.duration,
            uncached=True,
        ),
    )
    if args.granian:
        # With the access log, as uvicorn runs above; without it, what the server itself
        # costs (the log is a large share of a cached response's time).
        for access_log in (True, False):
            label = f"granian, access log {'on' if access_log else 'off'}"
            print(f"{label}:")
            servers = granian_servers(body_file, content_type, access_log)
            summarise(label, compare(servers, key, args.runs, args.duration), judged=False)
    print(f"end: {load_note()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
