"""The auditor's commands: verify, prove, recount, check-receipt and verify-proof (see
``tallylog.cli.logcmds``'s docstring and docs/audit.md), registered by ``tallylog`` and,
alone, by ``tallylog-audit`` (``tallylog.cli.audit``, the auditor's wheel).

Argument parsing and printing only: reading, verifying and searching a log is
``tallylog.tlog.client`` (``LogClient``) and ``tallylog.tlog.audit``; the tally of
tallylog leaves is counted here, with ``tallylog.leaf``. Never loads Django, and imports
nothing of ours but ``tallylog.tlog``, ``tallylog.leaf``, ``tallylog.cli`` and
``tallylog.cli.logcmds``: the auditor's wheel holds only those (``tallylog.web.tools``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tallylog.cli import CLIError
from tallylog.cli.logcmds import natural, path, positive, read_file, read_verifier

if TYPE_CHECKING:  # imported where used: `tallylog --help` and the other commands stay quick
    from tallylog.tlog import LogClient

__all__ = ["register"]


def log_errors() -> tuple[type[Exception], ...]:
    """What reading and checking a log raises: each says what failed, in one line."""
    from tallylog.tlog import FormatError, SourceError, VerificationError

    return (FormatError, VerificationError, SourceError, ValueError)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``verify``, ``prove``, ``recount``, ``check-receipt`` and ``verify-proof``."""
    p = sub.add_parser(
        "verify",
        parents=[common],
        help="audit a log: recompute the whole tree",
        description="Check the checkpoint signature, recompute the whole tree from the entry "
        "bundles and check every hash tile and the signed root. With --state, also check "
        "that the log is consistent with the checkpoint verified last time (no rollback, "
        "no fork), then remember the new one.",
    )
    _source_args(p)
    witness_args(p)
    p.add_argument("--state", metavar="FILE", help="the last verified checkpoint (read, then updated)")
    p.add_argument("--jobs", type=positive, metavar="N", help="worker processes (default: all cores)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "prove",
        parents=[common],
        help="inclusion proof for one entry",
        description="Print, as JSON, the RFC 6962 inclusion proof of entry I against the "
        "current signed checkpoint.",
    )
    _source_args(p)
    witness_args(p)
    p.add_argument("--index", required=True, type=natural, metavar="I", help="the entry's index")
    p.add_argument(
        "--format",
        choices=("json", "tlog-proof"),
        default="json",
        help="json (default) or tlog-proof: a c2sp.org/tlog-proof@v1 file carrying the entry",
    )
    p.set_defaults(func=cmd_prove)

    p = sub.add_parser(
        "recount",
        parents=[common],
        help="audit a log, then recount its tally",
        description="Verify the log as `verify` does, then count its entries by campaign, "
        "kind, organisation, channel and day; entries that are not tallylog leaves are "
        "counted apart.",
    )
    _source_args(p)
    p.add_argument("--json", action="store_true", help="print the tally as JSON")
    p.add_argument("--jobs", type=positive, metavar="N", help="worker processes (default: all cores)")
    p.set_defaults(func=cmd_recount)

    p = sub.add_parser(
        "check-receipt",
        parents=[common],
        help="find your own entry privately and verify it",
        description="Download the entry bundles from a mirror (all, or with --day only those "
        "of that day), find the entry whose tag matches the receipt code locally, and verify "
        "its inclusion against the signed checkpoint. The mirror never learns which entry "
        "is yours.",
    )
    p.add_argument("code", metavar="CODE", help="the receipt code")
    p.add_argument("--source", required=True, metavar="MIRROR", help="log directory or base URL")
    p.add_argument("--key", required=True, metavar="VKEY", help="the log's verifier key")
    p.add_argument("--day", metavar="YYYY-MM-DD", help="the day you declared (downloads only that day)")
    witness_args(p)
    p.add_argument("--save", metavar="FILE", help="write the entry's c2sp.org/tlog-proof@v1 proof to FILE")
    p.set_defaults(func=cmd_check_receipt)

    p = sub.add_parser(
        "verify-proof",
        parents=[common],
        help="check a tlog-proof file offline",
        description="Check a c2sp.org/tlog-proof@v1 file: the log's signature on its checkpoint, "
        "the witnesses' cosignatures (at least N of them), and the inclusion of the entry "
        "(carried in the proof, or given with --entry).",
    )
    p.add_argument("file", metavar="FILE", help="the proof file (- for standard input)")
    p.add_argument(
        "--key", required=True, metavar="VKEY", help="the log's verifier key"
    )
    witness_args(p)
    p.add_argument(
        "--entry",
        metavar="FILE",
        help="the entry's bytes, if the proof does not carry them",
    )
    p.set_defaults(func=cmd_verify_proof)


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="log directory or base URL")
    p.add_argument("--key", required=True, metavar="VKEY", help="the log's verifier key (name+hexid+base64)")


def witness_args(p: argparse.ArgumentParser) -> None:
    """``--witness WVKEY`` (repeatable) and ``--quorum N``: the checkpoint must carry valid
    cosignatures (C2SP tlog-cosignature) of at least N of the given witnesses."""
    p.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="WVKEY",
        help="a witness's verifier key (repeatable)",
    )
    p.add_argument(
        "--quorum",
        type=natural,
        metavar="N",
        help="cosignatures needed (default: every witness given)",
    )


def witness_verifier(vkey: str) -> Any:
    """The cosignature verifier of witness key ``vkey``, or a CLI error."""
    from tallylog.tlog.cosignature import CosignatureVerifier

    try:
        return CosignatureVerifier(vkey.strip())
    except ValueError as exc:
        raise CLIError(f"bad witness verifier key {vkey!r}: {exc}") from None


def quorum_of(quorum: int | None, n: int) -> int:
    """``--quorum`` (default: all ``n`` witnesses given), at most ``n``."""
    q = n if quorum is None else quorum
    if q > n:
        raise CLIError(f"--quorum {q} is more than the {n} witnesses given")
    return q


def witnesses_of(args: argparse.Namespace) -> tuple[list[Any], int]:
    """The ``--witness`` verifiers and the quorum of ``args``."""
    witnesses = [witness_verifier(v) for v in args.witness]
    if len({(w.name, w.key_id) for w in witnesses}) != len(witnesses):
        raise CLIError("a witness key is given twice")
    return witnesses, quorum_of(args.quorum, len(witnesses))


def check_cosigned(client: LogClient, args: argparse.Namespace) -> list[str]:
    """Check that the checkpoint ``client`` verified carries valid cosignatures of at least
    ``--quorum`` of the ``--witness`` keys; the names of those that cosigned."""
    from tallylog.tlog.cosignature import (
        InvalidCosignatureError,
        QuorumError,
        verify_cosigned,
    )

    witnesses, quorum = witnesses_of(args)
    if not witnesses:
        return []
    try:
        cosigned = verify_cosigned(client.note, client.verifier, witnesses, quorum)
    except InvalidCosignatureError as exc:
        raise CLIError(f"bad cosignature on the checkpoint of size {client.size}: {exc}") from None
    except QuorumError as exc:
        raise CLIError(f"not enough witnesses cosigned the checkpoint of size {client.size}: {exc}") from None
    except log_errors() as exc:
        raise CLIError(str(exc)) from None
    return cosigned.witnesses


def print_cosigned(names: list[str], size: int) -> None:
    if names:
        print(f"OK: the checkpoint of size {size} is cosigned by {', '.join(names)}")


def write_proof(client: LogClient, index: int, entry: bytes, out: str) -> None:
    """Write entry ``index``'s c2sp.org/tlog-proof@v1 proof (the entry in its extra line,
    the checkpoint with its cosignatures) to ``out`` (``-``: standard output)."""
    from tallylog.tlog.proof import format_proof, make_proof

    try:
        data = format_proof(make_proof(client.note, index, client.reader, entry))
    except log_errors() as exc:
        raise CLIError(f"couldn't make the proof of entry {index}: {exc}") from None
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        with open(path(out), "wb") as f:
            f.write(data)
    except OSError as exc:
        raise CLIError(f"couldn't write {out}: {exc.strerror}") from None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def open_log(location: str, vkey: str) -> LogClient:
    """The log at ``location`` at its current checkpoint, whose signature ``vkey`` verifies."""
    from tallylog.tlog import LogClient
    from tallylog.tlog.note import InvalidSignatureError, UnverifiedNoteError

    verifier = read_verifier(vkey)
    try:
        return LogClient.open(location, verifier)
    except (InvalidSignatureError, UnverifiedNoteError) as exc:
        raise CLIError(f"bad signature on the checkpoint at {_where(location)}: {exc}") from None
    except log_errors() as exc:
        raise CLIError(str(exc)) from None


def _where(location: str) -> str:
    if "://" in location:
        return location.rstrip("/") + "/checkpoint"
    return os.path.join(location, "checkpoint")


# --- verify, recount ---------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """The full audit; with ``--state``, consistency with the last verified checkpoint."""
    result, _, cosigned = _run_audit(args, tally=False)
    cp = result.checkpoint
    print(
        f"OK: {cp.origin} at size {cp.size}, root {b64(cp.root)}: "
        f"signature, {result.files} tiles and the tree recomputed from every entry all verify"
    )
    print_cosigned(cosigned, cp.size)
    if result.previous is not None:
        print(f"OK: consistent with the checkpoint verified before, at size {result.previous}")
    return 0


def cmd_recount(args: argparse.Namespace) -> int:
    """The audit, then the tally recomputed from the entries."""
    result, tally, _ = _run_audit(args, tally=True)
    if args.json:
        json.dump(tally, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
        print()
        return 0
    cp = result.checkpoint
    print(f"verified: {cp.origin} at size {cp.size}, root {b64(cp.root)}")
    print(f"entries: {tally['size']}")
    for slug, camp in sorted(tally["campaigns"].items()):
        print(f"campaign {slug}: {camp['total']}")
        for title, key in (("kind", "kinds"), ("organisation", "orgs"), ("channel", "channels"), ("day", "days")):
            for name, count in sorted(camp[key].items()):
                print(f"  {title} {name}: {count}")
    print(f"entries that are not tallylog leaves: {tally['other']}")
    return 0


def _run_audit(args: argparse.Namespace, *, tally: bool) -> tuple[Any, dict[str, Any], list[str]]:
    from tallylog.tlog.audit import audit

    client = open_log(args.source, args.key)
    cosigned = check_cosigned(client, args) if hasattr(args, "witness") else []  # recount: none
    state = getattr(args, "state", None)
    counts: Counter[tuple[str, ...]] = Counter()
    with _progress_bar(sys.stderr.isatty(), client.size) as bar:
        done = 0

        def advance(now: int) -> None:
            nonlocal done
            bar(now - done)
            done = now

        try:
            result = audit(
                client,
                state=path(state) if state else None,
                workers=args.jobs or len(os.sched_getaffinity(0)),
                progress=advance,
                on_bundle=count_bundle if tally else None,
                on_result=counts.update,
            )
        except log_errors() as exc:
            raise CLIError(str(exc)) from None
    return result, tally_json(client.size, counts), cosigned


class _progress_bar:
    """A tqdm bar on standard error when it is a terminal; otherwise nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # the auditor's wheel does not require it: no bar, then
                return
            self.bar = tqdm(total=total, unit=" entries", unit_scale=True, file=sys.stderr)

    def __enter__(self) -> Callable[[int], None]:
        return self.bar.update if self.bar else (lambda _n: None)

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.close()


def count_bundle(first: int, entries: list[bytes]) -> Counter[tuple[str, ...]]:
    """The tally of one entry bundle: ``LogClient.recompute_root``'s per-bundle hook for
    ``recount``, run where the bundle is audited (a worker process)."""
    from tallylog.leaf import LeafError, parse_leaf

    counts: Counter[tuple[str, ...]] = Counter()
    for data in entries:
        try:
            leaf = parse_leaf(data)
        except LeafError:
            counts["other",] += 1
            continue
        slug = leaf["campaign"]
        counts["total", slug] += 1
        counts["kinds", slug, leaf["kind"]] += 1
        counts["channels", slug, leaf["channel"]] += 1
        counts["days", slug, leaf["day"]] += 1
        for org in leaf.get("orgs", ()):
            counts["orgs", slug, org] += 1
    return counts


def tally_json(size: int, counts: Counter[tuple[str, ...]]) -> dict[str, Any]:
    """The recount as JSON: ``{"size", "other", "campaigns": {slug: {"total", "kinds",
    "orgs", "channels", "days"}}}``."""
    campaigns: dict[str, dict[str, Any]] = {}
    for key, value in sorted(counts.items()):
        if key[0] == "other":
            continue
        camp = campaigns.setdefault(key[1], {"total": 0, "kinds": {}, "orgs": {}, "channels": {}, "days": {}})
        if key[0] == "total":
            camp["total"] = value
        else:
            camp[key[0]][key[2]] = value
    return {"size": size, "other": counts["other",], "campaigns": campaigns}


# --- prove, check-receipt ----------------------------------------------------------------


def proof_json(client: LogClient, index: int, entry: bytes, proof: list[bytes]) -> dict[str, Any]:
    from tallylog.tlog import leaf_hash

    return {
        "index": index,
        "tree_size": client.size,
        "root": b64(client.root),
        "leaf_hash": b64(leaf_hash(entry)),
        "proof": [b64(h) for h in proof],
        "checkpoint": client.note.decode(),
    }


def cmd_prove(args: argparse.Namespace) -> int:
    """Print the inclusion proof of entry ``--index`` against the current checkpoint."""
    from tallylog.tlog import VerificationError

    client = open_log(args.source, args.key)
    cosigned = check_cosigned(client, args)
    index = args.index
    try:
        entry = client.entries(index, index + 1)[0] if index < client.size else None
        if entry is None:
            raise CLIError(f"there is no entry {index}: the checkpoint signs {client.size} entries")
        proof = client.inclusion_proof(index)
    except VerificationError as exc:
        raise CLIError(f"the inclusion proof of entry {index} does not verify against the signed root: {exc}") from None
    except log_errors() as exc:
        raise CLIError(str(exc)) from None
    if args.format == "tlog-proof":
        write_proof(client, index, entry, "-")
        return 0
    result = proof_json(client, index, entry, proof)
    if cosigned:
        result["cosigned_by"] = cosigned
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


def cmd_check_receipt(args: argparse.Namespace) -> int:
    """Find the entry whose tag matches the receipt code, locally, and verify its inclusion."""
    from tallylog.leaf import parse_leaf, receipt_matcher

    try:
        mine = receipt_matcher(args.code)
    except ValueError as exc:
        raise CLIError(f"bad receipt code: {exc}") from None
    client = open_log(args.source, args.key)
    cosigned = check_cosigned(client, args)
    start, end = day_range(client, args.day) if args.day else (0, client.size)
    end = min(end, client.size)
    if start >= end:
        raise CLIError(f"the signed log (size {client.size}) holds no entries of {args.day} yet; try again later")

    with _progress_bar(sys.stderr.isatty(), end - start) as bar:
        try:
            found = client.search(start, end, mine, progress=bar)
        except log_errors() as exc:
            raise CLIError(str(exc)) from None
    if not found:
        where = f"on {args.day} (entries {start} to {end - 1})" if args.day else f"among its {client.size} entries"
        raise CLIError(
            f"no entry with this receipt code {where} in the signed log of size {client.size}"
            + ("; the day index is not signed: try again without --day" if args.day else "")
        )
    index, entry, proof = found[-1]
    result = proof_json(client, index, entry, proof)
    result["entry"] = parse_leaf(entry)
    print(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"OK: your entry is number {index} of {client.size}, and its inclusion proof verifies")
    print_cosigned(cosigned, client.size)
    if args.save:
        write_proof(client, index, entry, args.save)
        print(f"saved its c2sp.org/tlog-proof@v1 proof to {args.save} (check it with `tallylog verify-proof`)")
    return 0


def day_range(client: LogClient, day: str) -> tuple[int, int]:
    """``[start, end)`` of ``day`` in the log's (unsigned) day index."""
    import datetime

    from tallylog.tlog import FormatError
    from tallylog.tlog.dayindex import DAY_INDEX_PATH, parse_day_index
    from tallylog.tlog.source import MalformedFileError

    try:
        datetime.date.fromisoformat(day)
    except ValueError:
        raise CLIError(f"--day {day!r} is not a date YYYY-MM-DD") from None
    where = client.source.where(DAY_INDEX_PATH)
    try:
        data = client.source.read(DAY_INDEX_PATH)
        if data is None:
            raise CLIError(f"missing file at {where}")
        days = parse_day_index(data)
    except MalformedFileError as exc:
        raise CLIError(str(exc)) from None
    except FormatError as exc:
        raise CLIError(f"malformed file at {where}: {exc}") from None
    except log_errors() as exc:
        raise CLIError(str(exc)) from None
    for d in days:
        if d.day == day:
            return d.start, d.end
    raise CLIError(f"the day index at {where} lists no entries on {day}")


# --- verify-proof --------------------------------------------------------------------------


def cmd_verify_proof(args: argparse.Namespace) -> int:
    from tallylog.tlog.cosignature import InvalidCosignatureError, QuorumError
    from tallylog.tlog.errors import FormatError, VerificationError
    from tallylog.tlog.proof import parse_proof, verify_proof

    log = read_verifier(args.key)
    witnesses, quorum = witnesses_of(args)
    entry = read_file(args.entry, "the entry") if args.entry else None
    try:
        proof = parse_proof(read_file(args.file, "the proof"))
    except FormatError as exc:
        raise CLIError(f"{args.file} is not a valid tlog-proof: {exc}") from None
    try:
        ok = verify_proof(proof, log, witnesses, quorum, entry=entry)
    except InvalidCosignatureError as exc:
        raise CLIError(f"bad cosignature: {exc}") from None
    except QuorumError as exc:
        raise CLIError(f"not enough witnesses: {exc}") from None
    except VerificationError as exc:
        raise CLIError(f"the proof does not verify: {exc}") from None
    except FormatError as exc:
        raise CLIError(f"the proof does not verify: {exc}") from None
    cp = ok.checkpoint
    print(f"entry {ok.index} is in {cp.origin} at size {cp.size}, root {b64(cp.root)}")
    for c in ok.cosignatures:
        print(f"cosigned by {c.name} at {c.timestamp}")
    return 0
