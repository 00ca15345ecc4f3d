"""`posync loyalty …`, `posync rules …`, `posync sync`, `posync watch`, `posync status`."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

import click

from etl import catchup
from etl import loyalty as loyalty_lib
from etl import rules as rules_lib
from etl import status as status_lib
from etl import watch as watch_lib
from etl.cli.options import (
    PROCESS_DATE,
    Dates,
    dates_options,
    hold_option,
    json_option,
    pass_store,
    reading_store,
    remotes_option,
    run_note,
)
from etl.i18n import _, ngettext, shown, word
from etl.render import table, to_json
from etl.store import Store
from etl.sync import (
    CATALOG_MODES,
    ExtrasRequest,
    StepResult,
    SyncRequest,
    SyncResult,
    run_cycle,
    sync_loyalty,
    sync_rules,
)


def _progress(enabled: bool) -> Callable[[str, str], None] | None:
    """Per-register progress on stderr when it is a terminal; silent in cron and pipes."""
    if not enabled or not sys.stderr.isatty():
        return None
    return lambda register, message: click.echo(f"  {register}: {shown(message)}", err=True)


def _exit(code: int) -> None:
    click.get_current_context().exit(code)


def _step_json(step: StepResult) -> dict[str, Any]:
    return {
        "step": step.step, "exit_code": step.exit_code, "error": step.error, "note": step.note,
        **({"process_date": step.process_date} if step.process_date else {}),
        "registers": [{"register": o.register, "status": o.status, **o.counts.__dict__, "pushed": o.pushed,
                       "message": o.message, "details": list(o.details), "transient": o.transient}
                      for o in step.outcomes],
    }


def _step_text(title: str, step: StepResult) -> str:
    rows = [{"register": o.register, "status": o.status, **o.counts.__dict__} for o in step.outcomes]
    keys = ["register", "status", "read", "inserted"] + (["updated"] if step.step == "rules" else []) + \
        ["skipped", "rejected"]
    lines = [f"{title}:", table(rows, [(k, k) for k in keys])] if rows else [_("%(title)s: no registers read.",
                                                                               title=title)]
    for o in step.outcomes:
        if o.status in ("error", "held", "skipped") and o.message:
            lines.append(f"  {o.register}: {shown(o.message)}")
        lines += [f"  {o.register}: {shown(d)}" for d in o.details]
    if step.error:
        lines.append("  " + _("error: %(message)s", message=shown(step.error)))
    return "\n".join(lines)


# --- loyalty ------------------------------------------------------------------------------------


@click.group()
def loyalty() -> None:
    """Loyalty points ("fidelización"): import the registers' movements, show balances."""


@loyalty.command("sync")
@remotes_option
@json_option
@pass_store
def loyalty_sync(store: Store, remotes: tuple[str, ...], as_json: bool) -> None:
    """Import new loyalty movements ("Sincronizar fidelización"); a rerun never counts points twice."""
    step = sync_loyalty(store, ExtrasRequest(remotes, progress=_progress(not as_json)))
    click.echo(to_json(_step_json(step)) if as_json else _step_text(_("loyalty sync"), step))
    _exit(step.exit_code)


@loyalty.command("balances")
@click.option("--customer", "-c", help="Only this customer, with their movements.")
@json_option
@reading_store
def loyalty_balances(store: Store, customer: str | None, as_json: bool) -> None:
    """Points per customer in main ("examinar puntos"): the sum of their movements."""
    rows = loyalty_lib.balances(store, customer)
    moves = loyalty_lib.movements(store, customer) if customer else []
    if as_json:
        click.echo(to_json({"balances": rows, **({"movements": moves} if customer else {})}))
        return
    if not rows:
        click.echo(_("no loyalty movements for customer %(customer)s in main.", customer=customer) if customer
                   else _("no loyalty movements in main yet; run `posync loyalty sync`."))
        return
    click.echo(table(rows, [("customer_id", "customer"), ("name", "name"), ("points", "points"),
                            ("movements", "movements"), ("registers", "registers"),
                            ("last_movement", "last movement")]))
    if moves:
        click.echo("")
        click.echo(table(moves, [("date", "date"), ("register", "register"), ("movement_id", "movement"),
                                 ("points", "points"), ("voucher", "voucher")]))


# --- rules --------------------------------------------------------------------------------------


@click.group()
def rules() -> None:
    """Commercial rules ("reglas comerciales"): import them from the registers, list them."""


@rules.command("sync")
@remotes_option
@json_option
@pass_store
def rules_sync(store: Store, remotes: tuple[str, ...], as_json: bool) -> None:
    """Import commercial rules by rule_id ("Sinc. reglas comerciales"): the newer updated_at wins."""
    step = sync_rules(store, ExtrasRequest(remotes, progress=_progress(not as_json)))
    click.echo(to_json(_step_json(step)) if as_json else _step_text(_("rules sync"), step))
    _exit(step.exit_code)


@rules.command("list")
@json_option
@reading_store
def rules_list(store: Store, as_json: bool) -> None:
    """Every commercial rule in main."""
    rows = rules_lib.listing(store)
    if as_json:
        click.echo(to_json(rows))
    elif not rows:
        click.echo(_("no commercial rules in main yet; run `posync rules sync`."))
    else:
        for row in rows:  # a rule whose updated_at is in the future is marked: it wins every later edit
            row["note"] = _("SUSPECT: updated_at in the future") if row["suspect"] else ""
        click.echo(table(rows, [("rule_id", "rule"), ("name", "name"), ("kind", "kind"), ("params", "params"),
                                ("valid_from", "from"), ("valid_to", "to"), ("active", "active"),
                                ("updated_at", "updated at"), ("source_register", "from register"),
                                ("note", "")]))


# --- sync and watch -----------------------------------------------------------------------------


def cycle_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options `sync` and `watch` share (besides the dates)."""
    fn = hold_option(fn)
    fn = click.option("--catalogs", type=click.Choice(CATALOG_MODES), default="partial", show_default=True,
                      help="Catalog push after the imports (none: skip it).")(fn)
    fn = click.option("--overwrite", is_flag=True,
                      help='Update vouchers already in main ("sobrescribiendo").')(fn)
    return remotes_option(fn)


def sync_text(result: SyncResult) -> str:
    """The cycle summary: one row per register, then what to read about it, then the steps."""
    rows = [r.__dict__ for r in result.lines()]
    columns = [("register", "register"), ("imported", "vouchers imported"), ("skipped", "skipped"),
               ("held_back", "held back"), ("loyalty", "loyalty"), ("rules", "rules"), ("pushed", "pushed"),
               ("status", "status")]
    imports = result.imports()
    lines = []
    if len(imports) > 1:  # a range: one line per date first, the per-register table then holds the totals
        dated = [{"date": s.process_date, "registers": len(s.outcomes), "status": _worst(s),
                  **{k: sum(getattr(o.counts, f) for o in s.outcomes) for k, f in
                     (("imported", "inserted"), ("updated", "updated"), ("skipped", "skipped"),
                      ("held back", "rejected"))}} for s in imports]
        lines += [ngettext("sync %(first)s to %(last)s (%(num)s date):", "sync %(first)s to %(last)s (%(num)s "
                           "dates):", len(imports), first=imports[0].process_date, last=imports[-1].process_date),
                  table(dated, [(k, k) for k in ("date", "registers", "status", "imported", "updated", "skipped",
                                                "held back")]), _("totals:")]
    else:
        lines.append(_("sync %(date)s:", date=result.process_date))
    lines.append(table(rows, columns))
    for r in result.lines():
        lines += [f"  {r.register}: {shown(note)}" for note in r.notes]
    for step in result.steps:
        if step.error:
            lines.append(f"  {_step_name(step, False)}: {shown(step.error)}")
        if step.note:
            lines.append(f"  {_step_name(step, False)}: " + _("note: %(note)s", note=shown(step.note)))
    lines.append(_("steps: %(steps)s; exit %(code)s", code=str(result.exit_code), steps=", ".join(
        _("%(step)s exit %(code)s", step=_step_name(s, len(imports) > 1), code=str(s.exit_code))
        for s in result.steps)))
    return "\n".join(lines)


def _step_name(step: StepResult, dated: bool) -> str:
    name = word("status", step.step)
    return f"{name} {step.process_date}" if dated and step.process_date else name


_SEVERITY = ("ok", "skipped", "warning", "held", "partial", "conflict", "rejected", "error")


def _worst(step: StepResult) -> str:
    return max((o.status for o in step.outcomes), key=lambda s: _SEVERITY.index(s) if s in _SEVERITY else 0,
               default="ok")


def sync_json(result: SyncResult) -> dict[str, Any]:
    return {"process_date": result.process_date, "exit_code": result.exit_code,
            "registers": [r.__dict__ for r in result.lines()], "steps": [_step_json(s) for s in result.steps]}


@click.command("sync")
@dates_options(default="today")
@cycle_options
@json_option
@pass_store
def sync(store: Store, dates: Dates, remotes: tuple[str, ...], overwrite: bool, catalogs: str, hold: str,
         as_json: bool) -> None:
    """One full cycle: import vouchers (a date, a range or --since-last), loyalty, rules, then push the catalogs."""
    selection = dates.select(store, remotes)
    if not selection.schedule:  # --since-last, all caught up: the rest of the cycle still runs
        selection = catchup.every((dt.date.today() - dt.timedelta(days=1),), ())
    last = selection.dates[-1]
    result = run_cycle(store, SyncRequest(last, remotes, overwrite, catalogs, schedule=selection.schedule,
                                          hold_clash=hold, progress=_progress(not as_json)))
    click.echo(to_json(sync_json(result)) if as_json else sync_text(result))
    _exit(result.exit_code)


@click.command()
@click.option("--every", "every", type=click.FloatRange(min=0.01), required=True, metavar="MINUTES",
              help="Minutes between cycle starts (fractions allowed: 0.5 = 30 s).")
@click.option("--date", "-d", "process_date", type=PROCESS_DATE,
              help="Fix the process date (default: the current date at each cycle).")
@cycle_options
@click.option("--max-runs", type=click.IntRange(min=1), help="Stop after this many cycles.")
@click.pass_context
def watch(ctx: click.Context, every: float, process_date: dt.date | None, remotes: tuple[str, ...],
          overwrite: bool, catalogs: str, hold: str, max_runs: int | None) -> None:
    """Run `sync` every MINUTES until stopped ("Activar sincronización automática").

    Each cycle imports, for each register, every date since its last clean import up to today (a missed
    night is caught up, nothing is skipped). Holds the main store only while a cycle runs; SIGINT/SIGTERM
    finish the cycle, then exit 0.
    """
    cycle = SyncRequest(process_date or dt.date.today(), remotes, overwrite, catalogs, origin="watch",
                        hold_clash=hold)
    request = watch_lib.WatchRequest(every, cycle, fixed_date=process_date is not None, max_runs=max_runs)
    ctx.exit(watch_lib.watch(ctx.obj.get("db") if ctx.obj else None, request, click.echo))


# --- status -------------------------------------------------------------------------------------


def status_text(h: status_lib.Health, target: str, note: str | None = None) -> str:
    """The health summary a person reads in a cron mail: each item, an example, and the command that resolves it."""
    lines = [_("posync status of %(target)s at %(at)s:", target=target, at=f"{h.checked_at:%Y-%m-%d %H:%M}")]
    if note:
        lines.append(f"  {note}")
    for item in h.items:
        lines.append(f"  - {shown(item.message)}")
        if item.example:
            lines.append("      " + _("e.g. %(example)s", example=shown(item.example)))
        if item.command:
            lines.append(f"      → {shown(item.command)}")
    if h.items:
        lines.append(ngettext("needs attention: %(num)s item.", "needs attention: %(num)s items.", len(h.items)))
    else:
        lines.append("  " + ngettext("all well: %(num)s register, none without sales for more than %(days)s; no "
                                     "errors, rejections, changes at source, conflicts, pending pushes or numbering "
                                     "gaps.", "all well: %(num)s registers, none without sales for more than %(days)s; "
                                     "no errors, rejections, changes at source, conflicts, pending pushes or "
                                     "numbering gaps.", len(h.registers),
                                     days=ngettext("%(num)s day", "%(num)s days", h.quiet_days)))
    return "\n".join(lines)


@click.command()
@click.option("--quiet-days", type=click.IntRange(min=0), default=status_lib.DEFAULT_QUIET_DAYS, show_default=True,
              help="A register with no sales in main for more days than this needs a look.")
@json_option
@reading_store
def status(store: Store, quiet_days: int, as_json: bool) -> None:
    """Health summary for monitoring; exits 1 when something needs a person."""
    h = status_lib.health(store, quiet_days)
    note = run_note(store) if store.run is not None else None
    click.echo(to_json(h.as_dict()) if as_json else status_text(h, store.target, note))
    _exit(h.exit_code)


COMMANDS = (loyalty, rules, sync, watch, status)
