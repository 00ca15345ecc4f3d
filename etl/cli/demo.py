"""`posync demo`: build sample registers and run a full tour on them."""

from __future__ import annotations

from pathlib import Path

import click

from etl import demo as demo_lib
from etl import i18n


@click.command()
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
              show_default=True,
              help="Folder for the sample registers and the demo's main store: new, empty, or one the demo made "
                   "before (which it wipes).")
def demo(folder: Path) -> None:
    """Build sample registers (one with an FV-code conflict) and run every capability on them."""
    from etl.cli import cli

    def invoke(args: list[str]) -> int:
        try:  # each step speaks the tour's language, whatever set it (--lang, POSYNC_LANG or the locale)
            result = cli.main(args=["--lang", i18n.language(), *args], prog_name="posync", standalone_mode=False)
        except click.exceptions.Exit as done:
            return int(done.exit_code)
        except click.ClickException as err:
            err.show()
            return err.exit_code
        return int(result or 0)

    demo_lib.run(folder.resolve(), invoke, click.echo)
