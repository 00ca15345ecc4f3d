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


def pass_store(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Open the main store (taking its run lock) for the command, and close it afterwards."""

    @functools.wraps(fn)
    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        store: Store = open_store(ctx.obj.get("db") if ctx.obj else None)
        try:
            return fn(store, *args, **kwargs)
        finally:
            store.close()

    return wrapper
