"""The three translation catalogues parse and hold the same messages."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest

LOCALE = Path(__file__).resolve().parents[2] / "tallylog" / "locale"
LANGUAGES = ("zh_Hans", "zh_Hant", "en")


@pytest.fixture(scope="module")
def catalogues() -> dict[str, polib.POFile]:
    return {lang: polib.pofile(str(LOCALE / lang / "LC_MESSAGES" / "django.po")) for lang in LANGUAGES}


def test_every_catalogue_holds_the_same_messages(catalogues: dict[str, polib.POFile]) -> None:
    ids = {lang: {(e.msgctxt, e.msgid) for e in po if not e.obsolete} for lang, po in catalogues.items()}
    for lang in LANGUAGES[1:]:
        assert ids[lang] == ids["zh_Hans"], (lang, ids[lang] ^ ids["zh_Hans"])


@pytest.mark.parametrize("lang", ["zh_Hans", "zh_Hant"])
def test_every_chinese_message_is_translated(catalogues: dict[str, polib.POFile], lang: str) -> None:
    missing = [e.msgid for e in catalogues[lang] if not e.obsolete and not e.translated()]
    assert not missing
