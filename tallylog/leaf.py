"""The log entry (leaf) of a declaration or a petition signature, and receipt codes.

Plain Python, no Django: the registry builds leaves with it and the auditor's
``tallylog recount`` / ``check-receipt`` parse them with it.

A leaf is canonical JSON (UTF-8, keys sorted, no insignificant whitespace), at most
65,535 bytes, carrying only what is safe to publish forever (ARCHITECTURE.md, "The log
entry")::

    {"campaign":"three-withdrawals","channel":"web","commit":"<hex>","day":"2026-11-25",
     "kind":"declaration","orgs":["league","party"],"tag":"<hex>","v":1}

- ``commit`` = SHA-256(salt ‖ canonical_json(public content)), hex; the salt (hex) and the
  content are published separately while the entry is not redacted.
- ``tag`` = SHA-256(RECEIPT_TAG_PREFIX ‖ normalised receipt code), hex.

``encode_leaf`` and ``parse_leaf`` are inverses; ``parse_leaf`` is strict and rejects any
input that does not re-encode to the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
from typing import Any

LEAF_VERSION = 1
MAX_LEAF_BYTES = 65535
KINDS = ("declaration", "signature")
RECEIPT_TAG_PREFIX = b"tallylog receipt tag v1\n"
SALT_BYTES = 16

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


def receipt_tag(code: str) -> str:
    """The leaf's ``tag``: hex SHA-256(RECEIPT_TAG_PREFIX ‖ normalised code)."""
    return hashlib.sha256(RECEIPT_TAG_PREFIX + normalise_receipt_code(code).encode()).hexdigest()


_HEX64 = re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_REQUIRED = {"v", "kind", "campaign", "day", "channel", "commit", "tag"}


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
# tag, v), no whitespace.
_PLAIN_LEAF = (
    '{"campaign":"%s","channel":"%s","commit":"%s","day":"%s","kind":"%s",%s"tag":"%s","v":'
    + str(LEAF_VERSION)
    + "}"
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
) -> bytes:
    """Encode a leaf; the inverse of ``parse_leaf``. ``orgs`` is required for declarations.

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
            data = (_PLAIN_LEAF % (campaign, channel, commit, day, kind, orgs_json, tag)).encode("ascii")
            if len(data) <= MAX_LEAF_BYTES:
                return data
    fields: dict[str, Any] = {
        "v": LEAF_VERSION,
        "kind": kind,
        "campaign": campaign,
        "day": day,
        "channel": channel,
        "commit": commit,
        "tag": tag,
    }
    if codes is not None:
        fields["orgs"] = codes
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
    extra = keys - _REQUIRED - {"orgs"}
    if extra:
        raise LeafError(f"leaf has unknown field {sorted(extra)[0]}")
    if value["v"] != LEAF_VERSION or type(value["v"]) is not int:
        raise LeafError("leaf has an unknown version")
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
