"""Benchmark (a): export one account-month of 1,000,000 CDRs from SQLite.

Against the baseline of the ``sqlite3`` command-line tool dumping the same rows and columns
(timestamps cut to seconds, amounts with 3 decimals, the same WHERE and ORDER BY) with
``.mode csv`` to a file, measured in the same run, alternating with the export.

The export runs the way a worker runs it: a fresh process (bench/_export_child.py) calls
``build_export_file`` on a pending export row. Its peak RSS is the whole process's.

Targets: export time at most 2.0x the sqlite3 tool's, peak RSS under 150 MB.
Exit status 1 when a target is missed or the two outputs disagree.

Usage: .venv/bin/python bench/export_sqlite.py [--runs 3] [--rows 1000000] [--no-compare]
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import zip_longest
from pathlib import Path

from _common import (
    BENCH,
    PYTHON,
    WORK,
    Measured,
    cdrex,
    load_note,
    median,
    run_measured,
    verdict,
)
from cdrex.cdrs.records import Field, Kind
from cdrex.exports.filters import parse_filters
from cdrex.exports.formats import FileFormat
from cdrex.exports.kinds import file_format
from cdrex.exports.model import CdrSelection, Export, ExportType
from cdrex.exports.versions import VERSIONS
from cdrex.exports.window import month_start, next_month_start
from cdrex.settings import Settings
from cdrex.store.accounts import find_account
from cdrex.store.db import Database
from cdrex.store.exports import insert_export

DATA = WORK / "export-sqlite"
ACCOUNT = "bench-a"
OTHER = "bench-other"  # its rows share the table, so the export must go through the index
API_VERSION = "2017-09-18"
TIME_TARGET = 2.0
RSS_TARGET_MB = 150


def database_file() -> Path:
    return DATA / "cdrex.sqlite3"


def rows_this_month(name: str) -> int:
    """How many CDRs the account has in the current month (0 when there is no data yet)."""
    if not database_file().exists():
        return 0
    now = datetime.now(UTC)
    start, end = (
        _sqlite_time(t)
        for t in (month_start(now.year, now.month), next_month_start(now.year, now.month))
    )
    with sqlite3.connect(f"file:{database_file()}?mode=ro", uri=True) as conn:
        try:
            (count,) = conn.execute(
                "SELECT count(*) FROM cdrs_in JOIN accounts ON accounts.id = account_id "
                "WHERE accounts.name = ? AND time_start >= ? AND time_start < ?",
                (name, start, end),
            ).fetchone()
        except sqlite3.OperationalError:  # no schema yet
            return 0
    return count


def prepare_data(rows: int, other_rows: int) -> None:
    """Create the data set with the operator's CLI, unless this month's is already there.

    The generator spreads rows over the current month up to now, so a new month needs
    new data.
    """
    if rows_this_month(ACCOUNT) == rows and rows_this_month(OTHER) == other_rows:
        print(f"reusing data in {DATA}")
        return
    print(f"generating data in {DATA} (about a minute per million rows)...", flush=True)
    for path in (database_file(), *DATA.glob("cdrex.sqlite3-*")):
        path.unlink(missing_ok=True)
    for name, count, seed in ((ACCOUNT, rows, 1), (OTHER, other_rows, 2)):
        cdrex(DATA, "accounts", "create", name)
        cdrex(
            DATA,
            "cdrs",
            "generate",
            "--account",
            name,
            "--rows",
            str(count),
            "--months",
            "1",
            "--seed",
            str(seed),
        )


def _sqlite_time(moment: datetime) -> str:
    # How SQLAlchemy's DateTime stores a naive UTC time on SQLite, as sources.py binds it.
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def this_month(settings: Settings) -> tuple[dict[str, str], CdrSelection]:
    """The filters of an export of the current month, and the CDRs they select."""
    now = datetime.now(UTC)
    return parse_filters(
        VERSIONS[API_VERSION].filter_rules[ExportType.CDR_IN],
        {"year": str(now.year), "month": str(now.month)},
        now,
        settings.export_window_months,
    )


def pending_export(db: Database, settings: Settings, account_id: int) -> Export:
    """A pending export of the current month, made as POST /v3/cdr_exports makes one."""
    filters, selection = this_month(settings)
    export = Export(
        account_id=account_id,
        api_version=API_VERSION,
        export_type=ExportType.CDR_IN,
        filters=filters,
        selection=selection,
        created_at=datetime.now(UTC),
    )
    insert_export(db, export)
    return export


def _baseline_value(field: Field) -> str:
    """What someone dumping CDRs with the sqlite3 tool would write for each column."""
    if field.kind is Kind.TIMESTAMP:
        return f"substr({field.name}, 1, 19)"
    if field.kind is Kind.AMOUNT:
        return f"printf('%.3f', {field.name} / 1000000.0)"
    return field.name


def baseline_sql(fmt: FileFormat, account_id: int, selection: CdrSelection) -> str:
    columns = ", ".join(_baseline_value(field) for field in fmt.column_fields())
    return (
        f"SELECT {columns} FROM cdrs_in WHERE account_id = {account_id}"
        f" AND time_start >= '{_sqlite_time(selection.start)}'"
        f" AND time_start < '{_sqlite_time(selection.end)}'"
        " ORDER BY time_start DESC, id;"
    )


def run_baseline(sql: str, output: Path) -> Measured:
    return run_measured(["sqlite3", str(database_file()), ".mode csv", f".output {output}", sql])


@dataclass(frozen=True)
class ExportRun:
    export_id: str
    process: Measured
    report: dict

    @property
    def seconds(self) -> float:
        return self.report["build_seconds"]


def run_export(db: Database, settings: Settings, account_id: int) -> ExportRun:
    export = pending_export(db, settings, account_id)
    child = BENCH / "_export_child.py"
    process = run_measured([PYTHON, str(child), str(DATA), str(account_id), export.id])
    return ExportRun(export.id, process, json.loads(process.stdout))


def count_lines(path: Path) -> int:
    lines = 0
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def _same_field(ours: str, theirs: str) -> bool:
    """Equal, or equal amounts: the baseline's float printf may round a half the other way."""
    if ours == theirs:
        return True
    try:
        return abs(Decimal(ours) - Decimal(theirs)) <= Decimal("0.001")
    except ArithmeticError:
        return False


def compare_contents(exported: Path, baseline: Path) -> int:
    """Rows that differ once both files are parsed as CSV (quoting styles differ)."""
    differing = 0
    with open(exported, newline="") as ours, open(baseline, newline="") as theirs:
        next(ours)  # the header line
        for number, (a, b) in enumerate(zip_longest(csv.reader(ours), csv.reader(theirs)), 1):
            if a is None or b is None or len(a) != len(b) or not all(map(_same_field, a, b)):
                if not differing:
                    print(f"  first difference, row {number}:\n    cdrex:   {a}\n    sqlite3: {b}")
                differing += 1
    return differing


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each (median)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="CDRs in the month")
    parser.add_argument(
        "--other-rows", type=int, default=300_000, help="another account's CDRs in the same month"
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="skip parsing both files to compare them row by row",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    print(f"start: {load_note()}")
    prepare_data(args.rows, args.other_rows)
    settings = Settings.from_env(data_dir=DATA)
    db = Database(settings.resolved_database_url)
    account = find_account(db, ACCOUNT)
    sql = baseline_sql(
        file_format(API_VERSION, ExportType.CDR_IN), account.id, this_month(settings)[1]
    )
    baseline_file = DATA / "baseline.csv"

    run_baseline(sql, baseline_file)  # warm the page cache; not timed
    baselines: list[Measured] = []
    exports: list[ExportRun] = []
    for number in range(1, args.runs + 1):
        baselines.append(run_baseline(sql, baseline_file))
        if exports:
            Path(exports[-1].report["file"]).unlink()
        exports.append(run_export(db, settings, account.id))
        print(
            f"run {number}: sqlite3 {baselines[-1].seconds:.2f} s, "
            f"cdrex {exports[-1].seconds:.2f} s",
            flush=True,
        )

    ok = report(args, baselines, exports, baseline_file)
    Path(exports[-1].report["file"]).unlink()
    forget_exports([run.export_id for run in exports])
    return 0 if ok else 1


def forget_exports(ids: list[str]) -> None:
    """Delete the benchmark's export rows: a `cdrex serve` on this data dir would build them."""
    with sqlite3.connect(database_file()) as conn:
        conn.executemany("DELETE FROM exports WHERE id = ?", [(id_,) for id_ in ids])


def report(
    args: argparse.Namespace,
    baselines: list[Measured],
    exports: list[ExportRun],
    baseline_file: Path,
) -> bool:
    last = exports[-1]
    base_s = median([m.seconds for m in baselines])
    export_s = median([e.seconds for e in exports])
    process_s = median([e.process.seconds for e in exports])
    rss = max(e.process.max_rss_mb for e in exports)
    exported_rows = count_lines(Path(last.report["file"])) - 1  # minus the header
    baseline_rows = count_lines(baseline_file)
    rows_ok = exported_rows == baseline_rows == last.report["row_count"] == args.rows
    # Each export against the sqlite3 run just before it: load from elsewhere on the
    # machine drifts slowly, so the pairs' ratios vary less than the ratio of the medians.
    pairs = [e.seconds / b.seconds for e, b in zip(exports, baselines, strict=True)]
    process_pairs = [e.process.seconds / b.seconds for e, b in zip(exports, baselines, strict=True)]
    ratio = median(pairs)
    time_ok, rss_ok = ratio <= TIME_TARGET, rss < RSS_TARGET_MB

    print(
        f"\nexport_sqlite: {args.rows:,} CDRs of one account-month "
        f"(+{args.other_rows:,} of another account), median of {args.runs} runs"
    )
    print(
        f"  sqlite3 tool, .mode csv to a file   {base_s:7.2f} s   "
        f"peak RSS {max(m.max_rss_mb for m in baselines):6.1f} MB"
    )
    print(
        f"  cdrex build_export_file             {export_s:7.2f} s   "
        f"peak RSS {rss:6.1f} MB "
        f"(of which {last.report['rss_before_build_mb']:.1f} MB before the build starts)"
    )
    print(f"  cdrex whole process (incl. startup) {process_s:7.2f} s")
    print(
        f"  ratio export / sqlite3              {ratio:7.2f}x  median of the runs' ratios "
        f"({', '.join(f'{pair:.2f}' for pair in pairs)}); target <= {TIME_TARGET}x: "
        f"{verdict(time_ok)}"
    )
    print(f"  ratio whole process / sqlite3       {median(process_pairs):7.2f}x")
    print(
        f"  peak RSS                            {rss:7.1f} MB  target < {RSS_TARGET_MB} MB: "
        f"{verdict(rss_ok)}"
    )
    print(
        f"  rows: export file {exported_rows:,}, row_count {last.report['row_count']:,}, "
        f"sqlite3 lines {baseline_rows:,}: {'equal' if rows_ok else 'DIFFERENT'}"
    )
    print(f"  end: {load_note()}")
    same = True
    if not args.no_compare:
        differing = compare_contents(Path(last.report["file"]), baseline_file)
        same = differing == 0
        print(f"  contents parsed as CSV: {differing:,} rows differ")
    return time_ok and rss_ok and rows_ok and same


if __name__ == "__main__":
    sys.exit(main())
