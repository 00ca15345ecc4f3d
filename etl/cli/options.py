"""Shared click options and parameter types, defined once and stacked on commands."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import click

from etl.remotes import NAME_RE
from etl.store import Store, open_store


class DateType(click.ParamType[dt.date, Any]):
    """YYYY-MM-DD, today or yesterday."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        text = str(value).strip().lower()
        if text == "today":
            return dt.date.today()
        if text == "yesterday":
            return dt.date.today() - dt.timedelta(days=1)
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is not a date; use YYYY-MM-DD, today or yesterday.", param, ctx)


class ProcessDate(DateType):
    """A process date: a day that has happened (today at the latest), else a usage error naming today."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        day = super().convert(value, param, ctx)
        today = dt.date.today()
        if day > today:
            self.fail(f"{day} is after today ({today}): a day that has not happened has no sales to import.",
                      param, ctx)
        return day


class RemoteName(click.ParamType[str, Any]):
    """A register name: [A-Za-z0-9_-]{1,64}."""

    name = "REMOTE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not NAME_RE.fullmatch(str(value)):
            self.fail(f"{value!r} is not a register name; use 1-64 letters, digits, '_' or '-'.", param, ctx)
        return str(value)


DATE = DateType()
PROCESS_DATE = ProcessDate()
REMOTE = RemoteName()

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
remotes_option = click.option(
    "--remote", "-r", "remotes", type=REMOTE, multiple=True, help="Only this register (repeatable). Default: all."
)
date_option = click.option("--date", "-d", "process_date", type=PROCESS_DATE, required=True,
                           help="Process date: YYYY-MM-DD, today or yesterday.")


def run_note(store: Store) -> str:
    """One sentence about the run holding the store while a listing reads it."""
    run = store.run or {}
    who = run.get("command") or "a posync run"
    pid = f" (pid {run['pid']})" if run.get("pid") else ""
    since = f", started {run['started']}" if run.get("started") else ""
    stage = f", now: {run['stage']}" if run.get("stage") else ""
    shown = (f"showing main as of the last finished run ({store.as_of})" if store.as_of
             else "no run has finished yet" if not store.is_postgres else "showing main as it is now")
    return f"a run is in progress: {who}{pid}{since}{stage}; {shown}."


def _with_store(create: bool = False, read_only: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Open the main store for the command (see etl.store.open_store), and close it afterwards."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        @click.pass_context
        def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
            store: Store = open_store(ctx.obj.get("db") if ctx.obj else None, create=create, read_only=read_only)
            if store.run is not None and not fn.__name__.startswith("status"):  # status says it in its report
                click.echo(f"note: {run_note(store)}", err=True)
            try:
                return fn(store, *args, **kwargs)
            finally:
                store.close()

        return wrapper

    return decorate


pass_store = _with_store()  # a command that changes main: the run lock, the working folder
creating_store = _with_store(create=True)  # the commands that set a store up (remote add, catalogs load, numbering set)
reading_store = _with_store(read_only=True)  # listings and status: no lock, no working folder, nothing created
