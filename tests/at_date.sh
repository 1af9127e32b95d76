#!/usr/bin/env bash
# Run pytest as if the UTC clock read DATE, in every process the tests start (servers, the
# CLI, workers): libfaketime (Debian's `faketime`) shifts the wall clock by a fixed offset,
# so time still runs and every process agrees on it; the monotonic clock stays real, so
# timeouts and leases behave. PostgreSQL's own clock is not shifted: cdrex never asks it
# for the time.
#   tests/at_date.sh '2027-01-01 00:05:00' tests/test_worker_fleet.py -q
set -euo pipefail
target=$(date -u -d "$1 UTC" +%s)
shift
cd "$(dirname "$0")/.."
export FAKETIME="$(printf '%+d' "$((target - $(date -u +%s)))")"
export FAKETIME_DONT_FAKE_MONOTONIC=1
export LD_PRELOAD="$(find /usr/lib -name libfaketime.so.1 -print -quit)"
export PYTHONPATH="$PWD/tests/at_date${PYTHONPATH:+:$PYTHONPATH}"  # its sitecustomize: sleep
export CDREX_TEST_REAL_PROCESSES=1  # servers and the CLI as processes (tests/conftest.py)
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
