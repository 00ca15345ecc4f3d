"""The console in Spanish: the same catalog as the command line, `<html lang="es">`, no English the catalog
translates left on its pages (checked against the catalog, as the Spanish demo is)."""

from __future__ import annotations

import pytest

from etl import i18n
from tests.console.conftest import Console, text_of
from tests.test_i18n import _english_left


@pytest.mark.parametrize("path", ["/", "/catalogs", "/loyalty", "/rules", "/jobs"])
def test_every_page_speaks_spanish_when_posync_does(console: Console, path: str) -> None:
    i18n.set_language("es", {})  # what `posync --lang es console` chose before serving
    page = console.get(path)
    assert page.status_code == 200
    assert '<html lang="es">' in page.text
    text = text_of(page.text)
    left = _english_left(text, set())
    assert not left, f"English left on {path}:\n" + "\n".join(left)


def test_the_registers_page_names_things_with_the_shops_words(console: Console) -> None:
    i18n.set_language("es", {})
    text = text_of(console.get("/").text)
    assert "Agregar una caja" in text and "Validar" in text and "Base central" in text
    i18n.set_language("en", {})
    english = console.get("/").text
    assert '<html lang="en">' in english and "Add a register" in text_of(english)
