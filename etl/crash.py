"""No exception escapes a register: an unexpected error becomes that register's own error.

Whatever goes wrong while posync reads, checks or merges one register — a bug, a value no rule
foresaw, a library raising something new — is reported as that register's error in one line, with
a log row, and the traceback kept in a crash file under the working folder for whoever fixes it;
the other registers go on, and `watch` survives (FAULTS 43). Ctrl-C and SIGTERM are not a
register's error: they stop the run (KeyboardInterrupt, exit 130; FAULTS 49).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

import duckdb

from etl.errors import PosyncError
from etl.i18n import Said


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def write(folder: Path, what: str) -> Path:
    """Keep the current exception's traceback in folder/crashes (or the system's temp folder)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    text = f"posync {what}, pid {os.getpid()}, {dt.datetime.now().isoformat()}\n\n{traceback.format_exc()}"
    for base in (folder / "crashes", Path(tempfile.gettempdir()) / "posync-crashes"):
        with contextlib.suppress(OSError):
            base.mkdir(parents=True, exist_ok=True)
            path = base / f"{stamp}-{''.join(c if c.isalnum() or c in '-_' else '_' for c in what)[:60]}.txt"
            path.write_text(text, encoding="utf-8", errors="backslashreplace")
            return path
    return Path("(no crash file could be written)")


@contextlib.contextmanager
def contained(folder: Path, register: str, doing: str) -> Iterator[None]:
    """Turn any unexpected exception inside into a PosyncError of this register (Ctrl-C stays Ctrl-C)."""
    try:
        yield
    except PosyncError:
        raise
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except Exception as err:  # noqa: BLE001 - the point: nothing unexpected escapes a register
        path = write(folder, f"{register} {doing}")
        raise PosyncError(Said("register %(register)s: unexpected error while %(doing)s (%(kind)s: %(line)s); the "
                               "details are in %(path)s.", register=register, doing=doing, kind=type(err).__name__,
                               line=first_line(err), path=str(path))) from None
