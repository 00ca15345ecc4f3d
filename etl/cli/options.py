"""Shared click options and parameter types, defined once and stacked on commands."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from etl import catchup, i18n
from etl.i18n import _
from etl.remotes import NAME_RE, all_remotes
from etl.store import Store, open_store
from validators import HOLDS


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
            self.fail(_("%(value)r is not a date; use YYYY-MM-DD, today or yesterday.", value=value), param, ctx)


class ProcessDate(DateType):
    """A process date: a day that has happened (today at the latest), else a usage error naming today."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        day = super().convert(value, param, ctx)
        today = dt.date.today()
        if day > today:
            self.fail(_("%(day)s is after today (%(today)s): a day that has not happened has no sales to import.",
                        day=day, today=today), param, ctx)
        return day


class RemoteName(click.ParamType[str, Any]):
    """A register name: [A-Za-z0-9_-]{1,64}."""

    name = "REMOTE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not NAME_RE.fullmatch(str(value)):
            self.fail(_("%(value)r is not a register name; use 1-64 letters, digits, '_' or '-'.", value=value),
                      param, ctx)
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
hold_option = click.option("--hold", type=click.Choice(HOLDS), default="register", show_default=True,
                           help="What a voucher-code clash holds back: the register's whole batch, or only the "
                                "vouchers of the clashing code (its other codes land).")


@dataclass(frozen=True)
class Dates:
    """The dates a command was asked for: one, a range, or each register's dates since its last clean import."""

    day: dt.date | None = None
    first: dt.date | None = None
    last: dt.date | None = None
    since_last: bool = False
    today: bool = False

    @property
    def single(self) -> bool:
        return self.day is not None

    @property
    def given(self) -> bool:
        return self.day is not None or self.first is not None or self.since_last

    def select(self, store: Store, remotes: tuple[str, ...]) -> catchup.Selection:
        names = tuple(r.name for r in all_remotes(store, remotes))
        if self.day is not None:
            return catchup.every((self.day,), names)
        if self.since_last:
            end = dt.date.today() - dt.timedelta(days=0 if self.today else 1)
            return catchup.since_last(store, names, end)
        assert self.first is not None and self.last is not None
        return catchup.every(catchup.days(self.first, self.last), names)


def dates_options(default: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--date, or --from/--to, or --since-last [--today]: the command receives them as `dates` (a Dates).

    default: the --date when none of them is given (sync: today); None makes one of them required.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, process_date: dt.date | None, first: dt.date | None, last: dt.date | None,
                    since_last: bool, today: bool, **kwargs: Any) -> Any:
            return fn(*args, dates=_dates(process_date, first, last, since_last, today, default), **kwargs)

        for option in reversed((
            click.option("--date", "-d", "process_date", type=PROCESS_DATE,
                         help="Process date: YYYY-MM-DD, today or yesterday"
                              + (f" (default: {default})." if default else ".")),
            click.option("--from", "first", type=PROCESS_DATE, help="First date of a range (with --to)."),
            click.option("--to", "last", type=PROCESS_DATE,
                         help="Last date of a range (default with --from: yesterday)."),
            click.option("--since-last", is_flag=True,
                         help="For each register, every date after its last clean import, up to yesterday."),
            click.option("--today", is_flag=True, help="With --since-last: up to today."),
        )):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def _dates(day: dt.date | None, first: dt.date | None, last: dt.date | None, since_last: bool, today: bool,
           default: str | None) -> Dates:
    chosen = [name for name, given in (("--date", day), ("--from/--to", first or last), ("--since-last", since_last))
              if given]
    if len(chosen) > 1:
        given = " and ".join(chosen) if i18n.language() == i18n.DEFAULT else i18n.join_and(chosen)
        raise click.UsageError(_("give one of --date, --from/--to or --since-last, not %(given)s.", given=given))
    if today and not since_last:
        raise click.UsageError(_("--today goes with --since-last (a range ends where --to says)."))
    if last is not None and first is None:
        raise click.UsageError(_("--to needs --from: the first date of the range."))
    if first is not None:
        return Dates(first=first, last=last or max(first, dt.date.today() - dt.timedelta(days=1)))
    if since_last:
        return Dates(since_last=True, today=today)
    if day is None and default is not None:
        day = PROCESS_DATE.convert(default, None, None)
    return Dates(day=day)  # none given and no default: the command asks for one (require_dates)


def require_dates(dates: Dates) -> None:
    if not dates.given:
        raise click.UsageError(_("give the process date: --date D, a range --from D1 --to D2, or --since-last."))


def run_note(store: Store) -> str:
    """One sentence about the run holding the store while a listing reads it."""
    run = store.run or {}
    who = run.get("command") or _("a posync run")
    pid = " " + _("(pid %(pid)s)", pid=str(run["pid"])) if run.get("pid") else ""
    since = ", " + _("started %(at)s", at=run["started"]) if run.get("started") else ""
    stage = ", " + _("now: %(stage)s", stage=run["stage"]) if run.get("stage") else ""
    shown = (_("showing main as of the last finished run (%(at)s)", at=store.as_of) if store.as_of
             else _("no run has finished yet") if not store.is_postgres else _("showing main as it is now"))
    return _("a run is in progress: %(who)s%(pid)s%(since)s%(stage)s; %(shown)s.", who=who, pid=pid, since=since,
             stage=stage, shown=shown)


def _with_store(create: bool = False, read_only: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Open the main store for the command (see etl.store.open_store), and close it afterwards."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        @click.pass_context
        def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
            store: Store = open_store(ctx.obj.get("db") if ctx.obj else None, create=create, read_only=read_only)
            if store.run is not None and not fn.__name__.startswith("status"):  # status says it in its report
                click.echo(_("note: %(note)s", note=run_note(store)), err=True)
            try:
                return fn(store, *args, **kwargs)
            finally:
                store.close()

        return wrapper

    return decorate


pass_store = _with_store()  # a command that changes main: the run lock, the working folder
creating_store = _with_store(create=True)  # the commands that set a store up (remote add, catalogs load, numbering set)
reading_store = _with_store(read_only=True)  # listings and status: no lock, no working folder, nothing created
