"""The log entry (leaf) of a declaration or a petition signature, and receipt codes.

Plain Python, no Django: the registry builds leaves with it and the auditor's
``tallylog recount`` / ``check-receipt`` parse them with it.

A leaf is canonical JSON (UTF-8, keys sorted, no insignificant whitespace), at most
65,535 bytes, carrying only what is safe to publish forever (ARCHITECTURE.md, "The log
entry"; docs/audit.md, "The entry format")::

    {"campaign":"three-withdrawals","channel":"web","commit":"<hex>","day":"2026-11-25",
     "kind":"declaration","orgs":["league","party"],"tag":"<hex>","tag_salt":"<hex>","v":2}

- ``commit`` = SHA-256(salt ‖ canonical_json(public content)), hex; the salt (hex) and the
  content are published separately while the entry is not redacted.
- ``tag_salt``: 16 random bytes (32 lowercase hex digits), public, one per entry.
- ``tag`` = SHA-256(RECEIPT_TAG_PREFIX_V2 ‖ tag_salt's 16 bytes ‖ the receipt code's 25
  ASCII digits), hex (``receipt_tag``). The salt makes each guess of a code test one
  entry only (with v1's unsalted tag each guess tested every entry of the log at once).

Version 1 leaves (``"v":1``, written before issue 15) have no ``tag_salt`` and
``tag`` = SHA-256(RECEIPT_TAG_PREFIX ‖ digits) (``receipt_tag_v1``); they stay valid,
counted and found by their receipts. The registry writes v2 for every new entry (an entry
queued before the upgrade, whose body has no ``tag_salt``, is still written as v1).

``encode_leaf`` and ``parse_leaf`` are inverses; ``parse_leaf`` is strict and rejects any
input that does not re-encode to the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Callable
from typing import Any

LEAF_VERSION = 2  # the version written for new entries
LEAF_VERSIONS = (1, 2)  # the versions read
MAX_LEAF_BYTES = 65535
KINDS = ("declaration", "signature")
RECEIPT_TAG_PREFIX = b"tallylog receipt tag v1\n"  # v1 leaves: no salt
RECEIPT_TAG_PREFIX_V2 = b"tallylog receipt tag v2\n"
SALT_BYTES = 16
TAG_SALT_BYTES = 16

# Receipt codes: 25 decimal digits (83 bits of randomness) in five groups of five, easy
# to read out over the phone in any language and to write down.
RECEIPT_DIGITS = 25
RECEIPT_GROUP = 5


class LeafError(ValueError):
    """A leaf that is not a well-formed canonical tallylog entry."""


# json.dumps(value, **options) is JSONEncoder(**options).encode(value): one encoder, built once.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON: UTF-8, sorted keys, no insignificant whitespace, no NaN."""
    return _CANONICAL.encode(value).encode("utf-8")


def commitment(salt: bytes, content: dict[str, Any]) -> str:
    """The ``commit`` field: hex SHA-256 over ``salt ‖ canonical_json(content)``."""
    return hashlib.sha256(salt + canonical_json(content)).hexdigest()


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def new_receipt_code() -> str:
    """A fresh receipt code: 25 uniformly random decimal digits (83 bits), formatted
    ``12345-67890-…`` (see ``normalise_receipt_code``). One ``secrets.randbelow`` call
    instead of 25 ``secrets.choice``: the same distribution, less time per declaration."""
    return format_receipt_code(f"{secrets.randbelow(10**RECEIPT_DIGITS):0{RECEIPT_DIGITS}d}")


def format_receipt_code(digits: str) -> str:
    """Group 25 digits as ``ddddd-ddddd-ddddd-ddddd-ddddd``; inverse of ``normalise_receipt_code``."""
    return "-".join(digits[i : i + RECEIPT_GROUP] for i in range(0, len(digits), RECEIPT_GROUP))


def normalise_receipt_code(text: str) -> str:
    """The 25 digits of a receipt code as typed: full-width digits, spaces and dashes allowed.

    Raises ``ValueError`` for anything else.
    """
    text = unicodedata.normalize("NFKC", text)
    digits = re.sub(r"[\s\-－—_.]", "", text)
    if not digits.isascii() or not digits.isdigit() or len(digits) != RECEIPT_DIGITS:
        raise ValueError(f"a receipt code is {RECEIPT_DIGITS} digits")
    return digits


def new_tag_salt() -> str:
    """A fresh ``tag_salt``: 16 random bytes as 32 lowercase hex digits."""
    return secrets.token_hex(TAG_SALT_BYTES)


def receipt_tag(code: str, tag_salt: str) -> str:
    """A v2 leaf's ``tag``: hex SHA-256(RECEIPT_TAG_PREFIX_V2 ‖ salt ‖ digits), where salt
    is the 16 bytes that ``tag_salt`` (32 lowercase hex digits) spells and digits the 25
    ASCII digits of ``code`` (``normalise_receipt_code``). Raises ``ValueError`` for a
    code or a salt that is not one. ``receipt_matches`` checks a leaf against a code."""
    if not isinstance(tag_salt, str) or not _HEX32.fullmatch(tag_salt):
        raise ValueError(f"a tag salt is {2 * TAG_SALT_BYTES} lowercase hex digits")
    digits = normalise_receipt_code(code).encode()
    return hashlib.sha256(RECEIPT_TAG_PREFIX_V2 + bytes.fromhex(tag_salt) + digits).hexdigest()


def receipt_tag_v1(code: str) -> str:
    """A v1 leaf's ``tag``: hex SHA-256(RECEIPT_TAG_PREFIX ‖ digits), unsalted. Read only:
    new entries get ``receipt_tag``."""
    return hashlib.sha256(RECEIPT_TAG_PREFIX + normalise_receipt_code(code).encode()).hexdigest()


def new_receipt_tag(code: str) -> tuple[str, str]:
    """The ``(tag, tag_salt)`` of a new entry whose receipt code is ``code``."""
    tag_salt = new_tag_salt()
    return receipt_tag(code, tag_salt), tag_salt


def receipt_matches(entry: dict[str, Any], code: str) -> bool:
    """Whether the leaf ``entry`` (as ``parse_leaf`` returns it, v1 or v2) carries the tag
    of receipt ``code``. Raises ``ValueError`` for a string that is not a receipt code."""
    if entry.get("v") == 1:
        return entry["tag"] == receipt_tag_v1(code)
    return entry["tag"] == receipt_tag(code, entry["tag_salt"])


def receipt_matcher(code: str) -> Callable[[bytes], bool]:
    """A test of raw leaf bytes for a private scan (``tallylog check-receipt``): whether the
    entry is a valid leaf (``parse_leaf``) whose tag is that of receipt ``code``.

    One SHA-256 per v2 entry (its tag and salt read from the fixed end of the canonical
    encoding, no JSON parsing), a substring search per v1 entry; only a hit is parsed.
    Raises ``ValueError`` for a string that is not a receipt code."""
    digits = normalise_receipt_code(code).encode()
    v1_needle = b'"tag":"' + receipt_tag_v1(code).encode() + b'"'
    sha256, fromhex, tail = hashlib.sha256, bytes.fromhex, _V2_TAIL.match
    prefix = RECEIPT_TAG_PREFIX_V2

    def confirm(data: bytes) -> bool:
        try:
            return receipt_matches(parse_leaf(data), code)
        except LeafError:
            return False

    def matches(data: bytes) -> bool:
        found = tail(data, len(data) - _V2_TAIL_BYTES)
        if found:
            tag, salt = found.groups()
            return sha256(prefix + fromhex(salt.decode()) + digits).hexdigest().encode() == tag and confirm(data)
        return v1_needle in data and confirm(data)

    return matches


_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
# The last bytes of every canonical v2 leaf (keys sorted: …, tag, tag_salt, v).
_V2_TAIL = re.compile(rb'"tag":"([0-9a-f]{64})","tag_salt":"([0-9a-f]{32})","v":2}\Z')
_V2_TAIL_BYTES = len(b'"tag":"","tag_salt":"","v":2}') + 64 + 32
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_REQUIRED = {"v", "kind", "campaign", "day", "channel", "commit", "tag"}  # v1; v2 adds tag_salt


# The fields of a leaf whose values JSON writes as they are (ASCII, nothing to escape),
# one per line in encode_leaf's order: campaign, channel, commit, day, kind, tag. None
# of the classes holds a line break, so a match splits exactly at the five.
_SLUG_A = r"[a-z0-9][a-z0-9-]{0,63}"
_PLAIN_FIELDS = re.compile(
    rf"{_SLUG_A}\n{_SLUG_A}\n[0-9a-f]{{64}}\n[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}\n"
    rf"(?:{'|'.join(KINDS)})\n[0-9a-f]{{64}}"
)
_PLAIN_ORG = re.compile(_SLUG_A)
# canonical_json of such a leaf: keys sorted (campaign, channel, commit, day, kind, orgs,
# tag, tag_salt, v), no whitespace; v1 without tag_salt.
_PLAIN_LEAF_V1 = '{"campaign":"%s","channel":"%s","commit":"%s","day":"%s","kind":"%s",%s"tag":"%s","v":1}'
_PLAIN_LEAF_V2 = (
    '{"campaign":"%s","channel":"%s","commit":"%s","day":"%s","kind":"%s",%s"tag":"%s","tag_salt":"%s","v":2}'
)


def encode_leaf(
    *,
    kind: str,
    campaign: str,
    day: str,
    channel: str,
    commit: str,
    tag: str,
    orgs: list[str] | None = None,
    tag_salt: str | None = None,
) -> bytes:
    """Encode a leaf; the inverse of ``parse_leaf``. ``orgs`` is required for declarations.
    With ``tag_salt`` the leaf is version 2 (``tag`` is ``receipt_tag(code, tag_salt)``);
    without, version 1 (for entries queued before v2, whose tag is unsalted).

    The writer never emits a leaf the strict reader rejects. Well-formed fields (plain
    ``str`` slugs, an ASCII ``YYYY-MM-DD`` day, lowercase hex, distinct organisation
    codes) are checked directly and written without a JSON round trip, giving the bytes
    ``canonical_json`` would; anything else takes the general path — ``canonical_json``,
    then ``parse_leaf`` of the result, which raises ``LeafError`` for what it rejects.
    """
    codes = None if orgs is None else sorted(orgs)
    if (
        type(kind) is str
        and type(campaign) is str
        and type(channel) is str
        and type(commit) is str
        and type(day) is str
        and type(tag) is str
        and (tag_salt is None or (type(tag_salt) is str and _HEX32.fullmatch(tag_salt)))
        and _PLAIN_FIELDS.fullmatch("\n".join((campaign, channel, commit, day, kind, tag)))
    ):
        if codes is None:
            orgs_json = "" if kind != "declaration" else None
        elif (
            codes
            and all(type(o) is str for o in codes)
            and all(map(_PLAIN_ORG.fullmatch, codes))
            and len(set(codes)) == len(codes)
        ):
            orgs_json = '"orgs":["' + '","'.join(codes) + '"],'
        else:
            orgs_json = None
        if orgs_json is not None:
            if tag_salt is None:
                text = _PLAIN_LEAF_V1 % (campaign, channel, commit, day, kind, orgs_json, tag)
            else:
                text = _PLAIN_LEAF_V2 % (campaign, channel, commit, day, kind, orgs_json, tag, tag_salt)
            data = text.encode("ascii")
            if len(data) <= MAX_LEAF_BYTES:
                return data
    fields: dict[str, Any] = {
        "v": 1 if tag_salt is None else 2,
        "kind": kind,
        "campaign": campaign,
        "day": day,
        "channel": channel,
        "commit": commit,
        "tag": tag,
    }
    if codes is not None:
        fields["orgs"] = codes
    if tag_salt is not None:
        fields["tag_salt"] = tag_salt
    data = canonical_json(fields)
    parse_leaf(data)  # the writer checks its own output against the strict reader
    return data


def parse_leaf(data: bytes) -> dict[str, Any]:
    """Parse a leaf strictly; the inverse of ``encode_leaf``. Raises ``LeafError``."""
    if len(data) > MAX_LEAF_BYTES:
        raise LeafError("leaf longer than 65535 bytes")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeafError(f"leaf is not UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LeafError("leaf is not a JSON object")
    keys = set(value)
    missing = _REQUIRED - keys
    if missing:
        raise LeafError(f"leaf lacks {', '.join(sorted(missing))}")
    version = value["v"]
    if type(version) is not int or version not in LEAF_VERSIONS:
        raise LeafError("leaf has an unknown version")
    if version >= 2 and "tag_salt" not in keys:
        raise LeafError("leaf lacks tag_salt")
    extra = keys - _REQUIRED - {"orgs"} - ({"tag_salt"} if version >= 2 else set())
    if extra:
        raise LeafError(f"leaf has unknown field {sorted(extra)[0]}")
    if value["kind"] not in KINDS:
        raise LeafError("leaf has an unknown kind")
    for name in ("campaign", "channel"):
        if not isinstance(value[name], str) or not _SLUG.fullmatch(value[name]):
            raise LeafError(f"leaf {name} is not a slug")
    if not isinstance(value["day"], str) or not _DAY.fullmatch(value["day"]):
        raise LeafError("leaf day is not YYYY-MM-DD")
    for name in ("commit", "tag"):
        if not isinstance(value[name], str) or not _HEX64.fullmatch(value[name]):
            raise LeafError(f"leaf {name} is not 64 lowercase hex digits")
    if "tag_salt" in value and (not isinstance(value["tag_salt"], str) or not _HEX32.fullmatch(value["tag_salt"])):
        raise LeafError("leaf tag_salt is not 32 lowercase hex digits")
    if value["kind"] == "declaration" and "orgs" not in value:
        raise LeafError("declaration leaf lacks orgs")
    if "orgs" in value:
        orgs = value["orgs"]
        if (
            not isinstance(orgs, list)
            or not orgs
            or not all(isinstance(o, str) and _SLUG.fullmatch(o) for o in orgs)
            or orgs != sorted(set(orgs))
        ):
            raise LeafError("leaf orgs is not a sorted list of distinct codes")
    if canonical_json(value) != data:
        raise LeafError("leaf is not canonical JSON")
    return value
