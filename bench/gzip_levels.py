"""Benchmark (h): which gzip compressor and level for .csv.gz exports.

The input is a real export's CSV: the 1,000,000-row export of bench/export_postgres.py
(one account's month, bench/_pg_data.py), about 130 MB of what ``COPY ... (FORMAT csv)``
renders for the 2017-09-18 columns, kept in bench/.work/postgres/. Each compressor gets
the bytes in 64 KiB chunks, as the pipeline hands them on, and must emit standard gzip
(wbits=31): zlib at levels 1, 6, 9; zlib-ng (``zlib_ng.zlib_ng``) at 1, 6; ISA-L
(``isal.isal_zlib``) at 0 to 3. Each output is checked once by decompressing it with
Python's own gzip module.

Baseline, in the same run: the raw COPY of the same rows, read by psycopg into /dev/null
(bench/_pg_child.py ``raw``), R seconds. The compressor runs on one core while the
PostgreSQL backend uses the other, and an export may take at most 1.5x R, so compression
must fit in what is left once the rest of the export is paid for. The figure judged is
the worst case, no overlap at all between COPY and compression: 1 + C/R, C being the
compression time of the same bytes. A compressor "fits" when that is at most 1.35
(0.15 R is the uncompressed export's own budget over the raw COPY). Runs alternate
between all compressors and the raw COPY; figures are medians.

Usage: .venv/bin/python bench/gzip_levels.py [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from isal import isal_zlib
from zlib_ng import zlib_ng

import _pg_child
import _pg_data
from _common import load_note, median
from _pg_child import API_VERSION, Spec
from cdrex.exports.kinds import file_format
from cdrex.exports.model import ExportType

CHUNK = 64 * 1024  # what the pipeline hands each stage
RAW_BUDGET = 1.5  # a .csv.gz export at most 1.5x the raw COPY
CSV_SHARE = 0.15  # of which the uncompressed export's own overhead may take this much
FIT = RAW_BUDGET - CSV_SHARE
NEAR = 0.03  # an output this much larger is as good, if the compressor is faster

Compressor = Callable[[], object]  # a compressobj factory
COMPRESSORS: dict[str, Compressor] = {
    **{
        f"zlib {level}": (lambda level=level: zlib.compressobj(level, zlib.DEFLATED, 31))
        for level in (1, 6, 9)
    },
    **{
        f"zlib-ng {level}": (lambda level=level: zlib_ng.compressobj(level, zlib_ng.DEFLATED, 31))
        for level in (1, 6)
    },
    **{
        f"isal {level}": (lambda level=level: isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31))
        for level in (0, 1, 2, 3)
    },
}


def sample_spec() -> tuple[Spec, Path]:
    """The 1,000,000-row export of export_postgres.py, and where its CSV is kept."""
    data = _pg_data.prepare()
    month = data.closed_month
    spec = Spec(
        url=_pg_data.url(_pg_data.CLUSTERED),
        table=_pg_data.ONE_ACCOUNT,
        account_id=_pg_data.ONE_ACCOUNT_ID,
        start=month.start.isoformat(),
        end=month.end.isoformat(),
        out_dir=str(_pg_data.DATA),
    )
    kept = hashlib.sha256(f"{data.signature()} {_pg_data.one_account_signature(data)}".encode())
    return spec, _pg_data.DATA / f"gzip-sample-{kept.hexdigest()[:12]}.csv"


def write_sample(spec: Spec, path: Path) -> bytes:
    if not path.exists():
        sql, params = _pg_data.copy_statement(
            spec.table, spec.format, spec.account_id, spec.selection
        )
        partial = path.with_suffix(".partial")
        with _pg_data.connect(_pg_data.CLUSTERED) as conn, open(partial, "wb") as out:
            out.write(file_format(API_VERSION, ExportType.CDR_IN).header_line)
            with conn.cursor().copy(sql, params) as copy:
                for chunk in copy:
                    out.write(chunk)
        partial.rename(path)
    return path.read_bytes()


@dataclass(frozen=True)
class Compressed:
    seconds: float
    size: int
    output: bytes | None  # kept on the checked run only


def compress(factory: Compressor, data: memoryview, keep: bool) -> Compressed:
    parts: list[bytes] = []
    size = 0
    started = time.perf_counter()
    compressor = factory()
    for offset in range(0, len(data), CHUNK):
        out = compressor.compress(data[offset : offset + CHUNK])
        size += len(out)
        if keep:
            parts.append(out)
    out = compressor.flush()
    seconds = time.perf_counter() - started
    size += len(out)
    parts.append(out)
    return Compressed(seconds, size, b"".join(parts) if keep else None)


def check(name: str, output: bytes, digest: str) -> None:
    assert output[:3] == b"\x1f\x8b\x08", f"{name}: not a gzip member"
    assert hashlib.sha256(gzip.decompress(output)).hexdigest() == digest, f"{name}: round trip"


def raw_copy_seconds(spec: Spec) -> float:
    return _pg_child.run("raw", spec)[1]["seconds"][0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each (median)")
    args = parser.parse_args()
    print(f"start: {load_note()}")
    spec, path = sample_spec()
    data = write_sample(spec, path)
    digest = hashlib.sha256(data).hexdigest()
    view = memoryview(data)
    mb = len(data) / 1e6
    rows = data.count(b"\n") - 1
    print(f"sample: {path.name}, {mb:.1f} MB of CSV, {rows:,} rows")
    raw_copy_seconds(spec)  # warm the page cache: not timed
    raws: list[float] = []
    results: dict[str, list[Compressed]] = {name: [] for name in COMPRESSORS}
    for number in range(1, args.runs + 1):
        raws.append(raw_copy_seconds(spec))
        line = [f"raw COPY {raws[-1]:.2f} s"]
        for name, factory in COMPRESSORS.items():
            result = compress(factory, view, keep=number == 1)
            if result.output is not None:
                check(name, result.output, digest)
                result = Compressed(result.seconds, result.size, None)
            results[name].append(result)
            line.append(f"{name} {result.seconds:.2f} s")
        print(f"run {number}: " + ", ".join(line), flush=True)
    return report(results, raws, len(data))


def report(results: dict[str, list[Compressed]], raws: list[float], size: int) -> int:
    raw = median(raws)
    print(
        f"\ngzip_levels: {size / 1e6:.1f} MB of export CSV, 64 KiB chunks, one thread; "
        f"median of {len(raws)} runs"
    )
    print(
        f"  raw COPY of the same rows into /dev/null: {raw:.2f} s "
        f"({size / 1e6 / raw:.0f} MB/s of CSV)"
    )
    print(
        f"  {'compressor':12} {'MB/s':>7} {'seconds':>8} {'ratio':>7} {'size':>9} "
        f"{'1 + C/R':>8}  fits {FIT:.2f}x (worst case, no overlap)"
    )
    fits = []
    for name, runs in results.items():
        seconds = median([run.seconds for run in runs])
        compressed = runs[0].size
        bound = 1 + seconds / raw
        if bound <= FIT:
            fits.append((compressed, name))
        print(
            f"  {name:12} {size / 1e6 / seconds:7.0f} {seconds:8.2f} "
            f"{size / compressed:6.2f}x {compressed / 1e6:7.1f}MB {bound:7.2f}x  "
            f"{'yes' if bound <= FIT else 'no'}"
        )
    if fits:
        smallest = min(fits)[0]
        near = [name for size, name in fits if size <= smallest * (1 + NEAR)]
        fastest = min(near, key=lambda name: median([run.seconds for run in results[name]]))
        print(
            f"  smallest output that fits: {min(fits)[1]}; the fastest within {NEAR:.0%} of "
            f"its size: {fastest}"
        )
    print(f"  end: {load_note()}")
    return 0 if fits else 1


if __name__ == "__main__":
    sys.exit(main())
