"""Retry schedule for callbacks that did not get a 2xx (spec 9.1): the delays, and the one
before a given attempt. Whether a failed callback is retried is cdrex.worker.retry's.
"""

from __future__ import annotations

from collections.abc import Sequence

# Delays before attempts 2..10, as DIDWW documents: 1 min, 10 min, 30 min, 1 h, 3 h, 6 h,
# 12 h, 1 day, 2 days; after the 10th attempt the callback is dropped.
RETRY_DELAYS_SECONDS: tuple[int, ...] = (60, 600, 1800, 3600, 10800, 21600, 43200, 86400, 172800)


def next_attempt_delay(attempts_made: int, delays: Sequence[int]) -> int | None:
    """Seconds to wait before the next attempt, or None when the callback should be dropped.

    `attempts_made` counts attempts already sent; the first attempt (0 made) goes at once.
    """
    if attempts_made < 0:
        raise ValueError("attempts_made must not be negative")
    if attempts_made == 0:
        return 0
    if attempts_made > len(delays):
        return None
    return delays[attempts_made - 1]


def parse_delays(text: str) -> tuple[int, ...]:
    """Parse a comma-separated list of non-negative seconds ("1,1,2") from a setting.

    An empty or blank string means no retries; anything else malformed raises ValueError so a
    typo in the environment stops startup instead of silently changing the schedule.
    """
    if not text.strip():
        return ()
    delays = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit():
            raise ValueError(f"retry delays must be non-negative whole seconds, got {item!r}")
        delays.append(int(item))
    return tuple(delays)
