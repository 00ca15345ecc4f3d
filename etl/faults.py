"""Test-only fault points: pause or fail at a named stage so a kill lands there deterministically.

POSYNC_PAUSE_AT=stage   touch $POSYNC_PAUSE_FILE (if set) and sleep until killed.
POSYNC_FAIL_AT=stage    raise an error at that stage (drives the fault-point loop).
Both are read at each call, so they cost nothing when unset.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from etl.errors import PosyncError

STAGES = ("copy", "attach", "extract", "stage", "validate", "merge", "commit", "log", "push_backup",
          "push_apply", "push_mark")


def checkpoint(stage: str) -> None:
    """Pause or fail here when a test asks for it."""
    if os.environ.get("POSYNC_FAIL_AT") == stage:
        raise PosyncError(f"injected failure at stage {stage} (POSYNC_FAIL_AT).")
    if os.environ.get("POSYNC_PAUSE_AT") == stage:
        if marker := os.environ.get("POSYNC_PAUSE_FILE"):
            Path(marker).write_text(f"{os.getpid()} {stage}\n")
        while True:  # the test kills us here
            time.sleep(0.05)
