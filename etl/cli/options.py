"""Shared click options and parameter types, defined once and stacked on commands."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import click

from etl.remotes import NAME_RE
from etl.store import Store, open_store


class DateType(click.ParamType):
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


class RemoteName(click.ParamType):
    """A register name: [A-Za-z0-9_-]{1,64}."""

    name = "REMOTE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not NAME_RE.fullmatch(str(value)):
            self.fail(f"{value!r} is not a register name; use 1-64 letters, digits, '_' or '-'.", param, ctx)
        return str(value)


DATE = DateType()
REMOTE = RemoteName()

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
remotes_option = click.option(
    "--remote", "-r", "remotes", type=REMOTE, multiple=True, help="Only this register (repeatable). Default: all."
)
date_option = click.option("--date", "-d", "process_date", type=DATE, required=True,
                           help="Process date: YYYY-MM-DD, today or yesterday.")


def _with_store(create: bool = False, read_only: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Open the main store for the command (see etl.store.open_store), and close it afterwards."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        @click.pass_context
        def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
            store: Store = open_store(ctx.obj.get("db") if ctx.obj else None, create=create, read_only=read_only)
            try:
                return fn(store, *args, **kwargs)
            finally:
                store.close()

        return wrapper

    return decorate


pass_store = _with_store()  # a command that changes main: the run lock, the working folder
creating_store = _with_store(create=True)  # the commands that set a store up (remote add, catalogs load, numbering set)
reading_store = _with_store(read_only=True)  # listings and status: no lock, no working folder, nothing created
