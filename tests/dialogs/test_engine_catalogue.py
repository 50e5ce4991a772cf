"""The engine catalogues: nb, nn and en hold exactly the keys the engine says, all translated."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from dialogs.engine import Key
from dialogs.i18n import CATALOGUE_DIR

LOCALES = ("nb", "nn", "en")


def entries(locale: str) -> dict[str, str]:
    path = Path(CATALOGUE_DIR) / f"engine.{locale}.po"
    with path.open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle) if m.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_has_every_key_the_engine_says_and_nothing_else(locale: str) -> None:
    catalogue = entries(locale)
    assert set(catalogue) == {key.value for key in Key}
    assert [key for key, text in catalogue.items() if not text.strip()] == []


def test_translations_use_the_same_placeholders() -> None:
    catalogues = {locale: entries(locale) for locale in LOCALES}
    for key in Key:
        found = {locale: placeholders(catalogues[locale][key.value]) for locale in LOCALES}
        assert found["nb"] == found["nn"] == found["en"], key


def test_nynorsk_is_not_bokmal() -> None:
    nb, nn = entries("nb"), entries("nn")
    assert nn[Key.HINT_NO_NAMES] == "Ikkje skriv personnamn."
    assert nb[Key.HINT_NO_NAMES] == "Ikke skriv personnavn."
    differing = [key for key in Key if nb[key.value] != nn[key.value]]
    assert len(differing) > len(Key) * 2 // 3
    assert [nn[k.value] for k in (Key.ACTION_BACK, Key.ACTION_SKIP, Key.ACTION_DONE)] == [
        "Tilbake",
        "Hopp over",
        "Ferdig",
    ]
    assert (nn[Key.ACTION_SUBMIT], nn[Key.ACTION_EDIT]) == ("Send inn", "Endre {number}")
