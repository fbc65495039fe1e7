"""Taiwan vocabulary for the Traditional Chinese catalogue (zh-Hant).

The zh-Hant catalogue was Simplified Chinese converted character by character, which
leaves mainland words on the page (鏈接, 字符, 登錄, 服務器, 信息, 用戶, …) that a reader
in Taiwan or Hong Kong notices at once. ``taiwan(text)`` is OpenCC's ``s2twp`` (phrase-level
conversion to Taiwan's standard with its vocabulary) minus the conversions reviewed by
hand and declined (``KEEP``), plus a few it does not make (``EXTRA``).

    python -m tallylog.web.taiwan           # list the catalogue's entries it would change
    python -m tallylog.web.taiwan --write   # rewrite them

The test suite checks that every zh-Hant message is already in Taiwan vocabulary. OpenCC
is a test dependency only: the site never converts at run time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import polib

CATALOGUE = Path(__file__).resolve().parent.parent / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.po"

# Declined after review: each is the word Taiwan and Hong Kong readers use here too.
KEEP = (
    "聲明",  # s2twp: 宣告. A withdrawal "聲明" (三退聲明) is what the service calls it there.
    "發佈",  # s2twp: 釋出 (a software release); publishing a declaration or a post is 發佈.
    "鏡像",  # s2twp: 映象; a mirror site is 鏡像 in Taiwanese usage.
    "掛斷",  # s2twp: 結束通話; hanging up a call is 掛斷.
)
# Mainland words s2twp leaves alone.
EXTRA = {
    "控制檯": "控制台",
    "通過電子郵件": "透過電子郵件",  # "by email": 透過 in Taiwan; 通過 there is "passed"
}
_MASK = "\ue000"  # a private-use character: no message contains it


@cache
def _converter() -> Any:
    import opencc  # the test extra: pip install -e '.[test]'

    return opencc.OpenCC("s2twp")


def taiwan(text: str) -> str:
    """``text`` (Traditional Chinese) in Taiwan vocabulary; placeholders such as
    ``%(name)s`` and ``{{ x }}`` pass unchanged, being ASCII."""
    kept: list[str] = []

    def mask(s: str) -> str:
        for word in KEEP:
            while word in s:
                s = s.replace(word, f"{_MASK}{len(kept)}{_MASK}", 1)
                kept.append(word)
        return s

    out = _converter().convert(mask(text))
    for i, word in enumerate(kept):
        out = out.replace(f"{_MASK}{i}{_MASK}", word)
    for old, new in EXTRA.items():
        out = out.replace(old, new)
    return out


def differences(po: polib.POFile) -> Iterator[tuple[polib.POEntry, str, str]]:
    """``(entry, message, in Taiwan vocabulary)`` for each translation that differs."""
    for entry in po:
        messages = [entry.msgstr] if not entry.msgstr_plural else list(entry.msgstr_plural.values())
        for message in messages:
            converted = taiwan(message)
            if converted != message:
                yield entry, message, converted


def rewrite(path: Path = CATALOGUE) -> int:
    """Put every translation of the catalogue at ``path`` in Taiwan vocabulary, line by
    line in place (the file's own wrapping kept); how many lines changed."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    changed, in_msgstr = 0, False
    for i, line in enumerate(lines):
        if line.startswith("msgstr"):
            in_msgstr = True
        elif not line.startswith('"'):
            in_msgstr = False
        if in_msgstr and taiwan(line) != line:
            lines[i] = taiwan(line)
            changed += 1
    path.write_text("".join(lines), encoding="utf-8")
    return changed


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        n = rewrite()
        print(f"{n} line(s) put in Taiwan vocabulary in {CATALOGUE}")
        return 0
    po = polib.pofile(str(CATALOGUE))
    if argv:
        print("usage: python -m tallylog.web.taiwan [--write]", file=sys.stderr)
        return 2
    found = list(differences(po))
    for entry, message, converted in found:
        print(f"{entry.msgid[:50]!r}\n  {message}\n→ {converted}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
