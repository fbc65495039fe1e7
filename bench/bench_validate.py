"""Validation and leaf encoding (issue 6): rows/s of ``CampaignRules.clean`` on realistic
rows, ``encode_leaf``/s, ``clean_text``/s and JSON Lines parse rows/s — each against the
implementation it replaced (kept verbatim below), as a ratio measured in the same run.

    python -m bench validate                 # 200,000 rows, best of 3
    python -m bench validate --rows 20000 --repeat 1
    python -m bench validate --profile       # cProfile of CampaignRules.clean instead

Rows come from ``bench_scale.generate`` (Chinese aliases, a statement on one in five,
a region on most, a historical date on half), read with ``formats.read_rows``. One
process, one core; no database (the campaign is an unsaved model instance).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tallylog.leaf import KINDS, LEAF_VERSION, MAX_LEAF_BYTES, LeafError


def _setup_django() -> None:
    os.environ.setdefault("TALLYLOG_HOME", tempfile.mkdtemp(prefix="tallylog-bench-validate-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tallylog.settings")
    import django

    django.setup()
    from django.utils import timezone
    from django.utils.translation import gettext

    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.declarations import models, regions, validation
    from tallylog.registry.imports import formats
    from tallylog.registry.imports.validation import RowInvalid

    globals().update(
        timezone=timezone, _=gettext, Campaign=Campaign, ALIAS_MAX=models.ALIAS_MAX,
        STATEMENT_MAX=models.STATEMENT_MAX, Channel=models.Channel, is_region=regions.is_region,
        EARLIEST_DECLARED_ON=validation.EARLIEST_DECLARED_ON,
        DeclarationInvalid=validation.DeclarationInvalid, RowInvalid=RowInvalid,
        MAX_LINE_BYTES=formats.MAX_LINE_BYTES, Row=formats.Row,
    )


# --- The implementations before issue 6 (commit e1c9b16), kept for the ratio. -----------

_OLD_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co"})
_OLD_SPACES = re.compile(r"\s+")


def old_clean_text(value: object, *, multiline: bool = False) -> str:
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = []
        for line in text.split("\n"):
            kept = "".join(c for c in line if unicodedata.category(c) not in _OLD_DROPPED)
            lines.append(_OLD_SPACES.sub(" ", kept).strip())
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    else:
        text = "".join(
            " " if c in "\t\n\r" else c
            for c in text
            if c in "\t\n\r" or unicodedata.category(c) not in _OLD_DROPPED
        )
        text = _OLD_SPACES.sub(" ", text)
    return text.strip()


def old_validate_declaration(
    campaign: Any,
    *,
    alias: object,
    orgs: object,
    statement: object = "",
    region: object = "",
    channel: object = "web",
    declared_on: object = None,
    known_orgs: frozenset[str] | None = None,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if campaign.kind != Campaign.Kind.DECLARATION:
        fail("campaign", _("This campaign does not take declarations."))
    elif not campaign.is_active or (campaign.closes_at and campaign.closes_at <= timezone.now()):
        fail("campaign", _("This campaign is closed."))

    clean_alias = old_clean_text(alias)
    if not clean_alias:
        fail("alias", _("Please enter an alias (any name you choose)."))
    elif len(clean_alias) > ALIAS_MAX:
        fail("alias", _("The alias is too long: at most %(max)d characters.") % {"max": ALIAS_MAX})

    clean_orgs: list[str] = []
    if isinstance(orgs, str) or not isinstance(orgs, Iterable):
        fail("orgs", _("Choose at least one organisation."))
    else:
        codes = [old_clean_text(o) for o in orgs]
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

    clean_statement = old_clean_text(statement, multiline=True)
    if len(clean_statement) > STATEMENT_MAX:
        fail(
            "statement",
            _("The statement is too long: at most %(max)d characters (you wrote %(n)d).")
            % {"max": STATEMENT_MAX, "n": len(clean_statement)},
        )

    clean_region = old_clean_text(region)
    if clean_region and not is_region(clean_region):
        fail("region", _("Unknown region."))

    clean_channel = old_clean_text(channel)
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
                clean_day = datetime.date.fromisoformat(old_clean_text(declared_on))
            except ValueError:
                fail("declared_on", _("Give the date as YYYY-MM-DD."))
        if clean_day is not None:
            if clean_day > timezone.now().date():
                fail("declared_on", _("The date is in the future."))
            elif clean_day < EARLIEST_DECLARED_ON:
                fail("declared_on", _("The date is too early."))

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


def old_rules_clean(rules: Any, fields: dict[str, Any]) -> dict[str, Any]:
    try:
        return old_validate_declaration(
            rules.campaign,
            alias=fields.get("alias", ""),
            orgs=fields.get("orgs", ()),
            statement=fields.get("statement", ""),
            region=fields.get("region", ""),
            channel=fields.get("channel") or "import",
            declared_on=fields.get("declared_on"),
            known_orgs=rules.known_orgs,
        )
    except DeclarationInvalid as exc:
        raise RowInvalid(exc.errors) from None


def old_encode_leaf(
    *,
    kind: str,
    campaign: str,
    day: str,
    channel: str,
    commit: str,
    tag: str,
    orgs: list[str] | None = None,
) -> bytes:
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
    data = old_canonical_json(fields)
    old_parse_leaf(data)
    return data


def old_canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


_OLD_HEX64 = re.compile(r"[0-9a-f]{64}")
_OLD_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_OLD_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_OLD_REQUIRED = {"v", "kind", "campaign", "day", "channel", "commit", "tag"}


def old_parse_leaf(data: bytes) -> dict[str, Any]:
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
    missing = _OLD_REQUIRED - keys
    if missing:
        raise LeafError(f"leaf lacks {', '.join(sorted(missing))}")
    extra = keys - _OLD_REQUIRED - {"orgs"}
    if extra:
        raise LeafError(f"leaf has unknown field {sorted(extra)[0]}")
    if value["v"] != LEAF_VERSION or type(value["v"]) is not int:
        raise LeafError("leaf has an unknown version")
    if value["kind"] not in KINDS:
        raise LeafError("leaf has an unknown kind")
    for name in ("campaign", "channel"):
        if not isinstance(value[name], str) or not _OLD_SLUG.fullmatch(value[name]):
            raise LeafError(f"leaf {name} is not a slug")
    if not isinstance(value["day"], str) or not _OLD_DAY.fullmatch(value["day"]):
        raise LeafError("leaf day is not YYYY-MM-DD")
    for name in ("commit", "tag"):
        if not isinstance(value[name], str) or not _OLD_HEX64.fullmatch(value[name]):
            raise LeafError(f"leaf {name} is not 64 lowercase hex digits")
    if value["kind"] == "declaration" and "orgs" not in value:
        raise LeafError("declaration leaf lacks orgs")
    if "orgs" in value:
        orgs = value["orgs"]
        if (
            not isinstance(orgs, list)
            or not orgs
            or not all(isinstance(o, str) and _OLD_SLUG.fullmatch(o) for o in orgs)
            or orgs != sorted(set(orgs))
        ):
            raise LeafError("leaf orgs is not a sorted list of distinct codes")
    if old_canonical_json(value) != data:
        raise LeafError("leaf is not canonical JSON")
    return value


_OLD_FIELDS = ("alias", "orgs", "statement", "region", "declared_on", "channel")


def old_read_jsonl(path: Path) -> Iterator[Any]:
    def row(number: int, raw: bytes) -> Any:
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return Row(number, number, error="not UTF-8")
        except json.JSONDecodeError as exc:
            return Row(number, number, error=f"not JSON: {exc.msg} at column {exc.colno}")
        if not isinstance(value, dict):
            return Row(number, number, error="not a JSON object")
        unknown = sorted(set(value) - set(_OLD_FIELDS))
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

    with open(path, "rb") as f:
        number = 0
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            yield row(number, raw)


# --- Measuring. ---------------------------------------------------------------------------


def best_rates(n: int, before: Callable[[], object], after: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Items per second of ``before`` and ``after`` (each handling ``n`` items), best of
    ``repeat`` runs taken in turn, so that both see the same load from other processes."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, run in enumerate((before, after)):
            gc.collect()
            started = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - started)
    return n / best[0], n / best[1]


def leaf_bodies(n: int) -> list[dict[str, Any]]:
    orgs = (["party"], ["league"], ["pioneers"], ["league", "pioneers"], ["party", "league", "pioneers"])
    return [
        {
            "kind": "declaration",
            "campaign": "three-withdrawals",
            "day": "2026-11-25",
            "channel": "import",
            "commit": hashlib.sha256(b"c%d" % i).hexdigest(),
            "tag": hashlib.sha256(b"t%d" % i).hexdigest(),
            "orgs": orgs[i % 5],
        }
        for i in range(n)
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="realistic rows (default 200,000)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--profile", action="store_true", help="cProfile CampaignRules.clean and stop")
    args = parser.parse_args(argv)
    _setup_django()

    from bench.bench_scale import generate
    from tallylog import leaf
    from tallylog.registry.campaigns.models import Campaign
    from tallylog.registry.declarations.validation import clean_text
    from tallylog.registry.imports.formats import read_rows
    from tallylog.registry.imports.validation import CampaignRules

    with tempfile.TemporaryDirectory(prefix="tallylog-bench-validate-") as tmp:
        path = Path(tmp) / "rows.jsonl"
        generate(path, args.rows)
        rows = [r.fields for r in read_rows(path, "jsonl")]
        parse_old, parse_new = best_rates(
            len(rows),
            lambda: sum(1 for _ in old_read_jsonl(path)),
            lambda: sum(1 for _ in read_rows(path, "jsonl")),
            args.repeat,
        )

    campaign = Campaign(slug="three-withdrawals", kind=Campaign.Kind.DECLARATION, is_active=True)
    rules = CampaignRules(campaign, frozenset({"party", "league", "pioneers"}))
    for fields in rows[:1000]:  # the same results, or the ratio means nothing
        assert rules.clean(fields) == old_rules_clean(rules, fields), fields

    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(lambda: [rules.clean(f) for f in rows])
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        return 0

    texts = [(f["alias"], False) for f in rows] + [(f["statement"], True) for f in rows if "statement" in f]
    # The slow path: pasted text with line breaks, tabs, zero-width and bidi characters.
    awkward = [
        (f"  {t}\u200b\r\n\r\n\r\n\t{t[::-1]}\u202e {i} ", i % 2 == 0) for i, (t, _) in enumerate(texts[:20_000])
    ]
    clean_text(awkward[0][0])  # build the dropped-character classes outside the timing
    bodies = leaf_bodies(min(args.rows, 100_000))
    assert [leaf.encode_leaf(**b) for b in bodies[:1000]] == [old_encode_leaf(**b) for b in bodies[:1000]]

    print(f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}; "
          f"{len(rows):,} rows, best of {args.repeat}")
    print("| measure | before /s | after /s | ratio |\n| --- | ---: | ---: | ---: |")
    encoded = [leaf.encode_leaf(**b) for b in bodies]
    contents = [{**rules.clean(f), "campaign": "three-withdrawals"} for f in rows[: len(bodies)]]
    for content in contents:
        content["declared_on"] = content["declared_on"] and content["declared_on"].isoformat()
    salt = bytes(16)
    figures = [
        ("CampaignRules.clean (rows)", len(rows),
         lambda: [old_rules_clean(rules, f) for f in rows], lambda: [rules.clean(f) for f in rows]),
        ("clean_text (the rows' aliases and statements)", len(texts),
         lambda: [old_clean_text(t, multiline=m) for t, m in texts],
         lambda: [clean_text(t, multiline=m) for t, m in texts]),
        ("clean_text (awkward pasted text, slow path)", len(awkward),
         lambda: [old_clean_text(t, multiline=m) for t, m in awkward],
         lambda: [clean_text(t, multiline=m) for t, m in awkward]),
        ("encode_leaf", len(bodies),
         lambda: [old_encode_leaf(**b) for b in bodies], lambda: [leaf.encode_leaf(**b) for b in bodies]),
        ("parse_leaf (strict, unchanged but for canonical_json)", len(encoded),
         lambda: [old_parse_leaf(d) for d in encoded], lambda: [leaf.parse_leaf(d) for d in encoded]),
        ("commitment (canonical_json + SHA-256)", len(contents),
         lambda: [hashlib.sha256(salt + old_canonical_json(c)).hexdigest() for c in contents],
         lambda: [leaf.commitment(salt, c) for c in contents]),
    ]
    for name, n, before, after in figures:
        old, new = best_rates(n, before, after, args.repeat)
        print(f"| {name} | {old:,.0f} | {new:,.0f} | {new / old:.1f}× |", flush=True)
    print(f"| read_rows JSON Lines (rows) | {parse_old:,.0f} | {parse_new:,.0f} | {parse_new / parse_old:.1f}× |")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
