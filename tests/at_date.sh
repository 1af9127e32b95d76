#!/usr/bin/env bash
# Run pytest as if the UTC clock read DATE, in every process the tests start (servers, the
# CLI, workers): libfaketime (Debian's `faketime`) shifts the wall clock by a fixed offset, so
# time still runs and every process agrees on it. PostgreSQL's own clock is not shifted;
# cdrex never asks it for the time.
#   tests/at_date.sh '2026-12-01 00:05:00' tests/test_worker_fleet.py -q
set -euo pipefail
target=$(date -u -d "$1 UTC" +%s)
shift
offset=$((target - $(date -u +%s)))
cd "$(dirname "$0")/.."
export FAKETIME_DONT_FAKE_MONOTONIC=1  # timeouts and sleeps keep the real monotonic clock
exec faketime -f "$(printf '%+d' "$offset")" .venv/bin/python -m pytest -p no:cacheprovider "$@"
