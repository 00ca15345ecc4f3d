"""`python -m sample_data`: write sample registers and print the files written."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from pathlib import Path

import click

from sample_data.engines import ENGINES
from sample_data.generate import FAULTS, SampleSpec, build_ready, generate
from sample_data.layouts import FLAVOURS

_DEFAULTS = {f.name: f.default for f in fields(SampleSpec)}


def write_demo(out: Path) -> list[Path]:
    """The demo's registers (registers/) and catalogs (catalogs/) under out; the files written."""
    from etl.demo import build_catalogs, build_registers  # the demo owns them; sample_data only writes them

    registers = build_registers(out / "registers")
    build_catalogs(out / "catalogs", registers["caja1"][0])
    return [p for p, _ in registers.values()] + sorted((out / "catalogs").iterdir())


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write to.")
@click.option("--registers", type=click.IntRange(min=1), default=_DEFAULTS["registers"], show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=_DEFAULTS["days"], show_default=True)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=str(_DEFAULTS["start"]),
    show_default=True,
    help="First business date, YYYY-MM-DD.",
)
@click.option(
    "--vouchers",
    type=click.IntRange(min=1),
    default=_DEFAULTS["vouchers_per_day"],
    show_default=True,
    help="Vouchers per register per day.",
)
@click.option("--products", type=click.IntRange(min=1), default=_DEFAULTS["products"], show_default=True)
@click.option("--customers", type=click.IntRange(min=0), default=_DEFAULTS["customers"], show_default=True)
@click.option("--flavour", type=click.Choice(FLAVOURS), default=_DEFAULTS["flavour"], show_default=True)
@click.option("--engine", type=click.Choice(tuple(ENGINES)), default=_DEFAULTS["engine"], show_default=True)
@click.option("--seed", type=int, default=_DEFAULTS["seed"], show_default=True)
@click.option("--fault", "faults", type=click.Choice(FAULTS), multiple=True, help="Defect to plant (repeatable).")
@click.option("--name", "names", multiple=True, help="Register name (repeatable); replaces --registers.")
@click.option("--ready", is_flag=True, help="Write the ready-made set of sample_data/ready/ (other options ignored).")
@click.option("--demo", is_flag=True,
              help="Write what `posync demo` starts from, the world of the docs' examples: registers/ (caja1-4) "
                   "and catalogs/ (the ERP's CSV exports) in OUT (other options ignored).")
def main(
    out: Path,
    registers: int,
    days: int,
    start: datetime,
    vouchers: int,
    products: int,
    customers: int,
    flavour: str,
    engine: str,
    seed: int,
    faults: tuple[str, ...],
    names: tuple[str, ...],
    ready: bool,
    demo: bool,
) -> None:
    """Write deterministic sample POS registers (one file per caja) into OUT."""
    if demo:
        paths = write_demo(out)
    elif ready:
        paths = build_ready(out)
    else:
        try:
            spec = SampleSpec(
                registers=registers,
                start=start.date(),
                days=days,
                vouchers_per_day=vouchers,
                flavour=flavour,
                engine=engine,
                seed=seed,
                products=products,
                customers=customers,
                faults=frozenset(faults),
                names=names or None,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        paths = generate(out, spec)
    for path in paths:
        click.echo(str(path))


if __name__ == "__main__":
    main()
