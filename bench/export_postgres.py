"""Benchmarks (a) to (e) of issue 3: exports from PostgreSQL, 5,000,000 CDRs, 100 accounts.

Data: bench/_pg_data.py (generated once, then reused): a time-ordered heap as a live feed
builds it, and a copy whose closed months are clustered by (account_id, time_start, id).

Every figure comes from a fresh process (bench/_pg_child.py) that opens its connection,
runs one query, then times its work; GNU time gives its peak RSS. Kinds:
  raw    the very COPY statement cdrex runs, read by psycopg into /dev/null (the baseline)
  cdrex  ``build_export_file``, as a worker runs it: header, rows, (gzip,) SHA-256, a
         temporary file, fsync, rename; .csv and .csv.gz (the pipeline's gzip stage)
  yeti   the yeti-web way: the COPY output collected in one in-memory object, gzip -9
         with Python's gzip module, then written to a file
  cdrex with slices: ``build_export_file(..., slices=N)``, the time range cut into N
         slices copied in parallel (gzip members and CSV bodies concatenate)
Runs alternate between the kinds; each ratio is the median of the per-run ratios.

(a)+(c) one account-month (bench-050, the last full month, ~17,000 rows), on both
        layouts; here each of --runs processes does every kind --rounds times,
        round-robin, and each ratio pairs two times of the same round (moments apart).
        Targets: cdrex .csv <= 1.15x raw, .csv.gz <= 1.5x raw, on each layout. (c) is
        the heap / clustered ratio of the same export.
(a)+(d) 1,000,000 rows: one account's month (bench.one_account: that month's newest
        calls of all accounts, stored as a big customer's clustered month). Same
        targets; and (d): yeti's time >= 3x cdrex .csv.gz's, yeti's peak RSS >= 10x
        cdrex's.
(b)     the same 1,000,000 rows in --slices slices, .csv and .csv.gz; target <= 0.8x raw.
(e)     every row, 5,000,000 (the view bench.all_accounts: PostgreSQL sorts them all),
        once each (--skip-5m leaves it out): cdrex .csv.gz peak RSS under 150 MB; raw and
        yeti alongside (d's memory ratio at that size).
Before the timed runs every kind runs once untimed (that warms the caches) and its CSV is
checked: the SHA-256 of the raw COPY's output with the header must equal that of the
cdrex file (decompressed for .csv.gz), yeti's and the sliced file's, and the row counts.
Exit status 1 when a target is missed or a check fails.

Usage: .venv/bin/python bench/export_postgres.py [--runs 5] [--rounds 5] [--big-runs 3]
       [--slices 2] [--skip-big] [--skip-5m] [--gzip-level N]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
from dataclasses import dataclass, replace

import _pg_child
import _pg_data
from _common import load_note, median, verdict
from _pg_child import Spec
from cdrex.exports.model import CdrSelection
from cdrex.pipeline.build import build_export_file
from cdrex.settings import Settings

OUT = _pg_data.DATA / "exports"
ACCOUNT = _pg_data.account_name(50)
BIG_ROWS = _pg_data.ONE_ACCOUNT_ROWS
CSV_TARGET, GZ_TARGET, SLICES_TARGET = 1.15, 1.5, 0.8
YETI_TIME_TARGET, YETI_RSS_TARGET, RSS_TARGET_MB = 3.0, 10.0, 150
PIPELINE_SLICES = "slices" in inspect.signature(build_export_file).parameters


@dataclass(frozen=True)
class Case:
    label: str
    kind: str
    spec: Spec


@dataclass(frozen=True)
class Result:
    seconds: float  # median of the child's repetitions
    max_rss_mb: float  # the child process's peak, from GNU time
    report: dict


Results = dict[str, list[Result]]


def spec_for(
    database: str, table: str, account: int, selection: CdrSelection, **options: object
) -> Spec:
    return Spec(
        url=_pg_data.url(database),
        table=table,
        account_id=account,
        start=selection.start.isoformat(),
        end=selection.end.isoformat(),
        out_dir=str(OUT),
        **options,
    )


def cases_for(
    prefix: str, spec: Spec, gzip_level: int, yeti: bool = False, slices: int = 0
) -> list[Case]:
    bound = _pg_child.bound("raw", spec)  # the COPY statement, bound once
    cases = [
        Case(f"{prefix}raw", "raw", bound),
        Case(f"{prefix}cdrex .csv", "cdrex", spec),
        Case(
            f"{prefix}cdrex .csv.gz",
            "cdrex",
            replace(spec, suffix=".csv.gz", gzip_level=gzip_level),
        ),
    ]
    if yeti:
        cases.append(Case(f"{prefix}yeti", "yeti", bound))
    if slices:
        cases += [
            Case(f"{prefix}cdrex .csv, {slices} slices", "cdrex", replace(spec, slices=slices)),
            Case(
                f"{prefix}cdrex .csv.gz, {slices} slices",
                "cdrex",
                replace(spec, suffix=".csv.gz", gzip_level=gzip_level, slices=slices),
            ),
        ]
    return cases


def check(cases: list[Case]) -> bool:
    """One untimed run of each (warms the caches); every CSV must be the raw COPY's."""
    reports = {
        case.label: _pg_child.run(case.kind, replace(case.spec, keep=True, repeat=1))[1]
        for case in cases
    }
    raw = reports[cases[0].label]
    ok = True
    for label, report in reports.items():
        same = report["sha256"] == raw["sha256"] and report["rows"] == raw["rows"]
        gzipped = report.get("gzipped")
        note = "" if gzipped is None else (" (gzip)" if gzipped else " (NOT gzipped)")
        if ".csv.gz" in label and gzipped is False:
            same = False  # the pipeline has no gzip stage: nothing to judge
        print(
            f"  check {label:28} {report['rows']:>9,} rows  "
            f"{'same CSV as raw' if same else 'DIFFERENT'}{note}"
        )
        ok &= same
    return ok


def measure(cases: list[Case], runs: int) -> Results:
    results: Results = {case.label: [] for case in cases}
    for number in range(1, runs + 1):
        line = []
        for case in cases:
            measured, report = _pg_child.run(case.kind, case.spec)
            result = Result(median(report["seconds"]), measured.max_rss_mb, report)
            results[case.label].append(result)
            line.append(f"{case.label} {result.seconds * 1000:.0f} ms")
        print(f"  run {number}: " + ", ".join(line), flush=True)
    return results


def measure_rounds(cases: list[Case], runs: int, rounds: int) -> Results:
    """``runs`` processes, each doing every case ``rounds`` times round-robin; a Result per
    round, so that each ratio pairs two times taken moments apart."""
    results: Results = {case.label: [] for case in cases}
    for number in range(1, runs + 1):
        measured, reports = _pg_child.run_mixed([(case.kind, case.spec) for case in cases], rounds)
        for case, report in zip(cases, reports, strict=True):
            results[case.label] += [
                Result(seconds, measured.max_rss_mb, report) for seconds in report["seconds"]
            ]
        print(
            f"  run {number}: "
            + ", ".join(
                f"{case.label} {median(report['seconds']) * 1000:.0f} ms"
                for case, report in zip(cases, reports, strict=True)
            ),
            flush=True,
        )
    return results


def ratio(results: Results, label: str, base: str) -> tuple[float, list[float]]:
    pairs = [a.seconds / b.seconds for a, b in zip(results[label], results[base], strict=True)]
    return median(pairs), pairs


def table(title: str, results: Results, base: str) -> None:
    print(f"\n{title}")
    print(f"  {'':28} {'median':>10} {'peak RSS':>9}  {'ratio to ' + base:>18}")
    for label, runs in results.items():
        seconds = median([run.seconds for run in runs])
        rss = max(run.max_rss_mb for run in runs)
        value, pairs = ratio(results, label, base)
        print(f"  {label:28} {_time(seconds):>10} {rss:7.1f}MB  {value:6.2f}x ({spread(pairs)})")


def spread(pairs: list[float]) -> str:
    """The per-run ratios, or their quartiles when there are many."""
    if len(pairs) <= 6:
        return ", ".join(f"{pair:.2f}" for pair in pairs)
    low, _, high = statistics.quantiles(pairs, n=4)
    return f"{len(pairs)} pairs, quartiles {low:.2f}-{high:.2f}"


def _time(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def judge(results: Results, label: str, base: str, target: float, what: str) -> bool:
    value, pairs = ratio(results, label, base)
    ok = value <= target
    print(
        f"  {what}: {label} / {base} = {value:.2f}x ({spread(pairs)}), target <= {target}x: "
        f"{verdict(ok)}"
    )
    return ok


def gz_landed(results: Results, label: str) -> bool:
    return all(run.report["gzipped"] for run in results[label])


def account_month(args: argparse.Namespace, data: _pg_data.DataSet) -> bool:
    month = data.closed_month
    account = _pg_data.account_id(_pg_data.HEAP, ACCOUNT)
    rows = _pg_data.count_rows(_pg_data.HEAP, "cdrs_in", account, month)
    print(
        f"\n(a)+(c) one account-month: {ACCOUNT}, {month.start:%Y-%m}, {rows:,} rows; "
        f"{args.runs} processes, each doing every kind {args.rounds} times round-robin"
    )
    cases = []
    for layout, database in (("heap", _pg_data.HEAP), ("clustered", _pg_data.CLUSTERED)):
        spec = spec_for(database, "cdrs_in", account, month)
        cases += cases_for(f"{layout} ", spec, args.gzip_level)
    ok = check(cases)
    results = measure_rounds(cases, args.runs, args.rounds)
    table(
        "(a)+(c) one account-month: median time per export (peak RSS: the whole process "
        "running all six)",
        results,
        "clustered raw",
    )
    for layout in ("clustered", "heap"):
        ok &= judge(results, f"{layout} cdrex .csv", f"{layout} raw", CSV_TARGET, "(a) .csv")
        if gz_landed(results, f"{layout} cdrex .csv.gz"):
            ok &= judge(
                results, f"{layout} cdrex .csv.gz", f"{layout} raw", GZ_TARGET, "(a) .csv.gz"
            )
        else:
            print("  (a) .csv.gz: the pipeline does not gzip yet: not judged")
            ok = False
    for kind in ("raw", "cdrex .csv"):
        value, pairs = ratio(results, f"heap {kind}", f"clustered {kind}")
        print(
            f"  (c) layout, {kind}: time-ordered heap / clustered = {value:.2f}x ({spread(pairs)})"
        )
    for case in cases:
        if case.kind == "raw":
            pages = _pg_data.pages_touched(case.spec.url, case.spec.copy_sql)
            print(f"  (c) pages the query touches, {case.label.split()[0]}: {pages:,}")
    print(f"  (c) clustered by: {_pg_data.cluster_method()}")
    return ok


def big_export(args: argparse.Namespace, data: _pg_data.DataSet) -> bool:
    month = data.closed_month
    spec = spec_for(_pg_data.CLUSTERED, _pg_data.ONE_ACCOUNT, _pg_data.ONE_ACCOUNT_ID, month)
    print(
        f"\n(a)+(b)+(d) {BIG_ROWS:,}-row export: {_pg_data.ONE_ACCOUNT}, one account's "
        f"{month.start:%Y-%m}, stored as a clustered month"
    )
    slices = args.slices if PIPELINE_SLICES else 0
    if args.slices and not slices:
        print("  (b): build_export_file has no slices yet: not measured")
    cases = cases_for("", spec, args.gzip_level, yeti=True, slices=slices)
    ok = check(cases)
    results = measure(cases, args.big_runs)
    table(f"(a)+(b)+(d) {BIG_ROWS:,} rows", results, "raw")
    ok &= judge(results, "cdrex .csv", "raw", CSV_TARGET, "(a) .csv")
    if gz_landed(results, "cdrex .csv.gz"):
        ok &= judge(results, "cdrex .csv.gz", "raw", GZ_TARGET, "(a) .csv.gz")
        ok &= yeti_verdict(results)
    else:
        print("  (a) .csv.gz and (d): the pipeline does not gzip yet: not judged")
        ok = False
    for label in results:
        if "slices" in label:
            ok &= judge(results, label, "raw", SLICES_TARGET, "(b)")
    return ok


def yeti_verdict(results: Results, cdrex: str = "cdrex .csv.gz") -> bool:
    """(d): judged on each process's peak RSS; also shown, what the export itself added
    (the peak less the RSS before the work: the interpreter and imports aside)."""
    times, _ = ratio(results, "yeti", cdrex)
    yeti, ours = (max(results[label], key=lambda run: run.max_rss_mb) for label in ("yeti", cdrex))
    peak = yeti.max_rss_mb / ours.max_rss_mb
    added = [run.max_rss_mb - run.report["rss_before_mb"] for run in (yeti, ours)]
    time_ok, rss_ok = times >= YETI_TIME_TARGET, peak >= YETI_RSS_TARGET
    print(
        f"  (d) yeti / {cdrex}: time {times:.2f}x, target >= {YETI_TIME_TARGET}x: "
        f"{verdict(time_ok)}"
    )
    print(
        f"  (d) peak RSS {yeti.max_rss_mb:.0f} MB / {ours.max_rss_mb:.0f} MB = {peak:.1f}x, "
        f"target >= {YETI_RSS_TARGET}x: {verdict(rss_ok)}; added by the export "
        f"{added[0]:.0f} MB / {added[1]:.1f} MB = {added[0] / max(added[1], 0.1):.0f}x"
    )
    return time_ok and rss_ok


def everything(args: argparse.Namespace, data: _pg_data.DataSet) -> bool:
    selection = data.everything
    spec = spec_for(_pg_data.CLUSTERED, _pg_data.ALL_ACCOUNTS, _pg_data.ALL_ACCOUNTS_ID, selection)
    print(
        f"\n(e) every row: all accounts, {selection.start:%Y-%m-%d} to {selection.end:%Y-%m-%d}"
        ", clustered layout, once each (no check run)"
    )
    cases = [
        case
        for case in cases_for("", spec, args.gzip_level, yeti=True)
        if case.label != "cdrex .csv"
    ]
    results = measure(cases, 1)
    table(f"(e) {results['raw'][0].report['rows']:,} rows", results, "raw")
    gz = results["cdrex .csv.gz"][0]
    rss_ok = gz.max_rss_mb < RSS_TARGET_MB and gz.report["rows"] == data.rows
    print(
        f"  (e) cdrex .csv.gz (gzipped: {gz.report['gzipped']}): {gz.report['rows']:,} rows, "
        f"{gz.report['file_bytes'] / 1e6:.0f} MB file, peak RSS {gz.max_rss_mb:.1f} MB "
        f"({gz.report['rss_before_mb']:.1f} MB before the build), target < {RSS_TARGET_MB} MB:"
        f" {verdict(rss_ok)}"
    )
    if gz.report["gzipped"]:
        yeti_verdict(results)  # informative at this size: (d) is judged on 1,000,000 rows
    return rss_ok


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="account-month processes")
    parser.add_argument(
        "--rounds", type=int, default=5, help="account-month rounds of every kind per process"
    )
    parser.add_argument("--big-runs", type=int, default=3, help="1,000,000-row runs (median)")
    parser.add_argument("--slices", type=int, default=2, help="(b) slices; 0 leaves (b) out")
    parser.add_argument("--skip-big", action="store_true", help="leave the 1,000,000 rows out")
    parser.add_argument("--skip-5m", action="store_true", help="leave (e) out")
    parser.add_argument(
        "--gzip-level",
        type=int,
        default=Settings.from_env().gzip_level,
        help="the pipeline's gzip level [CDREX_GZIP_LEVEL, default %(default)s]",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    print(f"start: {load_note()}")
    data = _pg_data.prepare()
    OUT.mkdir(parents=True, exist_ok=True)
    ok = account_month(args, data)
    if not args.skip_big:
        ok &= big_export(args, data)
    if not args.skip_5m:
        ok &= everything(args, data)
    print(f"\nend: {load_note()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
