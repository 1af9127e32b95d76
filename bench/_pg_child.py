"""Child process of the PostgreSQL benchmarks: one kind of export, timed, in a fresh process.

Usage: _pg_child.py KIND SPEC, where SPEC is a JSON object (see ``Spec``), or
_pg_child.py mixed PLAN (several kinds round-robin, see ``measure_mixed``); ``run`` and
``run_mixed`` are the parent's side. Each kind first opens its connection and runs a
query (a worker's pool is warm), then does its work ``repeat`` times and prints one JSON
object: the time of each repetition, this process's peak RSS before the work and after,
and what it produced. The parent runs it under GNU time, whose peak RSS is the whole
process's.

Kinds:
- ``cdrex``: ``build_export_file`` to a LocalFiles directory, as a worker runs it; a
  ``.csv.gz`` suffix gets the pipeline's gzip stage at ``gzip_level``, ``slices`` > 1
  the pipeline's parallel time slices.
- ``raw``: the same COPY statement read by psycopg and written to /dev/null: the floor.
- ``yeti``: the yeti-web way: the COPY output collected in memory into one object, then
  gzip level 9 with Python's gzip module, and the result written to a file.

``raw`` and ``yeti`` import psycopg and nothing of cdrex's database code: they get the
COPY statement from the parent with its parameters already bound (``copy_sql``), so their
peak RSS is not inflated by SQLAlchemy's import.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import resource
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from _common import PYTHON, Measured, run_measured
from cdrex.exports.formats import FileFormat
from cdrex.exports.kinds import file_format
from cdrex.exports.model import CdrSelection, Export, ExportType

API_VERSION = "2017-09-18"
BENCH_VERSION = "bench"  # formats key of the 2017-09-18 columns with the spec's suffix


@dataclass(frozen=True)
class Spec:
    url: str
    table: str  # cdrs_in, or the view that presents all accounts as one
    account_id: int
    start: str  # ISO timestamps of the selection
    end: str
    out_dir: str  # where files are written (cdrex, yeti)
    suffix: str = ".csv"
    gzip_level: int | None = None  # None: the pipeline's default
    slices: int = 1  # the pipeline's parallel time slices
    repeat: int = 1
    keep: bool = False  # report the SHA-256 of the CSV produced (checks)
    copy_sql: str = ""  # raw, yeti: the COPY statement, parameters bound (``run`` fills it)

    @property
    def selection(self) -> CdrSelection:
        return CdrSelection(datetime.fromisoformat(self.start), datetime.fromisoformat(self.end))

    @property
    def format(self) -> FileFormat:
        return replace(file_format(API_VERSION, ExportType.CDR_IN), suffix=self.suffix)


def bound(kind: str, spec: Spec) -> Spec:
    """The spec with the COPY statement filled in, for the kinds that run it themselves."""
    if kind == "cdrex" or spec.copy_sql:
        return spec
    from _pg_data import bound_copy_statement

    return replace(
        spec,
        copy_sql=bound_copy_statement(
            spec.url, spec.table, spec.format, spec.account_id, spec.selection
        ),
    )


def run(kind: str, spec: Spec) -> tuple[Measured, dict]:
    """The parent's side: run one kind in this child; the process as measured, its report."""
    measured = run_measured([PYTHON, __file__, kind, json.dumps(asdict(bound(kind, spec)))])
    return measured, json.loads(measured.stdout)


def run_mixed(cases: list[tuple[str, Spec]], rounds: int) -> tuple[Measured, list[dict]]:
    """The parent's side: several kinds in one child, round-robin (``measure_mixed``)."""
    plan = {"cases": [(kind, asdict(bound(kind, spec))) for kind, spec in cases], "rounds": rounds}
    measured = run_measured([PYTHON, __file__, "mixed", json.dumps(plan)])
    return measured, json.loads(measured.stdout)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def csv_sha256(path: Path) -> str:
    """SHA-256 of a file's CSV, decompressed when it is gzip (any number of members)."""
    digest = hashlib.sha256()
    with gzip.open(path, "rb") if is_gzip(path) else open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(2) == b"\x1f\x8b"


def connect(spec: Spec) -> psycopg.Connection:
    conn = psycopg.connect(spec.url, autocommit=True, options="-c timezone=UTC")
    conn.execute("SELECT 1")
    return conn


class CdrexJob:
    """``build_export_file`` on a pool that already holds its connections, as a worker's."""

    def __init__(self, spec: Spec) -> None:
        import inspect

        from cdrex.exports.kinds import KINDS
        from cdrex.pipeline import build
        from cdrex.pipeline.local_files import LocalFiles
        from cdrex.store.db import Database

        self.spec, self.build = spec, build
        self.version = f"{BENCH_VERSION}{spec.suffix}"
        inbound = KINDS[ExportType.CDR_IN]
        KINDS[ExportType.CDR_IN] = replace(  # the view, for the all-account selections
            inbound, table=spec.table, formats={**inbound.formats, self.version: spec.format}
        )
        accepted = inspect.signature(build.build_export_file).parameters
        self.options: dict[str, int] = {}
        if spec.gzip_level is not None and "gzip_level" in accepted:
            self.options["gzip_level"] = spec.gzip_level
        if spec.slices > 1:
            if "slices" not in accepted:
                raise SystemExit("build_export_file does not take slices")
            self.options["slices"] = spec.slices
        self.db = Database(spec.url)
        with ExitStack() as stack:
            for _ in range(spec.slices):
                stack.enter_context(self.db.read()).exec_driver_sql("SELECT 1")
        self.files = LocalFiles(Path(spec.out_dir))
        self.path: Path | None = None

    def once(self) -> float:
        if self.path is not None:
            self.path.unlink()
        export = Export(
            account_id=self.spec.account_id,
            api_version=self.version,
            export_type=ExportType.CDR_IN,
            filters={},
            selection=self.spec.selection,
            created_at=datetime.now(UTC),
        )
        started = time.perf_counter()
        self.built = self.build.build_export_file(self.db, self.files, export, **self.options)
        seconds = time.perf_counter() - started
        self.path = self.files.path(export.file_name + self.spec.suffix)
        return seconds

    def report(self) -> dict:
        report = {
            "rows": self.built.row_count,
            "file_bytes": self.built.byte_size,
            "gzipped": is_gzip(self.path),
            **self.options,
        }
        if self.spec.keep:
            report["sha256"] = csv_sha256(self.path)
        self.path.unlink()
        return report


class RawJob:
    """The COPY read by psycopg into /dev/null."""

    def __init__(self, spec: Spec) -> None:
        self.spec, self.conn = spec, connect(spec)
        self.null = open(os.devnull, "wb")  # noqa: SIM115 (the process's lifetime)

    def once(self) -> float:
        header = self.spec.format.header_line
        digest = hashlib.sha256(header) if self.spec.keep else None
        size = len(header)
        started = time.perf_counter()
        with self.conn.cursor() as cursor:
            with cursor.copy(self.spec.copy_sql) as copy:
                for chunk in copy:
                    self.null.write(chunk)
                    if digest is not None:  # checks only: not on timed runs
                        digest.update(chunk)
                        size += len(chunk)
            self.rows = cursor.rowcount
        seconds = time.perf_counter() - started
        self.check = {"sha256": digest.hexdigest(), "csv_bytes": size} if digest else {}
        return seconds

    def report(self) -> dict:
        return {"rows": self.rows, **self.check}


class YetiJob:
    """COPY into one in-memory object, gzip -9 of it, then the file (as yeti-web does)."""

    def __init__(self, spec: Spec) -> None:
        self.spec, self.conn = spec, connect(spec)
        self.output = Path(spec.out_dir) / "yeti.csv.gz"

    def once(self) -> float:
        started = time.perf_counter()
        data = bytearray(self.spec.format.header_line)
        with self.conn.cursor() as cursor, cursor.copy(self.spec.copy_sql) as copy:
            for chunk in copy:
                data += chunk
            self.rows = cursor.rowcount
        compressed = gzip.compress(data, compresslevel=9)
        with open(self.output, "wb") as file:
            file.write(compressed)
            file.flush()
            os.fsync(file.fileno())
        seconds = time.perf_counter() - started
        self.sizes = {"csv_bytes": len(data), "file_bytes": len(compressed)}
        return seconds

    def report(self) -> dict:
        report = {"rows": self.rows, **self.sizes}
        if self.spec.keep:
            report["sha256"] = csv_sha256(self.output)
        self.output.unlink()
        return report


JOBS = {"cdrex": CdrexJob, "raw": RawJob, "yeti": YetiJob}


def measure_one(kind: str, spec: Spec) -> dict:
    job = JOBS[kind](spec)
    rss_before = max_rss_mb()
    seconds = [job.once() for _ in range(spec.repeat)]
    return {
        "seconds": seconds,
        "rss_before_mb": rss_before,
        "max_rss_mb": max_rss_mb(),
        **job.report(),
    }


def measure_mixed(cases: list[tuple[str, Spec]], rounds: int) -> list[dict]:
    """Every case once per round, the order rotated each round, so that the cases' times of
    one round were taken within moments of each other (a ratio within a round is then
    spared most of the machine's drifting load)."""
    jobs = [JOBS[kind](spec) for kind, spec in cases]
    seconds: list[list[float]] = [[] for _ in jobs]
    for number in range(rounds):
        for index in [(number + offset) % len(jobs) for offset in range(len(jobs))]:
            seconds[index].append(jobs[index].once())
    return [
        {"seconds": times, "max_rss_mb": max_rss_mb(), **job.report()}
        for job, times in zip(jobs, seconds, strict=True)
    ]


if __name__ == "__main__":
    if sys.argv[1] == "mixed":
        plan = json.loads(sys.argv[2])
        cases = [(kind, Spec(**spec)) for kind, spec in plan["cases"]]
        print(json.dumps(measure_mixed(cases, plan["rounds"])))
    else:
        print(json.dumps(measure_one(sys.argv[1], Spec(**json.loads(sys.argv[2])))))
