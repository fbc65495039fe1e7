"""The petition form's countries and regions: CLDR's names, sorted as each language's readers expect."""

from __future__ import annotations

from pypinyin import Style, lazy_pinyin

from tallylog.registry.petitions.countries import CODES, country_choices, country_name


def test_names_are_cldrs_without_the_old_typos() -> None:
    assert country_name("KH", "zh-hans") == "柬埔寨"
    assert country_name("BO", "zh-hans") == "玻利维亚"
    assert country_name("KG", "zh-hans") == "吉尔吉斯斯坦"
    assert country_name("GT", "zh-hans") == "危地马拉" and country_name("MT", "zh-hans") == "马耳他"
    assert country_name("KH", "zh-hant") == "柬埔寨" and country_name("BO", "zh-hant") == "玻利維亞"
    assert country_name("AU", "zh-hant") == "澳洲"  # Taiwan's name, not the mainland's 澳大利亞
    for language in ("zh-hans", "zh-hant", "en"):
        names = dict(country_choices(language))
        assert set(names) == CODES
        assert all(name != code for code, name in names.items()), language
        for bad in ("柬埔塞", "波利维亚", "吉尔吉斯坦"):
            assert bad not in names.values()


def test_contested_names_are_neutral() -> None:
    assert [country_name(c, "zh-hans") for c in ("TW", "HK", "MO")] == ["台湾", "香港", "澳门"]
    assert [country_name(c, "en") for c in ("TW", "HK", "MO")] == ["Taiwan", "Hong Kong", "Macao"]


def test_simplified_chinese_sorts_by_pinyin() -> None:
    names = [name for _code, name in country_choices("zh-hans")]
    assert names[:3] == ["阿尔巴尼亚", "阿尔及利亚", "阿富汗"]
    initials = [lazy_pinyin(name)[0][0] for name in names]  # 秘鲁 is Bìlǔ: read as a word
    assert initials == sorted(initials)  # a … z, not code points (which put 中非共和国 before 丹麦)
    assert names.index("丹麦") < names.index("中非共和国")


def test_traditional_chinese_sorts_by_zhuyin() -> None:
    names = [name for _code, name in country_choices("zh-hant")]
    first = [lazy_pinyin(name, style=Style.BOPOMOFO)[0][0] for name in names]
    assert first == sorted(first)  # ㄅㄆㄇㄈ … the order of the Bopomofo block
    assert first[0] == "ㄅ" and names[0] == "巴貝多"


def test_english_sorts_by_letters_ignoring_accents() -> None:
    names = [name for _code, name in country_choices("en")]
    assert names.index("Afghanistan") < names.index("Åland Islands") < names.index("Albania")
    assert names.index("Costa Rica") < names.index("Côte d’Ivoire") < names.index("Croatia")
