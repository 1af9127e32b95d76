"""Loaded only under tests/at_date.sh (through PYTHONPATH), in every Python process.

libfaketime 0.9.10 fails ``time.sleep`` with EINVAL when the monotonic clock is left real
(FAKETIME_DONT_FAKE_MONOTONIC, which threading's timed waits need: they would otherwise
wait for a shifted deadline that never comes). ``select`` with a timeout is untouched by it,
so sleep through that.
"""

import select
import time


def _sleep(seconds: float) -> None:
    select.select([], [], [], seconds)


time.sleep = _sleep
