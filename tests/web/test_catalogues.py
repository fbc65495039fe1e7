"""The three translation catalogues parse, hold the same messages, hold every message the
code and the templates use (none fuzzy, placeholders kept, Chinese punctuated as Chinese),
and no template shows text outside {% translate %}."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polib
import pytest
from django.template.base import Lexer, TokenType
from django.utils.text import smart_split

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


# What the pages and the code ask the catalogues for, and what the templates show untranslated.

TALLYLOG = LOCALE.parent
TEMPLATES = sorted(p for p in TALLYLOG.glob("**/templates/**/*") if p.is_file())
SOURCES = sorted(p for p in TALLYLOG.glob("**/*.py") if "migrations" not in p.parts)
# Elements whose text is not prose, so not translated: commands and code (the same in
# every language), keys to press, and what scripts and styles hold.
NOT_PROSE = {"pre", "code", "kbd", "script", "style"}
# Attributes a reader sees or hears.
SHOWN = {"title", "alt", "placeholder", "aria-label", "label"}
# Visible text allowed outside {% translate %}, each with its reason. Text without a letter
# (·, →, numbers, punctuation) is allowed anyway.
ALLOWED: dict[str, str] = {}
_MARK = "\x00"  # stands for a template tag or variable: no template contains it


class _Shown(HTMLParser):
    """The visible text and the shown attributes of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in NOT_PROSE:
            self.hidden += 1
        shown = SHOWN | ({"value"} if tag == "input" and dict(attrs).get("type") in ("submit", "button", "reset") else set())
        self.found += [(f"<{tag} {name}>", value) for name, value in attrs if name in shown and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in NOT_PROSE:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.found.append(("text", data))


def untranslated(path: Path) -> list[tuple[str, str]]:
    """Visible text of a template outside {% translate %} and {% blocktranslate %}."""
    parts: list[str] = []
    inside = 0  # depth of blocktranslate and comment blocks
    for token in Lexer(path.read_text()).tokenize():
        if token.token_type == TokenType.BLOCK:
            word = (token.contents.split() or [""])[0]
            inside += word in ("blocktranslate", "blocktrans", "comment")
            inside -= word in ("endblocktranslate", "endblocktrans", "endcomment")
            parts.append(_MARK)
        elif token.token_type in (TokenType.VAR, TokenType.COMMENT):
            parts.append(_MARK)
        elif not inside:
            parts.append(token.contents)
    shown = _Shown()
    shown.feed("".join(parts))
    shown.close()
    return [
        (where, piece.strip())
        for where, data in shown.found
        for piece in data.split(_MARK)
        if any(c.isalpha() for c in piece) and piece.strip() not in ALLOWED
    ]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(TALLYLOG)))
def test_templates_show_no_text_outside_translate(path: Path) -> None:
    assert untranslated(path) == []


def test_the_walker_finds_untranslated_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        '{% load i18n %}<h1>{% translate "Fine" %}</h1><p title="Stray title">Stray {{ x }} words</p>'
        '{% blocktranslate %}Also fine {{ x }}{% endblocktranslate %}<pre>tallylog verify</pre> · 42'
    )
    assert untranslated(page) == [("<p title>", "Stray title"), ("text", "Stray"), ("text", "words")]


def _literal(token: str) -> str | None:
    return ast.literal_eval(token) if token[:1] in "\"'" else None


def template_messages(path: Path) -> list[tuple[str | None, str, str | None]]:
    """(context, msgid, msgid_plural) of each {% translate %} and {% blocktranslate %},
    built as Django builds them (a variable is ``%(name)s``, ``%`` is doubled)."""
    found: list[tuple[str | None, str, str | None]] = []
    block: dict[str, Any] | None = None
    for token in Lexer(path.read_text()).tokenize():
        if token.token_type == TokenType.BLOCK:
            bits = list(smart_split(token.contents))
            context = _literal(bits[bits.index("context") + 1]) if "context" in bits else None
            if bits[0] in ("translate", "trans") and (msgid := _literal(bits[1])) is not None:
                found.append((context, msgid, None))
            elif bits[0] in ("blocktranslate", "blocktrans"):
                block = {"context": context, "trimmed": "trimmed" in bits, "singular": [], "plural": None}
            elif bits[0] == "plural" and block is not None:
                block["plural"] = []
            elif bits[0] in ("endblocktranslate", "endblocktrans") and block is not None:
                def text(parts: list[str], trimmed: bool = block["trimmed"]) -> str:
                    joined = "".join(parts)
                    return " ".join(line.strip() for line in joined.strip().splitlines()) if trimmed else joined
                plural = text(block["plural"]) if block["plural"] is not None else None
                found.append((block["context"], text(block["singular"]), plural))
                block = None
        elif block is not None:
            target = block["plural"] if block["plural"] is not None else block["singular"]
            if token.token_type == TokenType.TEXT:
                target.append(token.contents.replace("%", "%%"))
            elif token.token_type == TokenType.VAR:
                target.append(f"%({token.contents.strip()})s")
    return found


# name → positions of (context, msgid, msgid_plural) among its arguments
GETTEXT = {
    **dict.fromkeys(("_", "gettext", "gettext_lazy", "gettext_noop"), (None, 0, None)),
    **dict.fromkeys(("ngettext", "ngettext_lazy"), (None, 0, 1)),
    **dict.fromkeys(("pgettext", "pgettext_lazy"), (0, 1, None)),
    **dict.fromkeys(("npgettext", "npgettext_lazy"), (0, 1, 2)),
}


def python_messages(path: Path) -> list[tuple[str | None, str, str | None]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in GETTEXT:
            continue

        def literal(i: int | None, args: list[ast.expr] = node.args) -> str | None:
            if i is None or i >= len(args) or not isinstance(args[i], ast.Constant):
                return None
            value = args[i].value  # type: ignore[attr-defined]
            return value if isinstance(value, str) else None

        context, msgid, plural = GETTEXT[name]
        if (text := literal(msgid)) is not None:
            found.append((literal(context), text, literal(plural)))
    return found


def used_messages() -> dict[tuple[str | None, str], tuple[str, str | None]]:
    """(context, msgid) → (where, msgid_plural) for every message the code and templates ask for."""
    used: dict[tuple[str | None, str], tuple[str, str | None]] = {}
    for path in TEMPLATES:
        for context, msgid, plural in template_messages(path):
            used.setdefault((context, msgid), (str(path.relative_to(TALLYLOG)), plural))
    for path in SOURCES:
        for context, msgid, plural in python_messages(path):
            used.setdefault((context, msgid), (str(path.relative_to(TALLYLOG)), plural))
    return used


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_used_is_in_the_catalogue_with_its_plural(catalogues: dict[str, polib.POFile], lang: str) -> None:
    have = {(e.msgctxt, e.msgid): e for e in catalogues[lang] if not e.obsolete}
    used = used_messages()
    assert len(used) > 400  # the extraction found the site's messages
    assert [(where, key) for key, (where, _plural) in used.items() if key not in have] == []
    assert [
        (where, key) for key, (where, plural) in used.items() if key in have and (have[key].msgid_plural or None) != plural
    ] == []


def test_every_catalogue_entry_is_used(catalogues: dict[str, polib.POFile]) -> None:
    """A message the code no longer asks for goes from the catalogues (merges leave them
    behind, and a translator would keep polishing text nobody reads)."""
    used = used_messages()
    unused = [(e.msgctxt, e.msgid) for e in catalogues["zh_Hans"] if not e.obsolete and (e.msgctxt, e.msgid) not in used]
    assert unused == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_entry_is_fuzzy(catalogues: dict[str, polib.POFile], lang: str) -> None:
    assert [e.msgid for e in catalogues[lang] if "fuzzy" in e.flags] == []


PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|\{\w+\}")


def _translations(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgstr_plural else [entry.msgstr]


@pytest.mark.parametrize("lang", ["zh_Hans", "zh_Hant"])
def test_translations_keep_every_placeholder(catalogues: dict[str, polib.POFile], lang: str) -> None:
    wrong = [
        (e.msgid, text)
        for e in catalogues[lang]
        for text in _translations(e)
        if set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(e.msgid + (e.msgid_plural or "")))
    ]
    assert wrong == []


# ASCII , : ; ? ! ( ) beside a Chinese character: Chinese text takes the full-width forms
# ，：；？！（）. Allowed: a formula, whose parentheses are its syntax.
CJK = "\u3400-\u4dbf\u4e00-\u9fff"
ASCII_BESIDE_CJK = re.compile(rf"[{CJK}]\s*[,:;?!()]|[,:;?!()]\s*[{CJK}]")
FORMULAS = ("SHA-256(0x00 ‖ 叶子)", "SHA-256(0x00 ‖ 葉子)")


@pytest.mark.parametrize("lang", ["zh_Hans", "zh_Hant"])
def test_chinese_text_uses_chinese_punctuation(catalogues: dict[str, polib.POFile], lang: str) -> None:
    found = []
    for entry in catalogues[lang]:
        for text in _translations(entry):
            for formula in FORMULAS:
                text = text.replace(formula, "")
            found += [text[max(0, m.start() - 8) : m.end() + 8] for m in ASCII_BESIDE_CJK.finditer(text)]
    assert found == []


def test_the_punctuation_check_finds_ascii_beside_chinese() -> None:
    assert ASCII_BESIDE_CJK.search("退出: 中共")
    assert ASCII_BESIDE_CJK.search("中共, 共青团")
    assert ASCII_BESIDE_CJK.search("(可选)")
    assert not ASCII_BESIDE_CJK.search("退出：中共、共青团（可选）")
    assert not ASCII_BESIDE_CJK.search("RFC 6962 (2013), C2SP")
