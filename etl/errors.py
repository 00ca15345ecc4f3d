"""One exception tree; each class carries the exit code the CLI returns (SPEC "Exit codes")."""

from __future__ import annotations


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


class ValidationRejected(PosyncError):
    """Validation held back some data. Exit 3."""

    exit_code = 3


class StoreLocked(PosyncError):
    """Another posync run holds the main store. Exit 4."""

    exit_code = 4
    transient = True
