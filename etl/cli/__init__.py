"""posync's command line: click groups and thin commands that call the library and render."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click
import duckdb

from etl.errors import PosyncError


class PosyncGroup(click.Group):
    """Maps posync's exception tree to exit codes and one clear sentence; no stack traces."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PosyncError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)
        except duckdb.Error as err:
            if os.environ.get("POSYNC_DEBUG"):
                traceback.print_exc()
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            click.echo(f"error: database error: {first} (rerun with POSYNC_DEBUG=1 for details).", err=True)
            ctx.exit(1)
        except OSError as err:
            if os.environ.get("POSYNC_DEBUG"):
                traceback.print_exc()
            where = f" ({err.filename})" if err.filename else ""
            click.echo(f"error: {err.strerror or err}{where}.", err=True)
            ctx.exit(1)


@click.group(cls=PosyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="POSYNC_DB", metavar="TARGET",
              help="Main store: a DuckDB file or a postgresql://user@host:port/db URI, password in PGPASSWORD "
                   "or ~/.pgpass (default $POSYNC_DB, else ./posync.duckdb).")
@click.version_option(package_name="posync")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """posync keeps a shop's point-of-sale registers (cajas) and its head office in step."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db


def _register_commands() -> None:
    from etl.cli import catalogs, demo, imports, remote, sync

    for command in (remote.remote, imports.validate, imports.import_, imports.log, imports.numbering,
                    catalogs.catalogs, *sync.COMMANDS, demo.demo):
        cli.add_command(command)


_register_commands()


def main() -> None:  # pragma: no cover - console entry point
    cli(prog_name="posync")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
