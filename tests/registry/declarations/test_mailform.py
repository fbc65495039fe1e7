"""The form a declarant writes in an email (tallylog.registry.declarations.mailform)."""

from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from tallylog.registry.declarations.mailform import (
    FormNotUnderstood,
    MailForm,
    guess_language,
    read_form,
    read_orgs,
    read_region,
)

ORGS = {
    "party": ["中国共产党", "中國共產黨", "the Chinese Communist Party"],
    "league": ["共青团", "共青團", "the Communist Youth League"],
    "pioneers": ["少先队", "少先隊", "the Young Pioneers"],
}
ALL = ["league", "party", "pioneers"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("化名：小明\n退出：党 团 队\n地区：广东\n声明：我早就想退了。\n再见", MailForm("小明", ALL, "guangdong", "我早就想退了。\n再见")),
        ("化名：阿明\n退出：黨、團、隊\n地區：廣東省\n聲明：\n自由", MailForm("阿明", ALL, "guangdong", "自由")),
        ("Alias: Ming\nWithdraw: the Party and the Youth League\nRegion: Guangdong Province\n", MailForm("Ming", ["league", "party"], "guangdong", "")),
        ("化名:阿明\n退出:退党,退团", MailForm("阿明", ["league", "party"], "", "")),
        ("化名：阿明\n退出：三退", MailForm("阿明", ALL, "", "")),
        ("化名：阿明\n退出：党团队", MailForm("阿明", ALL, "", "")),
        ("NAME : Ming\norganisations: CCP, pioneers", MailForm("Ming", ["party", "pioneers"], "", "")),
        ("退出：少先队\n化名：小红", MailForm("小红", ["pioneers"], "", "")),
        # Without a statement line, the lines without a label are the statement.
        ("您好\n化名：小明\n退出：党\n我早就想退了", MailForm("小明", ["party"], "", "您好\n我早就想退了")),
        # With one, only what follows it; a labelled line after it is still its field.
        ("您好\n声明：第一行\n第二行\n化名：小明\n退出：党", MailForm("小明", ["party"], "", "第一行\n第二行")),
        # What the mail client adds is not read: quotes, signatures, the quoted original.
        ("化名：小明\n退出：党\n> 化名：别人\n-- \n李四 13812345678", MailForm("小明", ["party"], "", "")),
        ("化名：小明\n退出：党\n\n------------------ 原始邮件 ------------------\n化名：x", MailForm("小明", ["party"], "", "")),
        ("化名：小明\n退出：党\nOn Thu, 3 Dec 2026 someone <a@b.c> wrote:\nalias: x", MailForm("小明", ["party"], "", "")),
        ("化名：小明\r\n退出：党\r\n", MailForm("小明", ["party"], "", "")),
    ],
)
def test_the_form_is_read_in_three_languages_and_leniently(text: str, expected: MailForm) -> None:
    assert read_form(text, ORGS) == expected


def problems(text: str, language: str = "en") -> list[str]:
    with translation.override(language), pytest.raises(FormNotUnderstood) as caught:
        read_form(text, ORGS)
    return caught.value.problems


def test_a_message_without_the_form_says_so_and_is_marked_blank() -> None:
    with pytest.raises(FormNotUnderstood) as caught:
        read_form("我要三退，谢谢", ORGS)
    assert caught.value.blank


def test_each_problem_is_named_once_and_specifically() -> None:
    found = problems("化名：\n退出：\n地区：火星")
    assert len(found) == 3
    assert "alias" in found[0]
    assert "党 团 队" in found[1] or "party league pioneers" in found[1]
    assert "火星" in found[2]
    assert problems("化名：a\n化名：b\n退出：党") == ["“化名” is written twice: write it once."]
    assert problems("alias: a\nwithdraw: party, alliance") == [
        "We did not understand “alliance” after “withdraw:”: write one or more of party league pioneers."
    ]


def test_problems_are_written_in_the_readers_language() -> None:
    assert "化名" in problems("化名：\n退出：党", "zh-hans")[0]
    assert "黨 團 隊" in problems("化名：a\n退出：黨派", "zh-hant")[0]


def test_organisations_by_every_name_and_none_by_a_longer_word() -> None:
    assert read_orgs("all", ORGS) == ALL
    assert read_orgs("中國共產黨、共青團", ORGS) == ["league", "party"]
    assert read_orgs("the Young Pioneers", ORGS) == ["pioneers"]
    for bad in ("alliance", "partyline", "党员", ""):
        with pytest.raises(FormNotUnderstood):
            read_orgs(bad, ORGS)


def test_regions_by_code_and_name() -> None:
    assert read_region("广东") == read_region("廣東省") == read_region("guangdong") == "guangdong"
    assert read_region("新疆维吾尔自治区") == "xinjiang"
    assert read_region("Mars") == ""


def test_the_reply_language_follows_the_message() -> None:
    assert guess_language("化名：小明\n退出：党团队") == "zh-hans"
    assert guess_language("化名：小明\n退出：黨團隊\n聲明：我們") == "zh-hant"
    assert guess_language("alias: Ming\nwithdraw: party") == "en"
    assert guess_language("") == "en"


@given(st.text(max_size=400))
def test_any_text_is_read_or_refused_with_problems(text: str) -> None:
    try:
        form = read_form(text, ORGS)
    except FormNotUnderstood as exc:
        assert exc.problems and all(exc.problems)
    else:
        assert form.orgs and set(form.orgs) <= set(ORGS) and form.alias
