"""`posync console`: the seed's whole screen ("Administrar POS remotos") as a local web page."""

from __future__ import annotations

import click

from etl.console.config import ConsoleConfig, new_token


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token or --new-token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the console in this machine's browser.")
@click.option("--token", envvar="POSYNC_CONSOLE_TOKEN", metavar="T",
              help="Require this token (16+ characters) to use the console; default $POSYNC_CONSOLE_TOKEN.")
@click.option("--new-token", "new_token_", is_flag=True, help="Generate a token, print it, and require it.")
@click.pass_context
def console(ctx: click.Context, host: str, port: int, open_browser: bool, token: str | None, new_token_: bool) -> None:
    """Serve the web console: registers, validation, import, catalogs, loyalty, rules, the log, automatic sync."""
    from etl.console.server import serve  # starlette and uvicorn load only for this command

    config = ConsoleConfig(ctx.obj.get("db") if ctx.obj else None, host, port,
                           new_token() if new_token_ and not token else token, open_browser)
    serve(config, click.echo)
