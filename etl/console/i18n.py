"""The console's one translation point: `_()` for Python-side strings, and the same catalog in Jinja.

Messages are English msgids in posync's one catalog (etl/locale); the language is the one etl.i18n chose
when posync started (`posync --lang es console`, POSYNC_LANG or the locale).
"""

from __future__ import annotations

import jinja2

from etl import i18n


def _(message: str, /, **params: object) -> str:
    """Translate a message and fill its %(name)s placeholders.

    >>> _("%(n)s register(s)", n=3)
    '3 register(s)'
    """
    text = i18n.translations().gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
    """Translate a message that depends on a count; %(num)s is the count.

    >>> ngettext("%(num)s row", "%(num)s rows", 2)
    '2 rows'
    """
    text = i18n.translations().ngettext(singular, plural, n)
    return text % {"num": n, **params}


def install(env: jinja2.Environment) -> None:
    """Give templates `_()`, `ngettext()` and `{% trans %}` over the same catalog (new-style: escaped params)."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        lambda message: i18n.translations().gettext(message),
        lambda singular, plural, n: i18n.translations().ngettext(singular, plural, n), newstyle=True)
    env.globals["lang"] = i18n.language


def error_text(err: BaseException) -> str:
    """An error's sentence in the console's language (see etl.i18n.error_text)."""
    return i18n.error_text(err)
