"""Flood detection: near-identical declarations are held for review."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from tallylog.registry.declarations.flood import flood_suspected, normalise_content
from tallylog.registry.keyed import daily_key


def test_normalise_content_ignores_spacing_case_width_digits_punctuation():
    assert normalise_content("张三 1") == normalise_content("张三２!") == normalise_content("\u3000张三") == "张三"
    assert normalise_content("Free Man") == normalise_content("free-man 2024") == "freeman"
    assert normalise_content("自由\u0000人\u200b") == "自由人"
    assert normalise_content("张三") != normalise_content("李四")


@override_settings(TALLYLOG_FLOOD_THRESHOLD=5, TALLYLOG_FLOOD_WINDOW=3600)
def test_flood_held_from_threshold_on():
    verdicts = [flood_suspected("tw", f"觉醒者{i}", "退出！") for i in range(8)]
    assert verdicts == [False] * 4 + [True] * 4
    # Different content, or another campaign, is counted on its own.
    assert flood_suspected("tw", "李四", "退出") is False
    assert flood_suspected("other", "觉醒者", "退出") is False


@override_settings(TALLYLOG_FLOOD_THRESHOLD=3, TALLYLOG_FLOOD_WINDOW=60)
def test_flood_window_expires():
    t = 1_790_000_000.0 - (1_790_000_000.0 % 60)
    assert [flood_suspected("tw", "a", "b", now=t + i) for i in range(3)] == [False, False, True]
    assert flood_suspected("tw", "a", "b", now=t + 60) is False


@override_settings(TALLYLOG_FLOOD_THRESHOLD=0)
def test_flood_detection_can_be_off():
    assert not any(flood_suspected("tw", "a", "b") for _ in range(50))


def test_default_threshold_tolerates_common_aliases():
    with override_settings():
        del settings.TALLYLOG_FLOOD_THRESHOLD  # the project default, not the test suite's "off"
        assert not any(flood_suspected("tw", "匿名", "") for _ in range(19))
        assert flood_suspected("tw", "匿名", "")



@override_settings(TALLYLOG_FLOOD_THRESHOLD=5, TALLYLOG_FLOOD_WINDOW=3600)
def test_one_character_changed_is_still_a_copy():
    letters = "甲乙丙丁戊己庚辛壬癸"
    # The alias changed in one place (its last character, or any one character) ...
    assert [flood_suspected("tw", f"爱国者{c}", "退出") for c in letters[:6]] == [False] * 4 + [True] * 2
    assert [flood_suspected("tw", f"自{c}由人", "三退") for c in letters[:6]] == [False] * 4 + [True] * 2
    # ... or the statement changed by one character somewhere: held from some copy on (the
    # sketch depends on the day's random key; the key is pinned here to replay a failure).
    daily = daily_key()
    cache.set(f"tallylog:safety:key:{datetime.now(UTC).date().isoformat()}", bytes(range(32)), 86400)
    assert daily_key() == bytes(range(32)) != daily
    base = "我声明退出中国共产党及其一切组织永不回头"
    variants = [base[:i] + "某" + base[i + 1 :] for i in (3, 9, 15, 18, 6, 12, 1, 4, 7, 10, 13, 16)]
    verdicts = [flood_suspected("tw", "路人", v) for v in variants]
    assert verdicts[:4] == [False] * 4 and verdicts[-1], verdicts


@override_settings(TALLYLOG_FLOOD_THRESHOLD=3, TALLYLOG_FLOOD_WINDOW=3600)
def test_different_people_with_the_same_statement_are_not_copies():
    statement = "我声明退出中国共产党及其一切组织永不回头"
    names = ["王伟", "李娜", "张敏", "刘洋", "陈静", "杨帆", "黄磊", "周杰伦", "吴晓明", "林志玲"]
    assert not any(flood_suspected("tw", name, statement) for name in names)
    # Nor one person's different statements.
    assert not any(flood_suspected("tw", "匿名", s) for s in ("退出共青团", "退出少先队", "退出中国共产党", "三退保平安"))
