"""Benchmark: CDRs pushed over HTTP to the operator API, and the customers' API meanwhile.

One `cdrex serve --workers 0` (SQLite by default, ``--postgres URL`` for PostgreSQL) with
10 accounts owning 100 DID numbers. Each phase runs for ``--duration`` seconds; wrk's Lua
scripts make every CDR a new call (a call id of its own), so nothing is deduplicated away:
  - batches: 8 connections, each POSTing batches of 1,000 CDRs in cdrex's CSV to
    /operator/v1/cdrs: CDRs/s stored (every answer's "imported" is checked after the run by
    counting the table) and the p99 of a batch;
  - single: 64 connections, each POSTing one FreeSWITCH JSON CDR per request to
    /operator/v1/freeswitch/json_cdr, as mod_json_cdr does: CDRs/s and p99;
  - the list under ingest: one customer polling GET /v3/cdr_exports (50 exports on the
    page, rendered afresh each time: a Host of its own per request) in a closed loop, idle
    first, then during the batches phase.

Target: the list's p99 during batch ingest at most 2x its idle p99 (the issue's). The
ingest rates are reported, not judged: their baseline is the import benchmarks'
(bench/import_sqlite.py, bench/import_postgres.py). Exit status 1 when the target is
missed or a phase had errors.

Usage: .venv/bin/python bench/http_ingest.py [--duration 15] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import PYTHON, WORK, WRK_THREAD_IDS, cdrex, load_note, verdict, wrk_latency_ms

DATA = WORK / "http-ingest"
ACCOUNTS, DIDS = 10, 100
BATCH_ROWS, BATCH_CONNECTIONS, SINGLE_CONNECTIONS = 1000, 8, 64
TARGET = 2.0
JSON_CDR = Path(__file__).resolve().parents[1] / "tests/samples/switches/freeswitch-a-leg.json"

# Shared by both scripts: a call id unique to the run, the thread and the request.
LUA_COMMON = (
    WRK_THREAD_IDS
    + """
function init(args)
   n = 0
   run = args[1]
   dids = {}
   for did in string.gmatch(args[2], "[^,]+") do dids[#dids + 1] = did end
   started = args[3]
end
"""
)
LUA_BATCHES = (
    LUA_COMMON
    + """
function request()
   n = n + 1
   local rows = {"time_start,did_number,duration,call_id"}
   for i = 1, BATCH_ROWS do
      rows[#rows + 1] = started .. "," .. dids[(n * 7 + i) % #dids + 1] .. ",60," ..
         run .. "-" .. id .. "-" .. n .. "-" .. i
   end
   return wrk.format("POST", nil, nil, table.concat(rows, "\\n"))
end
""".replace("BATCH_ROWS", str(BATCH_ROWS))
)
LUA_SINGLE = (
    LUA_COMMON
    + """
function request()
   n = n + 1
   local did = dids[n % #dids + 1]
   local body = template:gsub("CALL_ID", run .. "-" .. id .. "-" .. n):gsub("DID_NUMBER", did)
   return wrk.format("POST", nil, nil, body)
end
"""
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(postgres: str | None) -> tuple[list[str], str, str]:
    """A fresh data set: accounts owning the DIDs, an operator key, a customer's key and
    60 exports for its list. Returns (dids, operator key, customer key)."""
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    if postgres:
        os.environ["CDREX_DATABASE_URL"] = postgres
    dids = [str(4930900000 + n) for n in range(DIDS)]
    for account in range(ACCOUNTS):
        cdrex(DATA, "accounts", "create", f"ingest-{account}")
    for n, did in enumerate(dids):
        cdrex(DATA, "dids", "assign", did, "--account", f"ingest-{n % ACCOUNTS}")
    operator = cdrex(DATA, "operator-keys", "create").strip()
    customer = cdrex(DATA, "keys", "create", "--account", "ingest-0").strip()
    return dids, operator, customer


def serve(port: int) -> subprocess.Popen:
    log = (DATA / "serve.log").open("wb")
    server = subprocess.Popen(
        [PYTHON, "-m", "cdrex", "--data-dir", str(DATA), "serve", "--workers", "0", "--port",
         str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v3/cdr_exports", timeout=1)
        except urllib.error.HTTPError:
            return server  # answering (a 401 without a key)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def create_exports(port: int, key: str, count: int = 60) -> None:
    year, month = datetime.now(UTC).year, datetime.now(UTC).month
    filters = f'{{"year":{year},"month":{month}}}'
    body = f'{{"data":{{"type":"cdr_exports","attributes":{{"filters":{filters}}}}}}}'.encode()
    for _ in range(count):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v3/cdr_exports",
            data=body,
            headers={"Api-Key": key, "Content-Type": "application/vnd.api+json"},
        )
        urllib.request.urlopen(request).read()


class ListProbe(threading.Thread):
    """A customer polling the list in a closed loop; its latencies, in seconds."""

    def __init__(self, port: int, key: str) -> None:
        super().__init__(daemon=True)
        self.port, self.key = port, key
        self.latencies: list[float] = []
        self.errors = 0
        self._done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self._done.is_set():
            n += 1
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/v3/cdr_exports",
                headers={"Api-Key": self.key, "Host": f"probe-{n}.example"},
            )
            started = time.perf_counter()
            try:
                urllib.request.urlopen(request, timeout=30).read()
            except OSError:
                self.errors += 1
            self.latencies.append(time.perf_counter() - started)

    def stop(self) -> None:
        self._done.set()
        self.join()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def probe(port: int, key: str, seconds: float) -> ListProbe:
    prober = ListProbe(port, key)
    prober.start()
    time.sleep(seconds)
    prober.stop()
    return prober


def wrk(url: str, script: str, connections: int, seconds: int, args: list[str],
        headers: list[str]) -> tuple[float, float, str]:  # fmt: skip
    """(requests/s, p99 ms, errors) of a wrk run with ``script``."""
    path = DATA / f"script-{connections}.lua"
    path.write_text(script)
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s",
         *(flag for header in headers for flag in ("-H", header)), "-s", str(path), url,
         "--", *args],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = "; ".join(
        line.strip() for line in output.splitlines() if "Non-2xx" in line or "Socket errors" in line
    )
    return rate, wrk_latency_ms(output, "99"), errors


def _count(table: str) -> int:
    url = os.environ.get("CDREX_DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
    import sqlite3

    with sqlite3.connect(DATA / "cdrex.sqlite3") as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def drained(before: int, started: float) -> tuple[int, float]:
    """(rows stored since ``before``, seconds since ``started``) once the requests wrk left
    in flight are answered: the count holds still for half a second."""
    count = _count("cdrs_in")
    while True:
        time.sleep(0.5)
        settled = _count("cdrs_in")
        if settled == count:
            return settled - before, time.perf_counter() - started - 0.5
        count = settled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--postgres", help="a PostgreSQL URL of an empty database")
    options = parser.parse_args()
    dids, operator_key, customer_key = prepare(options.postgres)
    port = free_port()
    server = serve(port)
    try:
        create_exports(port, customer_key)
        base = f"http://127.0.0.1:{port}"
        started = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
        run = f"r{int(time.time())}"
        args = [run, ",".join(dids), started]
        auth = [f"Authorization: Bearer {operator_key}"]

        idle = probe(port, customer_key, options.duration)
        before, clock = _count("cdrs_in"), time.perf_counter()
        results: dict[str, tuple[float, float, str]] = {}
        batch_probe = ListProbe(port, customer_key)
        batch_probe.start()
        results["batches"] = wrk(
            f"{base}/operator/v1/cdrs?type=cdr_in&format=cdrex", LUA_BATCHES,
            BATCH_CONNECTIONS, options.duration, args, [*auth, "Content-Type: text/csv"],
        )  # fmt: skip
        batch_probe.stop()
        batch_rows, batch_seconds = drained(before, clock)

        micros = int((datetime.now(UTC) - timedelta(days=1)).timestamp()) * 1_000_000
        template = (
            JSON_CDR.read_text()
            .replace('"3c9a0e1f-2b3c-4d5e-8f6a-7b8c9d0e1f2a"', '"CALL_ID"', 1)
            .replace('"+4930901820"', '"DID_NUMBER"')
            .replace("1774745970123456", str(micros))
            .replace("1774746005000001", str(micros + 5_000_000))
            .replace("1774746065500000", str(micros + 65_000_000))
        )
        single_script = LUA_SINGLE.replace(
            "function request()", f"template = [==[{template}]==]\nfunction request()", 1
        )
        before, clock = _count("cdrs_in"), time.perf_counter()
        results["single"] = wrk(
            f"{base}/operator/v1/freeswitch/json_cdr", single_script, SINGLE_CONNECTIONS,
            options.duration, args, [*auth, "Content-Type: application/json"],
        )  # fmt: skip
        single_rows, single_seconds = drained(before, clock)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    backend = "PostgreSQL" if options.postgres else "SQLite"
    print(f"http_ingest on {backend}, {options.duration} s a phase; {load_note()}")
    rate, batch_p99, batch_errors = results["batches"]
    print(
        f"  batches of {BATCH_ROWS} CDRs, {BATCH_CONNECTIONS} connections: "
        f"{batch_rows / batch_seconds:,.0f} CDRs/s stored ({rate:.1f} batches/s), "
        f"p99 {batch_p99:.0f} ms {batch_errors}"
    )
    rate, single_p99, single_errors = results["single"]
    print(
        f"  single FreeSWITCH JSON CDRs, {SINGLE_CONNECTIONS} connections: "
        f"{single_rows / single_seconds:,.0f} CDRs/s stored ({rate:,.0f} requests/s), "
        f"p99 {single_p99:.0f} ms {single_errors}"
    )
    idle_p99, busy_p99 = p99(idle.latencies), p99(batch_probe.latencies)
    ratio = busy_p99 / idle_p99
    print(
        f"  list p99: idle {idle_p99:.1f} ms ({len(idle.latencies)} requests), during batch "
        f"ingest {busy_p99:.1f} ms ({len(batch_probe.latencies)}): {ratio:.2f}x idle "
        f"(target <= {TARGET}x: {verdict(ratio <= TARGET)})"
    )
    failed = batch_errors or single_errors or idle.errors or batch_probe.errors
    return 0 if ratio <= TARGET and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
