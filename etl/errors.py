"""One exception tree; each class carries the exit code the CLI returns (SPEC "Exit codes").

Exit 3 (validation held back some data) is no exception: held-back data is a result, and the run goes on
with the other registers; HELD_BACK is that code, wherever a result computes its exit code.
"""

from __future__ import annotations

HELD_BACK = 3  # the exit code of a run whose validation held back some data


class PosyncError(Exception):
    """A runtime failure: a register that can't be read, a disk that is full. Exit 1."""

    exit_code = 1
    transient = False


class TransientError(PosyncError):
    """A failure worth retrying on the next cycle: share unreachable, file locked, timeout."""

    transient = True


class ConfigError(PosyncError):
    """Bad usage or configuration: a mapping, a remote definition, a flag. Exit 2."""

    exit_code = 2


class StoreLocked(PosyncError):
    """Another posync run holds the main store. Exit 4."""

    exit_code = 4
    transient = True
