"""click's help layout in posync's language: the words click adds around posync's help texts."""

from __future__ import annotations

import re
from collections.abc import Iterable

import click

from etl.i18n import N_, _

# click's own words around the help texts (it translates them with gettext's default domain, not ours)
CLICK_WORDS = (N_("Usage:"), N_("Options"), N_("Commands"), N_("Arguments"), N_("Show this message and exit."),
               N_("required"))
_EXTRAS = re.compile(r"^(.*?)(\s*)\[([^\[\]]*)\]$", re.S)


class Formatter(click.HelpFormatter):
    """click's help layout, with click's own words (Usage, Options, [default: …]) in posync's language too."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, _("Usage:") + " " if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        super().write_heading(_(heading))

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(term, extras(text)) for term, text in rows], col_max, col_spacing)


def extras(text: str) -> str:
    """An option's help with click's "[default: x; required]" said in posync's language.

    >>> extras("Folder.  [default: demo; required]"), extras("Show this message and exit.")
    ('Folder.  [default: demo; required]', 'Show this message and exit.')
    """
    found = _EXTRAS.match(text)
    if found is None:
        return _(text) if text in CLICK_WORDS else text
    head, space, inside = found.groups()
    parts = [_("default: %(value)s", value=p[len("default: "):]) if p.startswith("default: ")
             else _(p) if p in CLICK_WORDS else p for p in inside.split("; ")]
    return f"{head}{space}[{'; '.join(parts)}]"
