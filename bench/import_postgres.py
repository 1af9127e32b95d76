"""Benchmark (f): `cdrex cdrs import` of a 1,000,000-row file into PostgreSQL, against psql.

The file holds generated calls of the last 3 months in the record format, as
bench/import_sqlite.py writes it (kept in bench/.work/postgres/). Database
``cdrex_bench_import`` as ``cdrex migrate`` leaves it (monthly partitions around the
current month, so every call has its month's), one account. Before each run the table is
emptied (TRUNCATE cdrs_in RESTART IDENTITY) and a CHECKPOINT is taken, so that no run
pays for the previous one's dirty pages.

- cdrex: ``cdrex cdrs import FILE --account bench`` with CDREX_DATABASE_URL set: the whole
  process, and net of the CLI's start-up (the median time of ``cdrex accounts list``).
- baseline: ``psql -c "\\copy cdrs_in (account_id, ...) FROM FILE (FORMAT csv)"``, the same
  table with the same indexes. Its file is the same rows in the form the table stores
  them (account id, amounts in millionths): dumped from the table after an untimed cdrex
  import, and checked to load back to identical contents (a hash over every row).

Runs alternate between the two; figures are medians, the ratio is the median of the runs'
ratios. The issue sets no target: the figures are for the record.

Usage: .venv/bin/python bench/import_postgres.py [--runs 3] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import _pg_data
from _common import PYTHON, Measured, cdrex, load_note, median, run_measured
from cdrex.cdrs.records import INBOUND_FIELDS
from import_sqlite import write_csv

DATABASE = "cdrex_bench_import"
ACCOUNT = "bench"
DATA_DIR = _pg_data.DATA / "import-data-dir"  # the CLI's --data-dir (holds nothing here)
COLUMNS = ", ".join(_pg_data.COLUMNS)
FIELDS = ", ".join(field.name for field in INBOUND_FIELDS)


def psql(command: str) -> list[str]:
    return [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        _pg_data.url(DATABASE),
        "-c",
        command,
    ]


def empty_table() -> None:
    with _pg_data.connect(DATABASE) as conn:
        conn.execute("TRUNCATE cdrs_in RESTART IDENTITY")
        conn.execute("CHECKPOINT")


def contents() -> tuple[int, int]:
    """Row count and a hash over every row's values (ids aside)."""
    with _pg_data.connect(DATABASE) as conn:
        return conn.execute(
            f"SELECT count(*), coalesce(sum(hashtext(ROW(account_id, {FIELDS})"
            "::text)::bigint), 0) FROM cdrs_in"
        ).fetchone()


def run_cdrex(source: Path) -> Measured:
    empty_table()
    return run_measured(
        [
            PYTHON,
            "-m",
            "cdrex",
            "--data-dir",
            str(DATA_DIR),
            "cdrs",
            "import",
            str(source),
            "--account",
            ACCOUNT,
        ]
    )


def run_psql(table_file: Path) -> Measured:
    empty_table()
    return run_measured(psql(f"\\copy cdrs_in ({COLUMNS}) FROM '{table_file}' (FORMAT csv)"))


def prepare(rows: int) -> tuple[Path, Path]:
    """The record-format file, the same rows as the table stores them, an empty table."""
    source = _pg_data.DATA / f"calls-{rows}.csv"
    table_file = _pg_data.DATA / f"calls-{rows}.table.csv"
    if not source.exists():
        print(f"writing {source.name} (about a minute per million rows)...", flush=True)
        write_csv(source, rows)
    _pg_data.create_database(DATABASE)
    cdrex(DATA_DIR, "migrate")  # the schema, and partitions for the months around now
    cdrex(DATA_DIR, "accounts", "create", ACCOUNT)
    run_cdrex(source)  # untimed: also leaves the rows to dump for the baseline
    imported = contents()
    if not table_file.exists():
        subprocess.run(
            psql(
                f"\\copy (SELECT {COLUMNS} FROM cdrs_in ORDER BY id) TO '{table_file}' (FORMAT csv)"
            ),
            check=True,
        )
    run_psql(table_file)
    if contents() != imported or imported[0] != rows:
        raise SystemExit(f"the two loads differ: cdrex {imported}, psql {contents()}")
    print(f"checked: both load the same {rows:,} rows")
    return source, table_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"start: {load_note()}")
    os.environ["CDREX_DATABASE_URL"] = _pg_data.url(DATABASE)  # for every cdrex process
    source, table_file = prepare(args.rows)
    startup = median(
        [
            run_measured(
                [PYTHON, "-m", "cdrex", "--data-dir", str(DATA_DIR), "accounts", "list"]
            ).seconds
            for _ in range(args.runs)
        ]
    )
    imports: list[float] = []
    copies: list[float] = []
    for number in range(1, args.runs + 1):
        imports.append(run_cdrex(source).seconds)
        assert contents()[0] == args.rows
        copies.append(run_psql(table_file).seconds)
        print(
            f"run {number}: cdrex import {imports[-1]:.2f} s, psql \\copy {copies[-1]:.2f} s",
            flush=True,
        )
    pairs = [ours / theirs for ours, theirs in zip(imports, copies, strict=True)]
    net_pairs = [(ours - startup) / theirs for ours, theirs in zip(imports, copies, strict=True)]
    cdrex_s, psql_s = median(imports), median(copies)
    print(
        f"\nimport_postgres: {args.rows:,} CDRs ({source.stat().st_size / 1e6:.0f} MB "
        f"record-format CSV), median of {args.runs} runs"
    )
    print(
        f"  psql \\copy (table's own form)       {psql_s:7.2f} s  {args.rows / psql_s:9,.0f} rows/s"
    )
    print(
        f"  cdrex cdrs import, whole process    {cdrex_s:7.2f} s  "
        f"{args.rows / cdrex_s:9,.0f} rows/s   {median(pairs):.2f}x psql "
        f"({', '.join(f'{pair:.2f}' for pair in pairs)})"
    )
    print(
        f"  cdrex, net of start-up ({startup:.2f} s)    {cdrex_s - startup:7.2f} s  "
        f"{args.rows / (cdrex_s - startup):9,.0f} rows/s   {median(net_pairs):.2f}x psql"
    )
    print(f"  end: {load_note()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
