"""Run the shell examples of the docs and compare their output with the page.

An example is a ```console block: `$ posync …` (or `$ sqlite3 FILE "SQL"`, a change made at a register
by its POS) followed by what it prints; a command that exits non-zero ends with `(exit N)`. Each page
runs in a world of its own, built as `python -m sample_data --demo --out .` builds it: the demo's
registers under `registers/` and its catalogs under `catalogs/`, the main store `posync.duckdb`,
every block of the page in the order it gives. What changes from run to run (the world's folder,
timestamps, batch and backup ids, durations, pids) is normalised on both sides; a batch id the page
shows is replaced by the real one where a later command uses it.

    python -m docs.examples            # run every page, print what differs (exit 1 if anything does)
    python -m docs.examples --update   # write what the commands print back into the pages (review the diff)
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
HOME = "/home/tienda/posync"  # where the pages show the world's folder
TODAY = dt.datetime(2026, 11, 28, 9, 30)  # the clock the examples run at (the demo's days are 25 and 26 November)
ENV: dict[str, str | None] = {"LANG": "C.UTF-8", "POSYNC_LANG": "en", "POSYNC_DB": "posync.duckdb", "POSYNC_HOME": None,
                              "DISPLAY": None, "WAYLAND_DISPLAY": None}
BLOCK = re.compile(r"^```console\n(.*?)^```$", re.M | re.S)
# What varies between two runs of the same example: (pattern, what it becomes).
VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"b-[0-9a-f]{12}"), "b-<batch>"),
    (re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}"), "<stamp>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?"), "<time>"),
    (re.compile(r"\d{8}-\d{6}-\d{6}"), "<stamp>"),
    (re.compile(r"\(\d+(\.\d+)? s\)"), "(<d> s)"),
    (re.compile(r"pid \d+"), "pid <n>"),
    (re.compile(r"(posync-data/[^/\s]+-)[0-9a-f]{8}\b"), r"\1<digest>"),  # the working folder is named for the store
    (re.compile(r"until \d{4}-\d{2}-\d{2}"), "until <date>"),  # 30 days after the import, on the real clock
)
IDS = re.compile(r"b-[0-9a-f]{12}|[\w-]+-\d{8}T\d{6}-[0-9a-f]{6}")  # what a later command may name


@dataclass(frozen=True)
class Command:
    """One `$ …` line of a page and the output the page shows under it."""

    line: str
    expected: str
    lineno: int


def commands(text: str) -> list[Command]:
    """The commands of every ```console block of a page, in order.

    >>> [c.line for c in commands("```console\\n$ posync log\\nnothing\\n$ posync status\\n```\\n")]
    ['posync log', 'posync status']
    """
    found: list[Command] = []
    for block in BLOCK.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        current: list[str] = []
        start = 0
        for offset, line in enumerate(block.group(1).splitlines()):
            if line.startswith("$ "):
                if current:
                    found.append(Command(current[0][2:], "\n".join(current[1:]), start))
                current, start = [line], first + offset
            elif current:
                current.append(line)
        if current:
            found.append(Command(current[0][2:], "\n".join(current[1:]), start))
    return found


def normalise(text: str, world: str) -> str:
    """What stays the same from run to run: the world's folder as HOME, volatile values as placeholders,
    runs of blanks as one and table rules as `--` (a path's length moves the columns after it).

    >>> normalise("b-0123456789ab  at 2026-11-28 09:57:19   (1.0 s)\\n----  ---", "/tmp/w")
    'b-<batch> at <time> (<d> s)\\n-- --'
    """
    text = text.replace(world, HOME)
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    text = re.sub(r"-{2,}", "--", text)
    return "\n".join(re.sub(r"[ \t]+", " ", line).rstrip() for line in text.strip("\n").splitlines())


def run(line: str, world: Path, aliases: dict[str, str]) -> str:
    """Run one example line in the world and return what it printed (stdout and stderr, as a terminal
    shows them, then `(exit N)` if it failed)."""
    from click.testing import CliRunner

    from etl.cli import cli

    for shown, real in aliases.items():
        line = line.replace(shown, real)
    argv = shlex.split(line, comments=True)
    if argv[0] == "sqlite3" and len(argv) == 3:
        with closing(sqlite3.connect(world / argv[1])) as con:
            con.executescript(argv[2])
        return ""
    if argv[0] != "posync":
        raise ValueError(f"examples run only `posync …` and `sqlite3 FILE SQL`, not: {line}")
    result = CliRunner().invoke(cli, argv[1:], env=ENV, prog_name="posync", catch_exceptions=False)
    code = f"(exit {result.exit_code})\n" if result.exit_code else ""
    return (result.output + code).replace(str(world), HOME)


@dataclass(frozen=True)
class Mismatch:
    """A command whose output is not the one the page shows."""

    page: str
    command: Command
    actual: str

    def __str__(self) -> str:
        return (f"{self.page}:{self.command.lineno}: $ {self.command.line}\n--- the page shows\n"
                f"{self.command.expected}\n--- posync printed\n{self.actual}")


@contextmanager
def world() -> Iterator[Path]:
    """A new folder with the demo's registers and catalogs, as the current directory at TODAY."""
    import time_machine

    from sample_data.__main__ import write_demo

    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="posync-docs-") as tmp, time_machine.travel(TODAY, tick=True):
        folder = Path(tmp).resolve()
        write_demo(folder)
        os.chdir(folder)
        try:
            yield folder
        finally:
            os.chdir(previous)


def check_page(page: Path, update: bool = False) -> list[Mismatch]:
    """Follow one page in a new world; with update, write what was printed back into it."""
    text = page.read_text(encoding="utf-8")
    mismatches: list[Mismatch] = []
    outputs: dict[int, str] = {}
    aliases: dict[str, str] = {}
    with world() as folder:
        for command in commands(text):
            actual = run(command.line, folder, aliases).rstrip("\n")
            outputs[command.lineno] = actual
            shown, real = IDS.findall(command.expected), IDS.findall(actual)
            aliases.update({s: r for s, r in zip(shown, real, strict=False) if s != r})
            if normalise(actual, str(folder)) != normalise(command.expected, str(folder)):
                mismatches.append(Mismatch(page.name, command, actual))
    if update and mismatches:
        page.write_text(rewrite(text, outputs, aliases), encoding="utf-8")
    return mismatches


def rewrite(text: str, outputs: dict[int, str], aliases: dict[str, str]) -> str:
    """The page with each command's output replaced by `outputs[lineno]`, and the ids its commands name
    replaced by the ones this run printed."""
    lines = text.splitlines()
    out: list[str] = []
    skipping = False
    for number, line in enumerate(lines, start=1):
        if skipping and (line.startswith("$ ") or line == "```"):
            skipping = False
        if skipping:
            continue
        if number in outputs:
            for shown, real in aliases.items():
                line = line.replace(shown, real)
        out.append(line)
        if number in outputs:
            out.extend(outputs[number].splitlines())
            skipping = True
    return "\n".join(out) + "\n"


def pages() -> list[Path]:
    """Every page that has a runnable example: the docs' and the README's."""
    found = [*DOCS.rglob("*.md"), DOCS.parent / "README.md"]
    return sorted(p for p in found if BLOCK.search(p.read_text(encoding="utf-8")))


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print("python -m docs.examples [--update] [PAGE.md …]: run the pages' examples and compare their output;\n"
              "--update writes the real output into the pages (then review the diff).")
        return 0
    update = "--update" in argv
    chosen = [DOCS / a if (DOCS / a).is_file() else Path(a) for a in argv if a != "--update"] or pages()
    failed = 0
    for page in chosen:
        for mismatch in check_page(page, update):
            failed += 1
            print(mismatch, end="\n\n")
    print(f"{failed} example(s) differ{' (pages updated: review the diff)' if update and failed else ''}")
    return 1 if failed and not update else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
