"""The web console ("Administrar POS remotos" in a browser): pages over the same library the CLI calls.

app.py builds the Starlette application; routes/ holds one module per page; jobs.py runs long work in a
background thread with the library's progress callbacks; autosync.py repeats `watch`'s cycle inside the
console; gate.py keeps this process's own readers and writers of the main store apart; security.py and
uploads.py are the request-side guards; server.py binds the socket and runs uvicorn.
"""

from __future__ import annotations

from etl.console.config import ConsoleConfig

__all__ = ["ConsoleConfig"]
