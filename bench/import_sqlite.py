"""Benchmark: `cdrex cdrs import` of a 100,000-row CSV, and `cdrex cdrs generate`, on SQLite.

The CSV holds generated calls with every inbound field, written in the record format
(docs/cdr-record.md). Each run imports into a fresh data directory. Rates are given
for the whole command and net of the CLI's start-up (timed as `cdrex accounts list`).

Target: 50,000 rows/s, net of start-up.

Usage: .venv/bin/python bench/import_sqlite.py [--runs 3] [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from _common import PYTHON, WORK, cdrex, median, run_measured, verdict
from cdrex.cdrs.generate import generate_inbound
from cdrex.cdrs.records import INBOUND_FIELDS, Field, Kind

DATA = WORK / "import-sqlite"
TARGET_ROWS_PER_SECOND = 50_000


def cell(field: Field, value: object) -> str:
    """A parsed value as the record format writes it."""
    if value is None:
        return ""
    if field.kind is Kind.AMOUNT:
        return str(Decimal(value) / 1_000_000)  # type: ignore[arg-type]
    if field.kind is Kind.TIMESTAMP:
        return value.isoformat(" ")  # type: ignore[attr-defined]
    return str(value)


def write_csv(path: Path, rows: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow([field.name for field in INBOUND_FIELDS])
        for record in generate_inbound(rows, 3, datetime.now(UTC)):
            writer.writerow([cell(f, v) for f, v in zip(INBOUND_FIELDS, record, strict=True)])


def fresh_data_dir() -> Path:
    data_dir = DATA / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    cdrex(data_dir, "accounts", "create", "bench")
    return data_dir


def timed(*args: str) -> float:
    data_dir = fresh_data_dir()
    return run_measured([PYTHON, "-m", "cdrex", "--data-dir", str(data_dir), *args]).seconds


def report(label: str, rows: int, seconds: float, startup: float) -> bool:
    net = rows / (seconds - startup)
    print(
        f"{label}: {seconds:.2f} s, {rows / seconds:,.0f} rows/s; net of start-up {net:,.0f} rows/s"
    )
    return net >= TARGET_ROWS_PER_SECOND


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    options = parser.parse_args()
    source = DATA / f"calls-{options.rows}.csv"
    write_csv(source, options.rows)
    startup = median([timed("accounts", "list") for _ in range(options.runs)])
    imports = median(
        [timed("cdrs", "import", str(source), "--account", "bench") for _ in range(options.runs)]
    )
    generates = median(
        [
            timed("cdrs", "generate", "--account", "bench", "--rows", str(options.rows))
            for _ in range(options.runs)
        ]
    )
    print(f"start-up (cdrex accounts list): {startup:.2f} s")
    met = report("import", options.rows, imports, startup)
    report("generate", options.rows, generates, startup)
    print(f"import target {TARGET_ROWS_PER_SECOND:,} rows/s net of start-up: {verdict(met)}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
