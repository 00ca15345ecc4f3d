from etl.cli import cli

cli(prog_name="posync")
