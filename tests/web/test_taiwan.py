"""The Traditional Chinese catalogue speaks Taiwan's vocabulary, not converted mainland words."""

from __future__ import annotations

import polib
import pytest

from tallylog.web import taiwan

# Mainland words a Taiwan or Hong Kong reader noticed on zh-Hant pages (issue 17).
MAINLAND = ("鏈接", "字符", "登錄", "服務器", "信息", "用戶", "控制檯", "通過電子郵件", "默認", "保存", "導出", "導入")


@pytest.fixture(scope="module")
def catalogue() -> polib.POFile:
    return polib.pofile(str(taiwan.CATALOGUE))


def _messages(po: polib.POFile) -> list[str]:
    return [m for e in po for m in ([e.msgstr] if not e.msgstr_plural else e.msgstr_plural.values())]


def test_every_traditional_message_is_in_taiwan_vocabulary(catalogue: polib.POFile) -> None:
    offenders = [f"{message} → {converted}" for _entry, message, converted in taiwan.differences(catalogue)]
    assert not offenders, "run `python -m tallylog.web.taiwan --write`, then review:\n" + "\n".join(offenders)


def test_no_mainland_word_the_readers_noticed(catalogue: polib.POFile) -> None:
    found = [(word, m) for m in _messages(catalogue) for word in MAINLAND if word in m]
    assert not found


def test_the_conversion_keeps_reviewed_words_and_placeholders() -> None:
    # 聲明 stays (the service's own word there); 鏈接 and 字符 become Taiwan's words.
    assert taiwan.taiwan("您的聲明鏈接：最多 %(max)d 個字符") == "您的聲明連結：最多 %(max)d 個字元"
    assert taiwan.taiwan("發佈到鏡像；掛斷電話；控制檯") == "發佈到鏡像；掛斷電話；控制台"
    assert taiwan.taiwan("{{ name }}，用戶名") == "{{ name }}，使用者名稱"


def test_rewrite_fixes_a_catalogue_in_place_keeping_its_wrapping(tmp_path) -> None:
    po = tmp_path / "django.po"
    po.write_text('msgid "x"\nmsgstr ""\n"請打開鏈接"\n"，登錄後保存。"\n\n#: keep 鏈接 in comments\nmsgid "y"\nmsgstr "y"\n', encoding="utf-8")
    assert taiwan.rewrite(po) == 2
    assert po.read_text(encoding="utf-8") == (
        'msgid "x"\nmsgstr ""\n"請開啟連結"\n"，登入後儲存。"\n\n#: keep 鏈接 in comments\nmsgid "y"\nmsgstr "y"\n'
    )
