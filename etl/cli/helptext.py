"""A Babel extractor for posync's --help texts: click keeps them on the command tree, not in `_()` calls.

babel.cfg maps this very file to this method; it walks the tree etl/cli builds (see `help_texts`), so
`make i18n` puts every command's docstring and every option's help into the catalog, once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any


def extract(fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str],
            options: Mapping[str, Any]) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel's extractor interface: (line, function, message, comments) for each help text."""
    from etl.cli import _ENGLISH_HELP, cli, help_texts

    seen: set[str] = set()
    for thing, attr in help_texts(cli):
        text = _ENGLISH_HELP.get((id(thing), attr)) or getattr(thing, attr) or ""
        if text and text not in seen:
            seen.add(text)
            yield 0, "_", text, [f"--help of {getattr(thing, 'name', '')}"]
