"""Message catalogues: every key in every locale, and Norwegian number formatting."""

from decimal import Decimal

import pytest

from dialogs.i18n import CATALOGUE_DIR, catalogue, format_number, format_percent, translate

AREAS = sorted({path.name.split(".")[0] for path in CATALOGUE_DIR.glob("*.po")})


@pytest.mark.parametrize("area", AREAS)
def test_every_area_has_the_same_keys_in_nb_nn_and_en(area):
    from babel.messages.pofile import read_po

    keys = {}
    for locale in ("nb", "nn", "en"):
        with (CATALOGUE_DIR / f"{area}.{locale}.po").open("rb") as handle:
            keys[locale] = {m.id for m in read_po(handle) if m.id and m.string}
    assert keys["nb"] == keys["nn"] == keys["en"]


SAME_IN_NB_AND_NN = {  # correct in both as written
    "web.title",
    "measures.set",
    "digest.unanswered",
    "digest.rate.value",
}


def test_nynorsk_is_not_bokmal():
    same = [
        k
        for k, v in catalogue("nn").items()
        if catalogue("nb").get(k) == v and len(v) > 25 and k not in SAME_IN_NB_AND_NN
    ]
    assert same == [], "long texts identical in nb and nn are probably untranslated"


def test_numbers_are_written_the_norwegian_way():
    assert format_percent(Decimal("30.769"), "nb") == "30,77\u00a0%"
    assert format_percent(Decimal("30.765"), "en") == "30.77%"  # half up, not banker's
    assert format_number(Decimal("1234567.5"), "nn") == "1\u00a0234\u00a0567,5"


def test_placeholders_are_filled():
    assert "«Kartlegging»" in translate("nb", "service.invitation", title="Kartlegging")
