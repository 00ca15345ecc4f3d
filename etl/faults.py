"""Test-only fault points: pause or fail at a named stage so a kill lands there deterministically.

POSYNC_PAUSE_AT=stage        touch $POSYNC_PAUSE_FILE (if set) and sleep until killed, or until the file
                             $POSYNC_RESUME_FILE (if set) exists: then go on (a window for the test to
                             act on the paused run's surroundings, e.g. end its PostgreSQL lock session).
POSYNC_FAIL_AT=stage         raise an error at that stage (drives the fault-point loop).
POSYNC_CRASH_AT=stage        raise an unexpected exception (a RuntimeError, as a bug would) at that stage.
POSYNC_SLEEP_AT=stage:secs   touch $POSYNC_PAUSE_FILE (if set), sleep that long, go on (a window for the
                             test to pull the share away, or write to the register, mid-copy).
A stage may be written `stage#N`: only the N-th time this process reaches it (e.g. `merge#2`, the second
register's merge). All are read at each call, so they cost nothing when unset.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from etl.errors import PosyncError

STAGES = ("copy", "copying", "copied", "attach", "extract", "stage", "validate", "merge", "merge_rows", "commit", "log",
          "push_backup", "push_apply", "push_apply_mid", "push_mark", "lock_proved")

_hits: dict[str, int] = {}


def _wanted(variable: str, stage: str) -> str | None:
    """The value of POSYNC_*_AT after its stage part, when it names this stage (and this hit)."""
    value = os.environ.get(variable)
    if not value:
        return None
    spec, _, rest = value.partition(":")
    name, _, nth = spec.partition("#")
    if name != stage or (nth and _hits.get(stage) != int(nth)):
        return None
    return rest


def _touch_marker(stage: str) -> None:
    if marker := os.environ.get("POSYNC_PAUSE_FILE"):
        Path(marker).write_text(f"{os.getpid()} {stage}\n")


def checkpoint(stage: str) -> None:
    """Pause, sleep or fail here when a test asks for it."""
    _hits[stage] = _hits.get(stage, 0) + 1
    if _wanted("POSYNC_FAIL_AT", stage) is not None:
        raise PosyncError(f"injected failure at stage {stage} (POSYNC_FAIL_AT).")
    if _wanted("POSYNC_CRASH_AT", stage) is not None:
        raise RuntimeError(f"injected crash at stage {stage} (POSYNC_CRASH_AT)")
    if (seconds := _wanted("POSYNC_SLEEP_AT", stage)) is not None:
        _touch_marker(stage)
        time.sleep(float(seconds or 1))
    if _wanted("POSYNC_PAUSE_AT", stage) is not None:
        _touch_marker(stage)
        resume = os.environ.get("POSYNC_RESUME_FILE")
        while not (resume and Path(resume).exists()):  # the test kills us here, or lets us go on
            time.sleep(0.05)
