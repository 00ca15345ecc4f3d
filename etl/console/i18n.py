"""The console's one translation point: `_()` for Python-side strings, and the same catalog in Jinja.

Messages are English msgids. Until the i18n work lands the catalog is gettext's NullTranslations; a
real catalog (Spanish first) is installed here and nowhere else.
"""

from __future__ import annotations

import gettext

import jinja2

_catalog: gettext.NullTranslations = gettext.NullTranslations()


def _(message: str, /, **params: object) -> str:
    """Translate a message and fill its %(name)s placeholders.

    >>> _("%(n)s register(s)", n=3)
    '3 register(s)'
    """
    text = _catalog.gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
    """Translate a message that depends on a count; %(num)s is the count.

    >>> ngettext("%(num)s row", "%(num)s rows", 2)
    '2 rows'
    """
    text = _catalog.ngettext(singular, plural, n)
    return text % {"num": n, **params}


def install(env: jinja2.Environment) -> None:
    """Give templates `_()`, `ngettext()` and `{% trans %}` over the same catalog (new-style: escaped params)."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(_catalog, newstyle=True)  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
