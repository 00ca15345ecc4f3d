"""The language posync speaks: which one (--lang, POSYNC_LANG, the locale), its catalog, and its numbers and dates.

Messages are English msgids translated through gettext catalogs compiled under etl/locale (managed with
Babel: `make i18n`). Numbers and dates are formatted by Babel in the reader's locale. Only what people read
goes through here: --json, SQL files, CSV exports and the log's stored fields stay English and ISO.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gettext
import locale
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

DOMAIN = "posync"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("en", "es")
DEFAULT = "en"
TERRITORY = {"es": "CO", "en": ""}  # the shop's country when the locale names none: Colombian Spanish
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")  # POSIX order: the first one set wins

_catalog: gettext.NullTranslations = gettext.NullTranslations()
_language = DEFAULT
_locale = "en"


def parse(value: str | None) -> tuple[str, str] | None:
    """A locale or language name as (language, territory), or None when posync does not speak it.

    >>> parse("es_CO.UTF-8"), parse("es"), parse("en_US"), parse("C"), parse("fr_FR"), parse("Spanish_Colombia")
    (('es', 'CO'), ('es', ''), ('en', 'US'), None, None, ('es', ''))
    """
    if not value:
        return None
    name = value.split(".")[0].split("@")[0].replace("-", "_")
    head, _, territory = name.partition("_")
    head = {"spanish": "es", "english": "en"}.get(head.lower(), head.lower())  # Windows: "Spanish_Colombia"
    if head not in LANGUAGES:
        return None
    return head, territory.upper() if len(territory) == 2 else ""


def choose(option: str | None, environ: Mapping[str, str], ui_locale: str | None = None) -> tuple[str, str]:
    """The (language, territory) to speak: --lang, else POSYNC_LANG, else the locale, else English.

    C and POSIX locales (cron's) mean English; a language posync does not speak falls back to English.

    >>> choose("es", {"LANG": "en_US.UTF-8"}), choose(None, {"POSYNC_LANG": "en", "LANG": "es_CO.UTF-8"})
    (('es', ''), ('en', ''))
    >>> choose(None, {"LC_ALL": "C", "LANG": "es_CO.UTF-8"}), choose(None, {"LANG": "es_MX.UTF-8"})
    (('en', ''), ('es', 'MX'))
    >>> choose(None, {}, ui_locale="Spanish_Colombia"), choose(None, {})
    (('es', ''), ('en', ''))
    """
    for value in (option, environ.get("POSYNC_LANG")):
        if value and (found := parse(value)):
            return found
    for variable in LOCALE_VARIABLES:
        if value := environ.get(variable):  # the first one set decides, even "C"
            return parse(value) or (DEFAULT, "")
    return parse(ui_locale) or (DEFAULT, "")


def ui_locale() -> str | None:
    """The user's UI locale on Windows (where LANG is not set); None elsewhere."""
    if sys.platform != "win32":
        return None
    return locale.getlocale()[0]


def set_language(option: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Choose the language (see `choose`), load its catalog and return it ("en" or "es")."""
    global _catalog, _language, _locale
    language, territory = choose(option, os.environ if environ is None else environ, ui_locale())
    _language = language
    _locale = f"{language}_{territory or TERRITORY[language]}".rstrip("_")
    _catalog = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
    return language


def translations() -> gettext.NullTranslations:
    """The catalog of the language in use (the web console's templates read it through this)."""
    return _catalog


def language() -> str:
    """The language in use: "en" or "es"."""
    return _language


def _(message: str, /, **params: object) -> str:
    """Translate a message and fill its %(name)s placeholders (ints are formatted with format_number).

    >>> _("%(n)s registers", n=3050)
    '3,050 registers'
    """
    text = _catalog.gettext(message)
    return text % _formatted(params) if params else text


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
    """Translate a message that depends on a count; %(num)s is the count, formatted.

    >>> ngettext("%(num)s voucher", "%(num)s vouchers", 1412)
    '1,412 vouchers'
    """
    return _catalog.ngettext(singular, plural, n) % _formatted({"num": n, **params})


def join_and(items: Sequence[str]) -> str:
    """Names joined as the reader's language says them: "caja1, caja2 and caja3", "caja1, caja2 y caja3".

    >>> join_and(["caja1", "caja2", "caja3"]), join_and(["caja1"])
    ('caja1, caja2 and caja3', 'caja1')
    """
    if len(items) < 2:
        return "".join(items)
    return _("%(first)s and %(last)s", first=", ".join(items[:-1]), last=items[-1])


class Said(str):
    """A message made where it is not yet known who reads it: English as a str (the log, --json), translated
    when it is shown (`shown`). Build it from one msgid and its values; joining two makes a plain str again.

    A template made with Nn_ (singular, plural) is said of the count `num`, in the form that count needs.

    >>> text = Said("%(num)s vouchers held back", num=1200)
    >>> text, shown(text)
    ('1,200 vouchers held back', '1,200 vouchers held back')
    >>> Said(Nn_("%(num)s voucher of %(code)s", "%(num)s vouchers of %(code)s"), num=1, code="FV")
    '1 voucher of FV'
    """

    template: str
    plural: str
    params: dict[str, object]
    sep: str

    def __new__(cls, template: str | tuple[str, str], /, sep: str = ", ", **params: object) -> Said:
        """sep joins a value that is a tuple of texts (each a Said or a plain str)."""
        singular, plural = template if isinstance(template, tuple) else (template, "")
        english = plural if plural and params["num"] != 1 else singular
        text = super().__new__(cls, english % {k: f"{v:,}" if isinstance(v, int) and not isinstance(v, bool)
                                               else sep.join(v) if isinstance(v, tuple) else v
                                               for k, v in params.items()})
        text.template, text.plural, text.params, text.sep = singular, plural, params, sep
        return text

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return str, (str(self),)  # a copy (dataclasses.asdict, pickle) is the English text


class Clause(str):
    """A sentence said inside another one, its final period dropped: in English and where it is shown.

    >>> Clause(Said("%(name)s is missing.", name="vouchers")) + "; add it."
    'vouchers is missing; add it.'
    """

    said: str

    def __new__(cls, said: str) -> Clause:
        text = super().__new__(cls, str(said).removesuffix("."))
        text.said = said
        return text

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return str, (str(self),)


class Word(str):
    """A word marked with NP_(context, value), kept English as a str and said in its context where shown.

    >>> Word("status", "rejected"), shown(Word("status", "rejected"))
    ('rejected', 'rejected')
    """

    context: str

    def __new__(cls, context: str, value: str) -> Word:
        text = super().__new__(cls, value)
        text.context = context
        return text

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return str, (str(self),)


class Deferred(str):
    """An English text not made from one msgid (a finding's message), with the function that says it in the
    reader's language where it is shown.

    >>> Deferred("1 voucher held back", lambda: "1 comprobante retenido")
    '1 voucher held back'
    """

    say: Callable[[], str]

    def __new__(cls, english: str, say: Callable[[], str]) -> Deferred:
        text = super().__new__(cls, english)
        text.say = say
        return text

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return str, (str(self),)


def shown(text: str) -> str:
    """A message for the reader: a Said translated (its Said values too), a Clause, a Word or a Deferred said
    in the reader's language, anything else as it is."""
    if isinstance(text, Clause) and _language != DEFAULT:
        return shown(text.said).removesuffix(".")
    if isinstance(text, Word) and _language != DEFAULT:
        return word(text.context, str(text))
    if isinstance(text, Deferred) and _language != DEFAULT:
        return text.say()
    if not isinstance(text, Said) or _language == DEFAULT:
        return str(text)
    params = {k: shown(v) if isinstance(v, str) else text.sep.join(shown(x) for x in v)
              if isinstance(v, tuple) else v for k, v in text.params.items()}
    if text.plural:
        num = params.pop("num")
        assert isinstance(num, int)
        return ngettext(text.template, text.plural, num, **params)
    return _(text.template, **params)


def said_of(err: BaseException) -> str:
    """An error's sentence as raised: its Said (English as a str, translated where shown), else str(err)."""
    if len(err.args) == 1 and isinstance(err.args[0], Said):
        said: Said = err.args[0]
        return said
    return str(err)


def error_text(err: BaseException) -> str:
    """An error's sentence for the reader: raised with a Said, it is translated; otherwise str(err)."""
    return shown(said_of(err))


def N_(message: str, /) -> str:
    """Mark a message for the catalog without translating it yet (translated where it is shown)."""
    return message


def Nn_(singular: str, plural: str, /) -> tuple[str, str]:
    """Mark a message said of a count (%(num)s) for the catalog, its singular and plural: Said(Nn_(…), num=n)."""
    return singular, plural


def NP_(context: str, message: str, /) -> str:
    """Mark a message with a context (a word that means two things) for the catalog; see `word`."""
    return message


def word(context: str, value: str) -> str:
    """A word marked with NP_(context, value), translated in that context ("status": a register's state).

    >>> word("status", "rejected")
    'rejected'
    """
    return _catalog.pgettext(context, value)


def _formatted(params: Mapping[str, object]) -> dict[str, object]:
    return {k: format_number(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in params.items()}


def format_number(value: int | decimal.Decimal | float) -> str:
    """A count with the reader's thousands separator: 3,050 in English, 3.050 in Spanish (Colombia).

    >>> format_number(1234567)
    '1,234,567'
    """
    if _language == DEFAULT:
        return f"{value:,}"
    from babel.numbers import format_decimal

    return str(format_decimal(value, locale=_locale))


def format_amount(value: decimal.Decimal) -> str:
    """An amount with every digit it has, at least two decimals: 12.50 in English, 1.234,50 in Spanish.

    English keeps the form the reports have always had (no thousands separator).

    >>> format_amount(decimal.Decimal("1234.5"))
    '1234.50'
    """
    if _language == DEFAULT:
        text = format(value.normalize(), "f")
        whole, _dot, fraction = text.partition(".")
        return f"{whole}.{fraction.ljust(2, '0')}"
    from babel.numbers import format_decimal

    return str(format_decimal(value, format="#,##0.00", locale=_locale, decimal_quantization=False))


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def format_date(day: dt.date) -> str:
    """A date as people say it: "Thursday 26 November 2026"; "jueves, 26 de noviembre de 2026" in Spanish.

    >>> format_date(dt.date(2026, 11, 26))
    'Thursday 26 November 2026'
    """
    if _language == DEFAULT:
        return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"
    from babel.dates import format_date as babel_date

    return str(babel_date(day, format="full", locale=_locale))
