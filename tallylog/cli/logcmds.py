"""The transparency log's commands: what an operator and an auditor run.

- ``tallylog keygen --origin ORIGIN --out KEYFILE``: a new Ed25519 signer key (C2SP
  signed-note), file mode 0600; prints the verifier key as its last line.
- ``tallylog log append DIR --key KEYFILE [--batch N]``: entries from standard input, one
  per line, appended to the log in DIR; a signed checkpoint published; prints the new size.
- ``tallylog verify SOURCE --key VKEY [--state FILE]``: the full audit (see ``audit``).
- ``tallylog prove SOURCE --key VKEY --index I``: an inclusion proof as JSON.
- ``tallylog recount SOURCE --key VKEY [--json]``: the audit, then the tally recomputed
  from the entries themselves.
- ``tallylog check-receipt CODE --source MIRROR --key VKEY [--day YYYY-MM-DD]``: find one's
  own entry locally, among downloaded entry bundles, and verify its inclusion.

SOURCE is a log directory or the HTTP(S) base URL it is served at (the URL of which
``checkpoint`` and ``tile/…`` are children). None of these commands loads Django; they use
``tallylog.tlog`` and ``tallylog.leaf`` only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import IO, Any

from tallylog.cli import CLIError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``keygen``, ``log append``, ``verify``, ``prove``, ``recount`` and ``check-receipt``."""
    p = sub.add_parser(
        "keygen",
        parents=[common],
        help="create a log signing key",
        description="Write a new Ed25519 signer key (C2SP signed-note format, mode 0600) "
        "and print its verifier key as the last line.",
    )
    p.add_argument("--origin", required=True, help="the log's origin line, e.g. example.org/log")
    p.add_argument("--out", required=True, metavar="KEYFILE", help="the new key file (never overwritten)")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("log", parents=[common], help="low-level log operations")
    log_sub = p.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    p = log_sub.add_parser(
        "append",
        parents=[common],
        help="append entries from standard input",
        description="Append standard input, one entry per line (the line's bytes without "
        "the newline), to the log in DIR (created if absent); publish a signed checkpoint; "
        "print the new size.",
    )
    p.add_argument("dir", metavar="DIR", help="the log directory")
    p.add_argument("--key", required=True, metavar="KEYFILE", help="the signer key file")
    p.add_argument("--batch", type=_positive, default=4096, metavar="N", help="entries per batch (default 4096)")
    p.set_defaults(func=cmd_log_append)

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
    p.add_argument("--state", metavar="FILE", help="the last verified checkpoint (read, then updated)")
    p.add_argument("--jobs", type=_positive, metavar="N", help="worker processes (default: all cores)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "prove",
        parents=[common],
        help="inclusion proof for one entry",
        description="Print, as JSON, the RFC 6962 inclusion proof of entry I against the "
        "current signed checkpoint.",
    )
    _source_args(p)
    p.add_argument("--index", required=True, type=_natural, metavar="I", help="the entry's index")
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
    p.add_argument("--jobs", type=_positive, metavar="N", help="worker processes (default: all cores)")
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
    p.set_defaults(func=cmd_check_receipt)


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="log directory or base URL")
    p.add_argument("--key", required=True, metavar="VKEY", help="the log's verifier key (name+hexid+base64)")


def _positive(text: str) -> int:
    value = _natural(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _natural(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- keygen ------------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a new signer key to ``--out`` (mode 0600, never overwriting); print the verifier key."""
    from tallylog.home import write_private
    from tallylog.tlog import note

    try:
        skey, vkey = note.generate_key(args.origin)
    except ValueError as exc:
        raise CLIError(f"bad origin {args.origin!r}: {exc}") from None
    try:
        write_private(_path(args.out), skey.encode() + b"\n")
    except FileExistsError:
        raise CLIError(f"{args.out} already exists; not overwriting a key") from None
    except OSError as exc:
        raise CLIError(f"couldn't write {args.out}: {exc.strerror}") from None
    print(f"wrote the signer key for {args.origin} to {args.out} (keep it secret)")
    print(vkey)
    return 0


def _path(text: str) -> str:
    return os.path.expanduser(text)


def _read_signer(keyfile: str) -> Any:
    from tallylog.tlog import note

    try:
        with open(_path(keyfile), encoding="utf-8") as f:
            skey = f.read().strip()
    except OSError as exc:
        raise CLIError(f"couldn't read the key file {keyfile}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CLIError(f"{keyfile} is not a signer key file") from None
    try:
        return note.Signer(skey)
    except ValueError as exc:
        raise CLIError(f"{keyfile} is not a signer key: {exc}") from None


def _read_verifier(vkey: str) -> Any:
    from tallylog.tlog import note

    try:
        return note.Verifier(vkey.strip())
    except ValueError as exc:
        raise CLIError(f"bad verifier key: {exc}") from None


# --- log append --------------------------------------------------------------------------


def _lines(stream: IO[bytes], batch: int) -> Iterator[list[bytes]]:
    """Standard input in batches of ``batch`` entries: each line's bytes without its ``\\n``."""
    current: list[bytes] = []
    for number, line in enumerate(stream, 1):
        if line.endswith(b"\n"):
            line = line[:-1]
        if len(line) > 0xFFFF:
            raise CLIError(f"line {number}: an entry is at most 65535 bytes, this one {len(line)}")
        current.append(line)
        if len(current) == batch:
            yield current
            current = []
    if current:
        yield current


def cmd_log_append(args: argparse.Namespace) -> int:
    """Append standard input to the log in DIR and publish a signed checkpoint."""
    from tallylog.tlog import Appender, storage

    signer = _read_signer(args.key)
    try:
        os.makedirs(_path(args.dir), exist_ok=True)
        store = storage.FileStore(_path(args.dir))
        appender = Appender.open(store, signer, signer.name)
    except OSError as exc:
        raise CLIError(f"couldn't open the log in {args.dir}: {exc}") from None
    except ValueError as exc:  # tallylog.tlog errors about the stored state
        raise CLIError(f"couldn't open the log in {args.dir}: {exc}") from None
    start = appender.size
    try:
        for entries in _lines(sys.stdin.buffer, args.batch):
            appender.stage(entries)
        if appender.size > start:
            appender.publish()
    except (OSError, ValueError, RuntimeError) as exc:
        raise CLIError(f"couldn't append to the log in {args.dir}: {exc}; it stays at size {start}") from None
    print(appender.size)
    return 0


# --- verify, recount ---------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """The full audit; with ``--state``, consistency with the last verified checkpoint."""
    result = _run_audit(args, tally=False)
    print(
        f"OK: {result.origin} at size {result.size}, root {_b64(result.root)}: "
        f"signature, {result.tiles} tiles and the tree recomputed from every entry all verify"
    )
    if result.previous is not None:
        print(f"OK: consistent with the checkpoint verified before, at size {result.previous}")
    return 0


def cmd_recount(args: argparse.Namespace) -> int:
    """The audit, then the tally recomputed from the entries."""
    result = _run_audit(args, tally=True)
    tally = result.tally
    assert tally is not None, "cmd_recount: audit returned no tally"
    if args.json:
        json.dump(tally, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
        print()
        return 0
    print(f"verified: {result.origin} at size {result.size}, root {_b64(result.root)}")
    print(f"entries: {tally['size']}")
    for slug, camp in sorted(tally["campaigns"].items()):
        print(f"campaign {slug}: {camp['total']}")
        for title, key in (("kind", "kinds"), ("organisation", "orgs"), ("channel", "channels"), ("day", "days")):
            for name, count in sorted(camp[key].items()):
                print(f"  {title} {name}: {count}")
    print(f"entries that are not tallylog leaves: {tally['other']}")
    return 0


def _run_audit(args: argparse.Namespace, *, tally: bool) -> AuditResult:
    verifier = _read_verifier(args.key)
    state = getattr(args, "state", None)
    try:
        return audit(
            args.source,
            verifier,
            state_path=_path(state) if state else None,
            jobs=args.jobs,
            tally=tally,
            progress=sys.stderr.isatty(),
        )
    except AuditError as exc:
        raise CLIError(str(exc)) from None


# --- prove -------------------------------------------------------------------------------


def cmd_prove(args: argparse.Namespace) -> int:
    """Print the inclusion proof of entry ``--index`` against the current checkpoint."""
    verifier = _read_verifier(args.key)
    try:
        proof = prove(args.source, verifier, args.index)
    except AuditError as exc:
        raise CLIError(str(exc)) from None
    json.dump(proof, sys.stdout, indent=1)
    print()
    return 0


# --- check-receipt -----------------------------------------------------------------------


def cmd_check_receipt(args: argparse.Namespace) -> int:
    """Find the entry whose tag matches the receipt code, locally, and verify its inclusion."""
    from tallylog.leaf import receipt_matcher

    try:
        matches = receipt_matcher(args.code)
    except ValueError as exc:
        raise CLIError(f"bad receipt code: {exc}") from None
    verifier = _read_verifier(args.key)
    progress = sys.stderr.isatty()
    try:
        found = find_receipt(args.source, verifier, matches, day=args.day, progress=progress)
    except AuditError as exc:
        raise CLIError(str(exc)) from None
    print(json.dumps(found, indent=1, ensure_ascii=False))
    print(f"OK: your entry is number {found['index']} of {found['tree_size']}, and its inclusion proof verifies")
    return 0



# --- reading a log from a directory or a URL ---------------------------------------------

CHECKPOINT_PATH = "checkpoint"
DAY_INDEX_PATH = "day-index.json"
TILE_HEIGHT = 8  # C2SP tlog-tiles: 2**8 hashes or entries per full tile
TILE_WIDTH = 1 << TILE_HEIGHT
CHUNK_HEIGHT = 2 * TILE_HEIGHT  # one audit job: 2**16 entries (tallylog.tlog.client.CHUNK_HEIGHT)
MAX_CHECKPOINT_BYTES = 1 << 20
MAX_FILE_BYTES = TILE_WIDTH * (2 + 0xFFFF)  # the largest possible entry bundle


class AuditError(Exception):
    """A check that failed, or a file that could not be read; the message says which."""


class Source:
    """A log served from a directory or an HTTP(S) base URL (C2SP tlog-tiles layout).

    ``read(path)`` returns the bytes of ``checkpoint``, ``tile/…`` or ``day-index.json``.
    Picklable: each worker process opens its own HTTP connection (kept alive).
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self.is_url = location.startswith(("http://", "https://"))
        if not self.is_url and not os.path.isdir(location):
            raise AuditError(f"{location} is neither a directory nor an http(s):// URL")
        self._conn: Any = None
        self._pid = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"location": self.location, "is_url": self.is_url, "_conn": None, "_pid": 0}

    def where(self, path: str) -> str:
        """The file's full name or URL, for messages."""
        if self.is_url:
            return self.location.rstrip("/") + "/" + path
        return os.path.join(self.location, path)

    def read(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        """The file at ``path``; ``AuditError`` naming it when missing or unreadable."""
        data = self.fetch(path, limit)
        if data is None:
            raise AuditError(f"missing file at {self.where(path)}")
        return data

    def fetch(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
        """The file at ``path``, None when missing; ``AuditError`` naming it when unreadable."""
        return self._read_url(path, limit) if self.is_url else self._read_file(path, limit)

    def _read_file(self, path: str, limit: int) -> bytes | None:
        try:
            with open(os.path.join(self.location, path), "rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditError(f"couldn't read {self.where(path)}: {exc.strerror}") from None
        if len(data) > limit:
            raise AuditError(f"malformed file at {self.where(path)}: longer than {limit} bytes")
        return data

    def _read_url(self, path: str, limit: int) -> bytes | None:
        import http.client
        import urllib.parse

        url = urllib.parse.urlsplit(self.where(path))
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            if self._conn is None or self._pid != os.getpid():
                cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
                self._conn, self._pid = cls(url.netloc, timeout=60), os.getpid()
            try:
                self._conn.request("GET", url.path + (f"?{url.query}" if url.query else ""))
                resp = self._conn.getresponse()
                data = resp.read(limit + 1)
                if resp.length:  # drain, to keep the connection usable
                    resp.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise AuditError(f"couldn't fetch {self.where(path)}: {exc}") from None
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise AuditError(f"couldn't fetch {self.where(path)}: HTTP {resp.status} {resp.reason}")
        if len(data) > limit:
            raise AuditError(f"malformed file at {self.where(path)}: longer than {limit} bytes")
        return data


class SignedTree:
    """A verified checkpoint: origin, size, root hash, the parsed checkpoint and the signed
    note's text."""

    def __init__(self, checkpoint: Any, note: bytes) -> None:
        self.checkpoint, self.note = checkpoint, note
        self.origin, self.size, self.root = checkpoint.origin, checkpoint.size, checkpoint.root


def open_checkpoint(data: bytes, verifier: Any, where: str) -> SignedTree:
    """Verify a signed checkpoint note (C2SP signed-note, tlog-checkpoint) with ``verifier``."""
    from tallylog.tlog import checkpoint, note

    try:
        text = note.open_note(data, [verifier]).text
    except note.VerificationError as exc:  # type: ignore[attr-defined]
        raise AuditError(f"bad signature on the checkpoint at {where}: {exc}") from None
    except ValueError as exc:
        raise AuditError(f"malformed file at {where}: {exc}") from None
    try:
        cp = checkpoint.parse_checkpoint(text)
    except ValueError as exc:
        raise AuditError(f"malformed file at {where}: {exc}") from None
    if cp.origin != verifier.name:
        raise AuditError(
            f"the checkpoint at {where} is for log {cp.origin!r}, the key for {verifier.name!r}"
        )
    return SignedTree(cp, data)


def read_checkpoint(source: Source, verifier: Any) -> SignedTree:
    """The source's current checkpoint, its signature verified."""
    data = source.read(CHECKPOINT_PATH, MAX_CHECKPOINT_BYTES)
    return open_checkpoint(data, verifier, source.where(CHECKPOINT_PATH))


def tile_path(level: int, index: int, width: int) -> str:
    """The C2SP tlog-tiles path of a hash tile (``level`` ≥ 0) or entry bundle (``level`` -1)."""
    from tallylog.tlog import tiles

    return tiles.tile_path(tiles.Tile(level, index, width))


def read_bundle(source: Source, index: int, width: int) -> list[bytes]:
    """The ``width`` entries of entry bundle ``index`` (C2SP tlog-tiles)."""
    from tallylog.tlog import tiles

    path = tile_path(-1, index, width)
    data = source.read(path)
    try:
        entries = tiles.parse_bundle(data)
    except ValueError as exc:
        raise AuditError(f"malformed file at {source.where(path)}: {exc}") from None
    if len(entries) != width:
        raise AuditError(
            f"malformed file at {source.where(path)}: {len(entries)} entries, want {width}"
        )
    return entries


# --- the full audit ----------------------------------------------------------------------


class TlogSource:
    """``source`` as a ``tallylog.tlog.client.Source`` (a missing file is None). Picklable."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def read(self, path: str) -> bytes | None:
        return self.source.fetch(path)

    def where(self, path: str) -> str:
        return self.source.where(path)


def audited_files(size: int) -> int:
    """How many files the full audit of a tree of ``size`` checks: every entry bundle and
    every hash tile at every level (C2SP tlog-tiles)."""
    total, hashes = 0, size
    while hashes:  # the stored hashes at level 0, 1, …: size >> 8·level
        total += (hashes + TILE_WIDTH - 1) >> TILE_HEIGHT
        hashes >>= TILE_HEIGHT
    return total + ((size + TILE_WIDTH - 1) >> TILE_HEIGHT)


def count_bundle(first: int, entries: list[bytes]) -> Counter[tuple[str, ...]]:
    """The tally of one entry bundle (``count_entries``): ``LogClient.recompute_root``'s
    per-bundle hook for ``recount``, run where the bundle is audited."""
    counts: Counter[tuple[str, ...]] = Counter()
    count_entries(entries, counts)
    return counts


def count_entries(entries: list[bytes], counts: Counter[tuple[str, ...]]) -> None:
    """Add tallylog leaves (``tallylog.leaf.parse_leaf``) to ``counts``; others apart."""
    from tallylog.leaf import LeafError, parse_leaf

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


def tally_json(size: int, counts: Counter[tuple[str, ...]]) -> dict[str, Any]:
    """The recount as JSON: ``{"size", "other", "campaigns": {slug: {"total", "kinds",
    "orgs", "channels", "days"}}}``."""
    campaigns: dict[str, dict[str, Any]] = {}
    for key, value in sorted(counts.items()):
        if key[0] == "other":
            continue
        camp = campaigns.setdefault(
            key[1], {"total": 0, "kinds": {}, "orgs": {}, "channels": {}, "days": {}}
        )
        if key[0] == "total":
            camp["total"] = value
        else:
            camp[key[0]][key[2]] = value
    return {"size": size, "other": counts["other",], "campaigns": campaigns}


class AuditResult:
    """What ``audit`` verified."""

    def __init__(self, tree: SignedTree, tiles: int, previous: int | None, tally: dict[str, Any] | None) -> None:
        self.origin, self.size, self.root = tree.origin, tree.size, tree.root
        self.tiles, self.previous, self.tally = tiles, previous, tally


def audit(
    location: str,
    verifier: Any,
    *,
    state_path: str | None = None,
    jobs: int | None = None,
    tally: bool = False,
    progress: bool = False,
) -> AuditResult:
    """The full audit of the log at ``location``; raises ``AuditError`` naming what failed.

    1. The checkpoint's signature (C2SP signed-note) and body (C2SP tlog-checkpoint).
    2. With a state file: the last verified checkpoint is not larger (rollback), not a
       different tree of the same size (fork), and the new tree is consistent with it
       (RFC 9162 §2.1.4 consistency proof).
    3. Every entry bundle rehashed (RFC 6962 §2.1), every hash tile at every level compared
       with the recomputation, and the tree hash compared with the signed root
       (``tallylog.tlog.LogClient.recompute_root``; ``recount`` counts each bundle there). Jobs of
       2**16 entries run on ``jobs`` processes (default: every core), each holding one
       bundle at a time, so memory stays bounded whatever the size.
    4. The state file replaced (atomically) by the new checkpoint.
    """
    from tallylog.tlog import FormatError, VerificationError
    from tallylog.tlog.client import LogClient, SourceError

    source = Source(location)
    tree = read_checkpoint(source, verifier)
    previous = load_state(state_path, verifier, tree) if state_path else None

    n = tree.size
    chunks = (n + (1 << CHUNK_HEIGHT) - 1) >> CHUNK_HEIGHT
    client = LogClient(TlogSource(source), verifier, tree.checkpoint, tree.note)
    counts: Counter[tuple[str, ...]] = Counter()
    with _progress_bar(progress, n) as bar:
        done = 0

        def advance(now: int) -> None:
            nonlocal done
            bar(now - done)
            done = now

        try:
            client.recompute_root(
                workers=min(jobs or len(os.sched_getaffinity(0)), chunks),
                progress=advance,
                on_bundle=count_bundle if tally else None,
                on_result=counts.update,
            )
        except (FormatError, VerificationError, SourceError) as exc:
            raise AuditError(str(exc)) from None
    if previous is not None and previous.size < tree.size:
        check_consistent(source, previous, tree)
    if state_path:
        save_state(state_path, tree)
    return AuditResult(
        tree, audited_files(n), previous.size if previous else None, tally_json(n, counts) if tally else None
    )


class _progress_bar:
    """A tqdm bar on standard error when it is a terminal; otherwise nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=" entries", unit_scale=True, file=sys.stderr)

    def __enter__(self) -> Callable[[int], None]:
        return self.bar.update if self.bar else (lambda _n: None)

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.close()


def load_state(path: str, verifier: Any, tree: SignedTree) -> SignedTree | None:
    """The checkpoint verified last time, checked against the current one for a rollback
    or a fork; None on the first run (no state file yet)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CHECKPOINT_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"couldn't read the state file {path}: {exc.strerror}") from None
    previous = open_checkpoint(data, verifier, f"{path} (the state file)")
    if previous.size > tree.size:
        raise AuditError(
            f"size went backwards: the log now signs {tree.size} entries, but {previous.size} "
            f"were verified before (rollback; the earlier checkpoint is in {path})"
        )
    if previous.size == tree.size and previous.root != tree.root:
        raise AuditError(
            f"fork: the log signs two different trees of size {tree.size} (root "
            f"{_b64(tree.root)} now, {_b64(previous.root)} before, in {path})"
        )
    return previous


def save_state(path: str, tree: SignedTree) -> None:
    """Replace the state file with ``tree``'s checkpoint note, atomically and durably."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(tree.note)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise AuditError(f"couldn't write the state file {path}: {exc.strerror}") from None


def check_consistent(source: Source, old: SignedTree, new: SignedTree) -> None:
    """RFC 9162 §2.1.4: prove, from the (already recomputed) tiles, that ``new`` extends
    ``old``, and check that proof against both signed roots."""
    from tallylog.tlog import hashes

    reader = tile_reader(source, new)
    try:
        proof = hashes.prove_consistency(new.size, old.size, reader)
        hashes.check_consistency(proof, new.size, new.root, old.size, old.root)
    except hashes.VerificationError:
        raise AuditError(
            f"fork: the log at size {new.size} is not consistent with the checkpoint of size "
            f"{old.size} verified before (root {_b64(old.root)})"
        ) from None


def tile_reader(source: Source, tree: SignedTree) -> Any:
    """A ``tallylog.tlog`` hash reader over ``source``'s tiles for the signed ``tree``; it
    authenticates every tile it reads against the signed root (C2SP tlog-tiles)."""
    from tallylog.tlog import tiles

    return tiles.TileHashReader(tree.size, tree.root, SourceTiles(source))


class SourceTiles:
    """``source`` as a ``tallylog.tlog.tiles.TileReader``."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def read_tiles(self, tiles: Any) -> list[bytes]:
        from tallylog.tlog.tiles import tile_path as path

        return [self.source.read(path(t), TILE_WIDTH * 32) for t in tiles]


# --- prove -------------------------------------------------------------------------------


def inclusion(source: Source, tree: SignedTree, index: int, leaf: bytes) -> list[bytes]:
    """The RFC 9162 §2.1.3 inclusion proof of ``leaf`` at ``index``, read from the source's
    tiles and checked against the signed root."""
    from tallylog.tlog import hashes

    try:
        proof = list(hashes.prove_inclusion(tree.size, index, tile_reader(source, tree)))
        hashes.check_inclusion(proof, tree.size, tree.root, index, leaf)
    except hashes.VerificationError as exc:
        raise AuditError(
            f"the inclusion proof of entry {index} does not verify against the signed root: {exc}"
        ) from None
    return proof


def read_entry(source: Source, tree: SignedTree, index: int) -> bytes:
    """Entry ``index`` from its bundle (not yet authenticated: check its inclusion)."""
    if index >= tree.size:
        raise AuditError(f"there is no entry {index}: the checkpoint signs {tree.size} entries")
    b = index >> TILE_HEIGHT
    width = min(TILE_WIDTH, tree.size - (b << TILE_HEIGHT))
    return read_bundle(source, b, width)[index % TILE_WIDTH]


def proof_json(tree: SignedTree, index: int, leaf: bytes, proof: list[bytes]) -> dict[str, Any]:
    return {
        "index": index,
        "tree_size": tree.size,
        "root": _b64(tree.root),
        "leaf_hash": _b64(leaf),
        "proof": [_b64(h) for h in proof],
        "checkpoint": tree.note.decode(),
    }


def prove(location: str, verifier: Any, index: int) -> dict[str, Any]:
    """The inclusion proof of entry ``index`` against the current checkpoint, as JSON-ready
    data: index, tree_size, root, leaf_hash, proof (base64 hashes), checkpoint (the note)."""
    from tallylog.tlog.hashes import leaf_hash

    source = Source(location)
    tree = read_checkpoint(source, verifier)
    leaf = leaf_hash(read_entry(source, tree, index))
    return proof_json(tree, index, leaf, inclusion(source, tree, index, leaf))


# --- check-receipt -----------------------------------------------------------------------


def day_range(source: Source, day: str) -> tuple[int, int]:
    """``[start, end)`` of ``day`` in the public day index (``day-index.json``)."""
    import datetime

    try:
        datetime.date.fromisoformat(day)
    except ValueError:
        raise AuditError(f"--day {day!r} is not a date YYYY-MM-DD") from None
    where = source.where(DAY_INDEX_PATH)
    try:
        index = json.loads(source.read(DAY_INDEX_PATH, MAX_CHECKPOINT_BYTES))
        days = index["days"]
        for item in days:
            if item["day"] == day:
                start, end = item["start"], item["end"]
                if not (type(start) is int and type(end) is int and 0 <= start <= end):
                    raise ValueError(f"bad range for {day}")
                return start, end
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError(f"malformed file at {where}: {exc}") from None
    raise AuditError(f"the day index at {where} lists no entries on {day}")


class PrefetchedSource(Source):
    """A source that reads the same files whichever entry of ``[start, end)`` is being
    checked: up front, every hash tile above level 0 that an inclusion proof for any entry
    in the range could need (the range's tiles and their neighbours at each level); level-0
    tiles as the scan reaches them, each one (uniformly) once. ``pin`` keeps a tile that
    was read, so that the proof of the entry found reads nothing more from the server."""

    RECENT = 16

    def __init__(self, source: Source, size: int, start: int, end: int) -> None:
        self.__dict__.update(source.__getstate__())
        self.inner = source
        self.cache: dict[str, bytes] = {}
        self.recent: dict[str, bytes] = {}
        level, width = 1, size >> TILE_HEIGHT  # width: hashes stored at this level
        while width:
            lo = max(0, (start >> (TILE_HEIGHT * (level + 1))) - 1)
            hi = ((max(end, 1) - 1) >> (TILE_HEIGHT * (level + 1))) + 1
            for t in range(lo, min(hi, (width - 1) >> TILE_HEIGHT) + 1):
                w = min(TILE_WIDTH, width - (t << TILE_HEIGHT))
                path = tile_path(level, t, w)
                self.cache[path] = source.read(path, TILE_WIDTH * 32)
            level, width = level + 1, width >> TILE_HEIGHT

    def read(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        data = self.cache.get(path) or self.recent.get(path)
        if data is None:
            data = self.inner.read(path, limit)
            if len(data) <= TILE_WIDTH * 32:  # a hash tile, not a bundle
                if len(self.recent) >= self.RECENT:
                    self.recent.pop(next(iter(self.recent)))
                self.recent[path] = data
        return data

    def pin(self, path: str) -> None:
        """Keep the tile at ``path``, read earlier, for later reads."""
        self.cache[path] = self.read(path)


def find_receipt(
    location: str, verifier: Any, matches: Callable[[bytes], bool], *, day: str | None = None, progress: bool = False
) -> dict[str, Any]:
    """Find the entry for which ``matches`` (``tallylog.leaf.receipt_matcher``: v1 and v2
    leaves) is true among the source's entries (all, or those of ``day`` in the day
    index), locally, and verify its inclusion in the signed tree.

    Every bundle read is checked against the authenticated level-0 tiles, so "not found"
    means the signed log holds no such entry in that range.
    """
    from tallylog.leaf import parse_leaf
    from tallylog.tlog.hashes import leaf_hash

    source = Source(location)
    tree = read_checkpoint(source, verifier)
    start, end = day_range(source, day) if day else (0, tree.size)
    end = min(end, tree.size)
    if start >= end:
        raise AuditError(
            f"the signed log (size {tree.size}) holds no entries of {day} yet; try again later"
        )
    local = PrefetchedSource(source, tree.size, start, end)
    reader = tile_reader(local, tree)
    found: tuple[int, bytes] | None = None
    with _progress_bar(progress, end - start) as bar:
        for b in range(start >> TILE_HEIGHT, ((end - 1) >> TILE_HEIGHT) + 1):
            width = min(TILE_WIDTH, tree.size - (b << TILE_HEIGHT))
            entries = read_bundle(local, b, width)
            authenticate_bundle(local, reader, tree, b, entries)
            for i, data in enumerate(entries):
                index = (b << TILE_HEIGHT) + i
                if start <= index < end and matches(data):
                    found = (index, data)
                    local.pin(tile_path(0, b, width))
            bar(len(entries))
    if found is None:
        where = f"on {day} (entries {start} to {end - 1})" if day else f"among its {tree.size} entries"
        raise AuditError(
            f"no entry with this receipt code {where} in the signed log of size {tree.size}"
            + ("; the day index is not signed: try again without --day" if day else "")
        )
    index, data = found
    leaf = leaf_hash(data)
    result = proof_json(tree, index, leaf, inclusion(local, tree, index, leaf))
    result["entry"] = parse_leaf(data)
    return result


def authenticate_bundle(source: Source, reader: Any, tree: SignedTree, b: int, entries: list[bytes]) -> None:
    """Check a bundle's entries against the level-0 hashes the reader authenticates."""
    from tallylog.tlog import hashes

    first = b << TILE_HEIGHT
    want = reader.read_hashes([hashes.stored_hash_index(0, first + i) for i in range(len(entries))])
    for i, data in enumerate(entries):
        if hashes.leaf_hash(data) != want[i]:
            path = tile_path(-1, b, len(entries))
            raise AuditError(
                f"hash mismatch: entry {first + i} in {source.where(path)} is not the one "
                "the signed tree holds"
            )
