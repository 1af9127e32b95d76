"""Helpers the benchmarks share: where their data lives, timed subprocesses, reporting."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"  # gitignored; data sets are kept here and reused on rerun
PYTHON = sys.executable
TIME = "/usr/bin/time"  # GNU time


def cdrex(data_dir: Path, *args: str) -> str:
    """Run the operator's CLI, as an operator would; return its standard output."""
    done = subprocess.run(
        [PYTHON, "-m", "cdrex", "--data-dir", str(data_dir), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


@dataclass(frozen=True)
class Measured:
    seconds: float  # wall time of the whole process
    max_rss_mb: float  # the child's peak resident set, from wait4()
    stdout: bytes


def run_measured(command: Sequence[str]) -> Measured:
    """Run a command to completion; its wall time and its own peak RSS (not ours).

    GNU time reports the RSS: a child forked from this (large) Python process and
    reaped here would count our pages too, since exec keeps the old peak.
    """
    with tempfile.NamedTemporaryFile("r") as rss:
        started = time.perf_counter()
        done = subprocess.run(
            [TIME, "-f", "%M", "-o", rss.name, *command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.decode()}")
        return Measured(seconds, int(rss.read().split()[-1]) / 1024, done.stdout)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def load_note() -> str:
    """The machine's load, printed with the results: other work on it skews both sides."""
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    warning = "  (busy machine: figures are noisy, rerun when idle)" if one >= cores * 0.75 else ""
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {cores} cores{warning}"


# wrk Lua: each thread numbered (``id``, from 1), for values unique to thread and request.
WRK_THREAD_IDS = """
local threads = 0
function setup(thread)
   threads = threads + 1
   thread:set("id", threads)
end
"""
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_latency_ms(output: str, percentile: str) -> float:
    """A latency percentile ("99") from the output of ``wrk --latency``, in ms."""
    found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if found is None:
        raise ValueError(f"no {percentile}% latency in wrk's output")
    value, unit = found.groups()
    return float(value) * _UNITS_MS[unit]
