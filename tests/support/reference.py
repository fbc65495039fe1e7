"""The implementations before the speed work of issue 6, kept as the reference.

The fast paths must give exactly what these gave, for every input: the equivalence tests
(tests/registry/declarations/test_validation.py, tests/test_leaf_speedpaths.py,
tests/registry/imports/test_rows_speedpaths.py) compare against them, and ``python -m bench
validate`` times them as the "before" of its before/after ratios.

Each is the former code verbatim, from the commits before the change (docstrings and
comments trimmed), with the names prefixed ``reference_``:

- ``clean_text``, ``validate_declaration`` — tallylog/registry/declarations/validation.py
  at e1c9b16 (per-character ``clean_text``; ``clean_text`` on every field);
- ``CampaignRules.clean`` — tallylog/registry/imports/validation.py (unchanged itself, but
  calling the former ``validate_declaration``);
- ``canonical_json``, ``encode_leaf``, ``parse_leaf`` — tallylog/leaf.py at e1c9b16
  (``json.dumps`` per call; a writer that checks its own output with the strict reader);
- ``_read_jsonl``, ``_jsonl_row`` — tallylog/registry/imports/formats.py before 3003434
  (the per-field loop).

Nothing in tallylog imports this module. It needs Django set up (the tests' settings, or
the bench's ``_setup_django``) before it is imported.
"""

from __future__ import annotations

import datetime
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from tallylog.leaf import KINDS, MAX_LEAF_BYTES, LeafError
from tallylog.registry.campaigns.models import Campaign
from tallylog.registry.declarations.contact import contact_errors
from tallylog.registry.declarations.models import ALIAS_MAX, STATEMENT_MAX, Channel
from tallylog.registry.declarations.regions import is_region
from tallylog.registry.declarations.validation import EARLIEST_DECLARED_ON, DeclarationInvalid
from tallylog.registry.imports.formats import FIELDS, MAX_LINE_BYTES, Row
from tallylog.registry.imports.validation import CampaignRules, RowInvalid

LEAF_VERSION = 1  # at e1c9b16 (leaf v2 came with issue 15)

# --- tallylog/registry/declarations/validation.py at e1c9b16. --------------------------------

_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_SPACES = re.compile(r"\s+")


def reference_clean_text(value: object, *, multiline: bool = False) -> str:
    """The per-character ``clean_text``."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = []
        for line in text.split("\n"):
            kept = "".join(c for c in line if unicodedata.category(c) not in _DROPPED_CATEGORIES)
            lines.append(_SPACES.sub(" ", kept).strip())
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    else:
        text = "".join(
            " " if c in "\t\n\r" else c
            for c in text
            if c in "\t\n\r" or unicodedata.category(c) not in _DROPPED_CATEGORIES
        )
        text = _SPACES.sub(" ", text)
    return text.strip()


def reference_validate_declaration(
    campaign: Campaign,
    *,
    alias: object,
    orgs: object,
    statement: object = "",
    region: object = "",
    channel: object = Channel.WEB,
    declared_on: object = None,
    known_orgs: frozenset[str] | None = None,
) -> dict[str, Any]:
    """``validate_declaration`` with ``reference_clean_text`` on every field."""
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if campaign.kind != Campaign.Kind.DECLARATION:
        fail("campaign", _("This campaign does not take declarations."))
    elif not campaign.is_active or (campaign.closes_at and campaign.closes_at <= timezone.now()):
        fail("campaign", _("This campaign is closed."))

    clean_alias = reference_clean_text(alias)
    if not clean_alias:
        fail("alias", _("Please enter an alias (any name you choose)."))
    elif len(clean_alias) > ALIAS_MAX:
        fail("alias", _("The alias is too long: at most %(max)d characters.") % {"max": ALIAS_MAX})

    clean_orgs: list[str] = []
    if isinstance(orgs, str) or not isinstance(orgs, Iterable):
        fail("orgs", _("Choose at least one organisation."))
    else:
        codes = [reference_clean_text(o) for o in orgs]
        known = (
            known_orgs
            if known_orgs is not None
            else frozenset(campaign.organisations.values_list("code", flat=True))
        )
        unknown = sorted({c for c in codes if c not in known})
        if not codes:
            fail("orgs", _("Choose at least one organisation."))
        elif unknown:
            fail("orgs", _("Unknown organisation: %(codes)s.") % {"codes": ", ".join(unknown)})
        clean_orgs = sorted(set(codes))

    clean_statement = reference_clean_text(statement, multiline=True)
    if len(clean_statement) > STATEMENT_MAX:
        fail(
            "statement",
            _("The statement is too long: at most %(max)d characters (you wrote %(n)d).")
            % {"max": STATEMENT_MAX, "n": len(clean_statement)},
        )

    clean_region = reference_clean_text(region)
    if clean_region and not is_region(clean_region):
        fail("region", _("Unknown region."))

    clean_channel = reference_clean_text(channel)
    if clean_channel not in Channel.values:
        fail("channel", _("Unknown channel."))

    clean_day: datetime.date | None = None
    if declared_on not in (None, ""):
        if isinstance(declared_on, datetime.datetime):
            fail("declared_on", _("Give a date, not a time."))
        elif isinstance(declared_on, datetime.date):
            clean_day = declared_on
        else:
            try:
                clean_day = datetime.date.fromisoformat(reference_clean_text(declared_on))
            except ValueError:
                fail("declared_on", _("Give the date as YYYY-MM-DD."))
        if clean_day is not None:
            if clean_day > timezone.now().date():
                fail("declared_on", _("The date is in the future."))
            elif clean_day < EARLIEST_DECLARED_ON:
                fail("declared_on", _("The date is too early."))

    # issue 15.4 (every channel since issue 17, bulk import too): the rule added since
    errors = {**contact_errors(alias=clean_alias, statement=clean_statement), **errors}
    if errors:
        raise DeclarationInvalid(errors)
    return {
        "alias": clean_alias,
        "orgs": clean_orgs,
        "statement": clean_statement,
        "region": clean_region,
        "channel": clean_channel,
        "declared_on": clean_day,
    }


# --- CampaignRules.clean (tallylog/registry/imports/validation.py) on the former validation. --


def reference_rules_clean(rules: CampaignRules, fields: dict[str, Any]) -> dict[str, Any]:
    """``rules.clean(fields)`` as it was: ``reference_validate_declaration`` on the row."""
    try:
        return reference_validate_declaration(
            rules.campaign,
            alias=fields.get("alias", ""),
            orgs=fields.get("orgs", ()),
            statement=fields.get("statement", ""),
            region=fields.get("region", ""),
            channel=fields.get("channel") or Channel.IMPORT,
            declared_on=fields.get("declared_on"),
            known_orgs=rules.known_orgs,
        )
    except DeclarationInvalid as exc:
        raise RowInvalid(exc.errors) from None


# --- tallylog/leaf.py at e1c9b16. ------------------------------------------------------------

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_REQUIRED = {"v", "kind", "campaign", "day", "channel", "commit", "tag"}


def reference_canonical_json(value: Any) -> bytes:
    """``json.dumps`` with the canonical options, per call."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def reference_encode_leaf(
    *,
    kind: str,
    campaign: str,
    day: str,
    channel: str,
    commit: str,
    tag: str,
    orgs: list[str] | None = None,
) -> bytes:
    """The self-checking writer: canonical JSON of the fields, then the strict reader."""
    fields: dict[str, Any] = {
        "v": LEAF_VERSION,
        "kind": kind,
        "campaign": campaign,
        "day": day,
        "channel": channel,
        "commit": commit,
        "tag": tag,
    }
    if orgs is not None:
        fields["orgs"] = sorted(orgs)
    data = reference_canonical_json(fields)
    reference_parse_leaf(data)  # the writer checks its own output against the strict reader
    return data


def reference_parse_leaf(data: bytes) -> dict[str, Any]:
    """The strict reader (unchanged since but for its ``canonical_json``)."""
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
    if reference_canonical_json(value) != data:
        raise LeafError("leaf is not canonical JSON")
    return value


# --- tallylog/registry/imports/formats.py before 3003434. ------------------------------------


def reference_read_jsonl(path: Path, after_line: int = 0) -> Iterator[Row]:
    """The rows of a JSON Lines file, each read by ``reference_jsonl_row``."""
    with open(path, "rb") as f:
        number = 0
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the long line
                    raw = f.readline(MAX_LINE_BYTES + 1)
                if number > after_line:
                    yield Row(number, number, error=f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if number <= after_line:
                continue
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte order mark
            if not raw.strip():
                continue  # blank lines are allowed and ignored
            yield reference_jsonl_row(number, raw)


def reference_jsonl_row(number: int, raw: bytes) -> Row:
    """One JSON Lines record as a ``Row``: the per-field loop."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Row(number, number, error="not UTF-8")
    except json.JSONDecodeError as exc:
        return Row(number, number, error=f"not JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(value, dict):
        return Row(number, number, error="not a JSON object")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        return Row(number, number, error=f"unknown field {unknown[0]!r}")
    fields: dict[str, Any] = {}
    for name, item in value.items():
        if item is None:
            continue
        if name == "orgs":
            if not isinstance(item, list) or not all(isinstance(o, str) for o in item):
                return Row(number, number, error="orgs: give a list of organisation codes")
        elif not isinstance(item, str):
            return Row(number, number, error=f"{name}: give a string")
        fields[name] = item
    return Row(number, number, fields=fields)
