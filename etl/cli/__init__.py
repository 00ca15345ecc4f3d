"""posync's command line: click groups and thin commands that call the library and render."""

from __future__ import annotations

import os
import signal
import traceback
from types import FrameType
from typing import Any

import click
import duckdb

from etl import crash, i18n, paths
from etl.errors import PosyncError
from etl.i18n import _
from etl.store import resolve_target

INTERRUPTED = 130  # the shell's code for a run stopped by Ctrl-C


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


class PosyncGroup(click.Group):
    """Maps posync's exception tree to exit codes and one clear sentence; no stack traces.

    Ctrl-C and SIGTERM stop the run (outside `watch`, which finishes its cycle): the open transaction
    rolls back, nothing more is done, exit 130 (FAULTS 49). Anything unexpected is one line and a
    crash file, never a traceback on the terminal (FAULTS 43).
    """

    def invoke(self, ctx: click.Context) -> Any:
        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, duckdb.InterruptException) as err:
            how = str(err) if str(err).startswith("SIG") else "Ctrl-C"
            click.echo(_("error: interrupted (%(how)s): what was in progress was rolled back and nothing more was "
                         "done; registers finished before stay imported; run the command again to complete.",
                         how=how), err=True)
            ctx.exit(INTERRUPTED)
        except PosyncError as err:
            click.echo(_("error: %(message)s", message=i18n.error_text(err)), err=True)
            ctx.exit(err.exit_code)
        except duckdb.Error as err:
            if os.environ.get("POSYNC_DEBUG"):
                traceback.print_exc()
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            click.echo(_("error: database error: %(first)s (rerun with POSYNC_DEBUG=1 for details).", first=first),
                       err=True)
            ctx.exit(1)
        except OSError as err:
            if os.environ.get("POSYNC_DEBUG"):
                traceback.print_exc()
            where = f" ({err.filename})" if err.filename else ""
            click.echo(_("error: %(message)s%(where)s.", message=err.strerror or err, where=where), err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as err:  # noqa: BLE001 - never a traceback: one line and a crash file
            folder = paths.data_dir(resolve_target(ctx.obj.get("db") if ctx.obj else None))
            path = crash.write(folder, "command")
            click.echo(_("error: unexpected error (%(kind)s: %(first)s); the details are in %(path)s; please report "
                         "it.", kind=type(err).__name__, first=crash.first_line(err), path=path), err=True)
            ctx.exit(1)
        finally:
            signal.signal(signal.SIGTERM, previous)


@click.group(cls=PosyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="POSYNC_DB", metavar="TARGET",
              help="Main store: a DuckDB file or a postgresql://user@host:port/db URI, password in PGPASSWORD "
                   "or ~/.pgpass (default $POSYNC_DB, else ./posync.duckdb).")
@click.option("--lang", type=click.Choice(i18n.LANGUAGES), is_eager=True, expose_value=False,
              callback=lambda _ctx, _param, value: speak(value),
              help="Language of messages, reports and help: es or en (default $POSYNC_LANG, else the locale's "
                   "language, else en). --json, SQL files and the log's stored fields are the same in both.")
@click.version_option(package_name="posync")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """posync keeps a shop's point-of-sale registers (cajas) and its head office in step."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db


def help_texts(command: click.Command) -> list[tuple[object, str]]:
    """Every help text of a command tree: (the command or option, its attribute), in a stable order.

    The English texts are the catalog's msgids (extracted by etl.cli.helptext for `make i18n`).
    """
    found: list[tuple[object, str]] = [(command, "help")]
    found += [(p, "help") for p in command.params if isinstance(p, click.Option)]
    for sub in getattr(command, "commands", {}).values():
        found += help_texts(sub)
    return found


_ENGLISH_HELP: dict[tuple[int, str], str] = {}


def speak(option: str | None) -> None:
    """Choose the language (--lang, POSYNC_LANG, the locale) and put every --help text in it."""
    i18n.set_language(option)
    for thing, attr in help_texts(cli):
        english = _ENGLISH_HELP.setdefault((id(thing), attr), getattr(thing, attr) or "")
        if english:
            setattr(thing, attr, _(english))


def _register_commands() -> None:
    from etl.cli.helpformat import Formatter

    click.Context.formatter_class = Formatter  # posync's process: click's words around the help, translated too
    from etl.cli import catalogs, changes, codes, console, demo, imports, remote, sync

    for command in (remote.remote, imports.validate, imports.import_, imports.batches, changes.changes,
                    *codes.COMMANDS, imports.log, imports.numbering, catalogs.catalogs, *sync.COMMANDS, demo.demo,
                    console.console):
        cli.add_command(command)


_register_commands()

