"""Phone numbers are recognised however they are written; ordinary notes pass."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tallylog.registry.declarations.contact import _DATE, looks_like_phone_number


@pytest.mark.parametrize(
    "text",
    [
        "13800138000", "+86 138 0013 8000", "138-0013-8000", "(010) 6512 3456", "010.6512.3456",
        "tel 6512345", "１３８ ００１３ ８０００", "一三八零零一三八零零零", "壹叁捌〇〇壹叁捌〇〇〇",
        "幺三八洞洞幺三八洞洞洞", "他的号码是138 0013 8000请回电",
    ],
)  # fmt: skip
def test_phone_numbers_are_recognised(text: str) -> None:
    assert looks_like_phone_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "", "listened quietly, thanked us at the end", "说了三遍谢谢", "called 3 times in 2025",
        "2026-11-25", "一家三口都退了", "age 45, 2 kids", "15-30 minutes", "两个人听完了",
    ],
)
def test_ordinary_notes_pass(text: str) -> None:
    assert not looks_like_phone_number(text)


@given(
    digits=st.lists(st.integers(0, 9), min_size=7, max_size=15),
    separators=st.lists(st.sampled_from(["", " ", "-", ".", " - "]), min_size=15, max_size=15),
    before=st.text(alphabet=st.characters(categories=["L"]), max_size=5),
    after=st.text(alphabet=st.characters(categories=["L"]), max_size=5),
)
def test_any_separated_run_of_seven_digits_is_caught(digits: list[int], separators: list[str], before: str, after: str) -> None:
    number = "".join(f"{d}{s}" for d, s in zip(digits, separators, strict=False)).strip(" -.")
    assume(not _DATE.search(number))  # the one documented exception: year-first dates
    assert looks_like_phone_number(f"{before} {number} {after}")


@given(st.text(alphabet=st.characters(categories=["L", "Zs", "P"]), max_size=200))
def test_text_without_digits_passes(text: str) -> None:
    from tallylog.registry.declarations.contact import _CHINESE_DIGITS

    if any(ch in text for ch in map(chr, _CHINESE_DIGITS)):
        return
    assert not looks_like_phone_number(text)
