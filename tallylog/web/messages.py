"""Compile the translation catalogues (``locale/*/LC_MESSAGES/django.po`` → ``.mo``).

Run as ``python -m tallylog.web.messages``; part of ``make install``. Uses polib, so the
build needs no GNU gettext. A catalogue is compiled only when its ``.mo`` is older.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def compile_all(locale_dir: Path = LOCALE_DIR) -> int:
    count = 0
    for po_path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        po = polib.pofile(str(po_path))
        po.save_as_mofile(str(mo_path))
        count += 1
    return count


if __name__ == "__main__":
    n = compile_all()
    if n:
        print(f"compiled {n} translation catalogue(s)", file=sys.stderr)
