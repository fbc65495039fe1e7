"""The form a declarant writes in an email: the ONE reader of it (docs/email-intake.md).

A message holds labelled lines, in Simplified or Traditional Chinese or in English, in any
order; a label ends with a colon (``:`` or ``：``) and is matched without regard to case::

    化名：小明                  alias / 化名 / 名字 / 笔名 / 筆名 / name
    退出：党 团 队              organisations / 退出 / 组织 / 組織 / withdraw / leave
    地区：广东                  region / 地区 / 地區 / 省份 / province        (optional)
    声明：……                    statement / 声明 / 聲明 / 内容 / 內容        (optional)

- The statement is the statement line's text and every line after it that is not another
  labelled line. Without a statement line, the lines that are not labelled are the
  statement (a greeting included: the moderator reads every message before it is published).
- Organisations: one or more, separated by spaces, commas or 、, or written together
  (``党团队``); each by its short name (党 团 队, 黨 團 隊), its full name in any of the
  three languages, its code (``party``), or ``三退`` / ``all`` for every one.
- What a mail client adds is dropped first: quoted lines (``>``), and everything from a
  signature (``--``) or a quoted original (``-----Original Message-----``, ``原始邮件``,
  ``On … wrote:``, ``在 … 写道：``) on.

``read_form`` is the reader; it raises ``FormNotUnderstood`` with one message per thing
wrong, in the active language, so that the reply can say what to change. ``guess_language``
picks the language of the reply. The registry's own rules (lengths, contact details) are
applied afterwards by ``validate_declaration``, as for every other channel.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext as _

from tallylog.registry.declarations.regions import REGIONS

MAX_TEXT = 64 * 1024  # characters of a message's text read at most; longer is refused

# Label → field.
_LABELS: dict[str, str] = {}
for _field, _words in (
    ("alias", "化名 名字 姓名 笔名 筆名 署名 alias name pseudonym"),
    ("orgs", "退出 三退 组织 組織 退 orgs organisations organizations organisation organization withdraw "
             "withdraw_from withdrawing leave leaving quit"),
    ("region", "地区 地區 省份 省 地方 所在地 region province"),
    ("statement", "声明 聲明 内容 內容 正文 statement declaration message text"),
):
    for _word in _words.split():
        _LABELS[_word.replace("_", " ")] = _field
_HANS_LABELS = {"笔名", "组织", "地区", "声明", "内容"}
_HANT_LABELS = {"筆名", "組織", "地區", "聲明", "內容"}
_LABEL_LINE = re.compile(
    r"^\s*(" + "|".join(sorted(map(re.escape, _LABELS), key=len, reverse=True)) + r")\s*[:：]\s*(.*)$",
    re.IGNORECASE,
)

# Short and common names of the default campaign's organisations, beyond the names the
# campaign gives them (``Organisation.name_*``), which are words too.
ORG_WORDS: dict[str, tuple[str, ...]] = {
    "party": ("党", "黨", "中共", "共产党", "共產黨", "中国共产党", "中國共產黨", "ccp", "cpc", "the party",
              "communist party", "chinese communist party"),
    "league": ("团", "團", "共青团", "共青團", "青年团", "青年團", "共产主义青年团", "共產主義青年團", "cyl",
               "youth league", "communist youth league"),
    "pioneers": ("队", "隊", "少先队", "少先隊", "少年先锋队", "少年先鋒隊", "young pioneers", "pioneers"),
}
_ALL_WORDS = ("三退", "全部", "全退", "都退", "all three", "all")
# Between organisations: separators and little words (退党 退团 is "党 团").
_SEPARATORS = re.compile(r"[\s,，、;；/|+&.。·()（）\[\]【】\"“”'‘’!！]+")
_FILLERS = ("以及", "还有", "還有", "退出", "and", "the", "from", "和", "与", "與", "及", "跟", "退")

# Where a mail client's additions start, and quoted lines.
_CUT_LINE = re.compile(
    r"^\s*(?:--\s*|-{3,}.*(?:original|forwarded|原始|转发|轉寄|轉發).*|_{5,}\s*"
    r"|on .{3,200} wrote:\s*|在.{3,200}(?:写道|寫道)[:：]\s*|(?:from|发件人|發件人|寄件者)[:：].*@.*)$",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"^\s*>")

# Characters that tell the two scripts apart in what declarants write (labels, the
# organisations' names and common words).
_HANS = set("声区组队团党国这说们时会为来对发个与没过还进问学实话写让经")
_HANT = set("聲區組隊團黨國這說們時會為來對發個與沒過還進問學實話寫讓經")
_HAN = re.compile(r"[\u4e00-\u9fff]")


class FormNotUnderstood(Exception):
    """The message does not hold the form; ``problems`` says what is wrong, each in the
    active language; ``blank`` when no labelled line was found at all."""

    def __init__(self, problems: list[str], *, blank: bool = False) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.blank = blank


@dataclass(frozen=True)
class MailForm:
    """The fields a message gives, ready for ``submit_declaration``."""

    alias: str
    orgs: list[str]
    region: str
    statement: str


def body_lines(text: str) -> list[str]:
    """The lines of ``text`` the declarant wrote: NFC, without quoted lines and without
    what follows a signature or a quoted original."""
    text = unicodedata.normalize("NFC", text[:MAX_TEXT]).replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for line in text.split("\n"):
        if _CUT_LINE.match(line):
            break
        if not _QUOTED.match(line):
            lines.append(line.rstrip())
    return lines


def guess_language(text: str) -> str:
    """``zh-hans``, ``zh-hant`` or ``en``: the language to answer ``text`` in."""
    lines = body_lines(text)
    hans = hant = 0
    for line in lines:
        if m := _LABEL_LINE.match(line):
            hans += m[1] in _HANS_LABELS
            hant += m[1] in _HANT_LABELS
    joined = "\n".join(lines)
    hans += sum(c in _HANS for c in joined)
    hant += sum(c in _HANT for c in joined)
    if hant > hans:
        return "zh-hant"
    if hans or _HAN.search(joined):
        return "zh-hans"
    return "en"


def read_form(text: str, organisations: Mapping[str, Sequence[str]]) -> MailForm:
    """The declaration written in ``text`` (module docstring) for a campaign whose
    organisations are ``organisations`` (code → its names in the three languages).

    Raises ``FormNotUnderstood`` with every problem found (nothing is half-read)."""
    problems: list[str] = []
    found: dict[str, str] = {}
    statement: list[str] = []
    loose: list[str] = []
    in_statement = False
    for line in body_lines(text):
        m = _LABEL_LINE.match(line)
        if m is None:
            (statement if in_statement else loose).append(line)
            continue
        field = _LABELS[m[1].lower()]
        if field in found:
            problems.append(_("“%(label)s” is written twice: write it once.") % {"label": m[1]})
            continue
        found[field] = m[2].strip()
        if field == "statement":
            in_statement = True
            statement.append(m[2])
    if not found:
        raise FormNotUnderstood([_("We found none of the lines of the form in your message.")], blank=True)
    alias = found.get("alias", "")
    if not alias:
        problems.append(_("Write an alias (any name you choose) after “%(label)s”.") % {"label": _("alias:")})
    orgs: list[str] = []
    if not found.get("orgs"):
        problems.append(
            _("Write what you leave after “%(label)s”, for example: %(example)s.")
            % {"label": _("withdraw:"), "example": org_example(organisations)}
        )
    else:
        try:
            orgs = read_orgs(found["orgs"], organisations)
        except FormNotUnderstood as exc:
            problems.extend(exc.problems)
    region = ""
    if found.get("region"):
        region = read_region(found["region"])
        if not region:
            problems.append(
                _("We do not know the region “%(region)s”: write a province (for example 广东) or leave the line out.")
                % {"region": found["region"]}
            )
    if problems:
        raise FormNotUnderstood(problems)
    body = statement if "statement" in found else loose
    return MailForm(alias=alias, orgs=orgs, region=region, statement="\n".join(body).strip())


def org_example(organisations: Mapping[str, Sequence[str]]) -> str:
    """The organisations' short names in the active language (党 团 队, 黨 團 隊, or
    their codes: party league pioneers)."""
    language = translation.get_language() or ""
    column = 0 if language.lower() in ("zh-hans", "zh-cn") else 1 if language.lower().startswith("zh") else None
    words = [ORG_WORDS[code][column] if column is not None and code in ORG_WORDS else code for code in organisations]
    return " ".join(words)


def _vocabulary(organisations: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(word, code) pairs, longest word first; a word two codes share names neither."""
    words: dict[str, set[str]] = {}
    for code, names in organisations.items():
        for word in (code, *names, *ORG_WORDS.get(code, ())):
            if word.strip():
                words.setdefault(word.strip().lower(), set()).add(code)
    return sorted(((w, next(iter(c))) for w, c in words.items() if len(c) == 1), key=lambda p: -len(p[0]))


def read_orgs(value: str, organisations: Mapping[str, Sequence[str]]) -> list[str]:
    """The organisation codes named in ``value`` (sorted, each once); ``FormNotUnderstood``
    naming the first word that is none of them."""
    vocabulary = _vocabulary(organisations)
    rest = value.strip().lower()
    codes: set[str] = set()
    while rest:
        if m := _SEPARATORS.match(rest):
            rest = rest[m.end():]
            continue
        word = next((w for w in _ALL_WORDS if _starts_with_word(rest, w)), None)
        if word is not None:
            codes.update(organisations)
            rest = rest[len(word):]
            continue
        match = next(((w, c) for w, c in vocabulary if _starts_with_word(rest, w)), None)
        if match is not None:
            codes.add(match[1])
            rest = rest[len(match[0]):]
            continue
        filler = next((w for w in _FILLERS if _starts_with_word(rest, w)), None)
        if filler is not None:
            rest = rest[len(filler):]
            continue
        unknown = _SEPARATORS.split(rest, maxsplit=1)[0]
        raise FormNotUnderstood([
            _("We did not understand “%(word)s” after “%(label)s”: write one or more of %(example)s.")
            % {"word": unknown, "label": _("withdraw:"), "example": org_example(organisations)}
        ])
    if not codes:
        raise FormNotUnderstood([
            _("Write what you leave after “%(label)s”, for example: %(example)s.")
            % {"label": _("withdraw:"), "example": org_example(organisations)}
        ])
    return sorted(codes)


def _starts_with_word(text: str, word: str) -> bool:
    """``text`` starts with ``word``, and an ASCII word does not run on (``all`` ≠ ``alliance``)."""
    if not text.startswith(word):
        return False
    after = text[len(word):len(word) + 1]
    return not (word[-1:].isascii() and word[-1:].isalnum() and after.isascii() and after.isalnum())


_REGION_SUFFIXES = ("维吾尔自治区", "維吾爾自治區", "壮族自治区", "壯族自治區", "回族自治区", "回族自治區",
                    "特别行政区", "特別行政區", "自治区", "自治區", "省", "市", " province")


def read_region(value: str) -> str:
    """The code of the region named in ``value`` (its code or its name in a language,
    with or without 省/市/自治区), or "" when it is none."""
    name = value.strip().lower()
    for suffix in _REGION_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)].strip()
            break
    for region in REGIONS:
        if name in (region.code, region.zh_hans, region.zh_hant, region.en.lower()):
            return region.code
    return ""
