"""Flood detection: near-identical declarations are held for review."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from tallylog.registry.declarations.flood import flood_suspected, normalise_content


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

